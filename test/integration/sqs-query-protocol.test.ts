/**
 * SQS through its query protocol (form-encoded Action=…, XML answers), spoken by a real client of that
 * generation: the AWS SDK for JavaScript v2 at 2.1490.0, the last release before it switched SQS to JSON
 * (older Node.js Lambda runtimes ship such a v2). Runs against whatever AWS_ENDPOINT_URL names.
 * Query API shapes: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/ (2012-11-05).
 */
import { createRequire } from "node:module";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { uniqueName } from "../support/names.js";

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = "1";
const require = createRequire(import.meta.url);
const AWS = require("aws-sdk") as typeof import("aws-sdk");

const sqs = new AWS.SQS({
  // SDK v2 does not read AWS_ENDPOINT_URL; the tests hand it over.
  endpoint: process.env.AWS_ENDPOINT_URL,
  region: process.env.AWS_REGION ?? "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
  },
});

const created: string[] = [];
afterAll(async () => {
  await Promise.allSettled(created.map((QueueUrl) => sqs.deleteQueue({ QueueUrl }).promise()));
});

async function createQueue(prefix: string, attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs
    .createQueue({ QueueName: uniqueName(prefix), Attributes: attributes })
    .promise();
  if (!QueueUrl) throw new Error("CreateQueue answered no QueueUrl");
  created.push(QueueUrl);
  return QueueUrl;
}

describe("SQS query protocol, AWS SDK for JavaScript v2 2.1490.0", () => {
  it("speaks the query protocol (the client this test uses is of that generation)", () => {
    expect((AWS as unknown as { VERSION: string }).VERSION).toBe("2.1490.0");
    expect((sqs as unknown as { api: { protocol: string } }).api.protocol).toBe("query");
  });

  it("creates a queue with attributes, finds it by name and lists it", async () => {
    const name = uniqueName("q2-create");
    const { QueueUrl } = await sqs
      .createQueue({ QueueName: name, Attributes: { VisibilityTimeout: "45", DelaySeconds: "0" } })
      .promise();
    if (QueueUrl) created.push(QueueUrl);
    expect(QueueUrl).toMatch(new RegExp(`/${name}$`));

    const { QueueUrl: found } = await sqs.getQueueUrl({ QueueName: name }).promise();
    expect(found).toBe(QueueUrl);
    const { QueueUrls } = await sqs.listQueues({ QueueNamePrefix: name }).promise();
    expect(QueueUrls).toEqual([QueueUrl]);
    const { Attributes } = await sqs
      .getQueueAttributes({ QueueUrl: QueueUrl as string, AttributeNames: ["VisibilityTimeout", "QueueArn"] })
      .promise();
    expect(Attributes?.VisibilityTimeout).toBe("45");
    expect(Attributes?.QueueArn).toMatch(new RegExp(`:${name}$`));
  });

  it("sends a message with attributes and receives body, system and message attributes (MD5s checked by the SDK)", async () => {
    const QueueUrl = await createQueue("q2-send");
    const body = 'line one\r\nline two <&> "quoted" ünïcødé';
    const sent = await sqs
      .sendMessage({
        QueueUrl,
        MessageBody: body,
        MessageAttributes: {
          kind: { DataType: "String", StringValue: "order.created" },
          total: { DataType: "Number", StringValue: "42" },
          blob: { DataType: "Binary", BinaryValue: Buffer.from([0, 1, 2, 255]) },
        },
      })
      .promise();
    expect(sent.MessageId).toBeTruthy();
    expect(sent.MD5OfMessageBody).toBeTruthy();
    expect(sent.MD5OfMessageAttributes).toBeTruthy();

    const { Messages = [] } = await sqs
      .receiveMessage({
        QueueUrl,
        AttributeNames: ["All"],
        MessageAttributeNames: ["All"],
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      })
      .promise();
    expect(Messages).toHaveLength(1);
    const [message] = Messages;
    expect(message?.MessageId).toBe(sent.MessageId);
    expect(message?.Body).toBe(body);
    expect(message?.Attributes?.ApproximateReceiveCount).toBe("1");
    expect(message?.Attributes?.SentTimestamp).toMatch(/^\d+$/);
    expect(message?.MessageAttributes?.kind).toMatchObject({
      DataType: "String",
      StringValue: "order.created",
    });
    expect(message?.MessageAttributes?.total).toMatchObject({ DataType: "Number", StringValue: "42" });
    expect(Buffer.from(message?.MessageAttributes?.blob?.BinaryValue as Uint8Array)).toEqual(
      Buffer.from([0, 1, 2, 255]),
    );

    await sqs.deleteMessage({ QueueUrl, ReceiptHandle: message?.ReceiptHandle as string }).promise();
    const after = await sqs.receiveMessage({ QueueUrl, WaitTimeSeconds: 0 }).promise();
    expect(after.Messages ?? []).toEqual([]);
  });

  it("sends and deletes in batches, reporting each entry by its id", async () => {
    const QueueUrl = await createQueue("q2-batch");
    const { Successful, Failed } = await sqs
      .sendMessageBatch({
        QueueUrl,
        Entries: [
          {
            Id: "a",
            MessageBody: "first",
            MessageAttributes: { n: { DataType: "Number", StringValue: "1" } },
          },
          { Id: "b", MessageBody: "second", DelaySeconds: 0 },
        ],
      })
      .promise();
    expect(Failed).toEqual([]);
    expect(Successful.map((entry) => entry.Id).sort()).toEqual(["a", "b"]);

    const received = await eventually("both batch messages", async () => {
      const { Messages = [] } = await sqs
        .receiveMessage({
          QueueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ["All"],
          WaitTimeSeconds: 1,
        })
        .promise();
      return Messages.length === 2 ? Messages : undefined;
    });
    expect(received.map((message) => message.Body).sort()).toEqual(["first", "second"]);
    expect(received.find((message) => message.Body === "first")?.MessageAttributes?.n?.StringValue).toBe("1");

    const deleted = await sqs
      .deleteMessageBatch({
        QueueUrl,
        Entries: received.map((message, index) => ({
          Id: `d${index}`,
          ReceiptHandle: message.ReceiptHandle as string,
        })),
      })
      .promise();
    expect(deleted.Failed).toEqual([]);
    expect(deleted.Successful.map((entry) => entry.Id).sort()).toEqual(["d0", "d1"]);
  });

  it("changes a message's visibility so that it is received again at once", async () => {
    const QueueUrl = await createQueue("q2-visibility", { VisibilityTimeout: "60" });
    await sqs.sendMessage({ QueueUrl, MessageBody: "retry me" }).promise();
    const first = await sqs
      .receiveMessage({ QueueUrl, WaitTimeSeconds: 1, AttributeNames: ["All"] })
      .promise();
    const handle = first.Messages?.[0]?.ReceiptHandle as string;
    expect(handle).toBeTruthy();

    await sqs.changeMessageVisibility({ QueueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }).promise();
    const again = await eventually("the message visible again", async () => {
      const { Messages = [] } = await sqs
        .receiveMessage({ QueueUrl, WaitTimeSeconds: 1, AttributeNames: ["All"] })
        .promise();
      return Messages[0];
    });
    expect(again.Body).toBe("retry me");
    expect(again.Attributes?.ApproximateReceiveCount).toBe("2");
  });

  it("sets queue attributes and purges a queue", async () => {
    const QueueUrl = await createQueue("q2-attributes");
    await sqs
      .setQueueAttributes({ QueueUrl, Attributes: { VisibilityTimeout: "7", DelaySeconds: "0" } })
      .promise();
    const { Attributes } = await sqs.getQueueAttributes({ QueueUrl, AttributeNames: ["All"] }).promise();
    expect(Attributes?.VisibilityTimeout).toBe("7");

    await sqs.sendMessage({ QueueUrl, MessageBody: "to be purged" }).promise();
    await sqs.purgeQueue({ QueueUrl }).promise();
    const { Messages = [] } = await sqs.receiveMessage({ QueueUrl, WaitTimeSeconds: 1 }).promise();
    expect(Messages).toEqual([]);
  });

  it("deletes a queue, after which its URL names no queue", async () => {
    const name = uniqueName("q2-delete");
    const { QueueUrl } = await sqs.createQueue({ QueueName: name }).promise();
    await sqs.deleteQueue({ QueueUrl: QueueUrl as string }).promise();
    await eventually("the queue gone", async () => {
      const { QueueUrls = [] } = await sqs.listQueues({ QueueNamePrefix: name }).promise();
      return QueueUrls.length === 0 ? true : undefined;
    });
  });

  it("answers errors in the query XML shape, with SQS's query error codes", async () => {
    const error = (await sqs
      .getQueueUrl({ QueueName: uniqueName("q2-missing") })
      .promise()
      .catch((caught: unknown) => caught)) as { code?: string; statusCode?: number; message?: string };
    // The v2 SDK reads `code` from <Error><Code> of the XML answer.
    expect(error.code).toBe("AWS.SimpleQueueService.NonExistentQueue");
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/queue/i);
  });
});
