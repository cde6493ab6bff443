/**
 * Plain-SDK helpers that create uniquely named resources on whatever AWS_ENDPOINT_URL points at and
 * register their deletion, so that suites can share one cloud (and run against LocalStack or AWS).
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { CreateTopicCommand, DeleteTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { eventually } from "./eventually.js";
import { uniqueName } from "./names.js";

export const sns = new SNSClient({});
export const sqs = new SQSClient({});
export const kinesis = new KinesisClient({});

export interface Queue {
  readonly url: string;
  readonly arn: string;
}

/** Collects clean-ups; call `run` in afterAll. */
export class Cleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];
  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    await Promise.allSettled(
      this.steps
        .splice(0)
        .reverse()
        .map((step) => step()),
    );
  }
}

export async function createQueue(
  cleanup: Cleanup,
  prefix: string,
  attributes: Record<string, string> = {},
): Promise<Queue> {
  const fifo = attributes.FifoQueue === "true";
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: uniqueName(prefix, fifo ? ".fifo" : ""), Attributes: attributes }),
  );
  if (!QueueUrl) throw new Error(`CreateQueue returned no URL for ${prefix}`);
  cleanup.add(() => sqs.send(new DeleteQueueCommand({ QueueUrl })));
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  return { url: QueueUrl, arn: Attributes?.QueueArn as string };
}

export async function createTopic(cleanup: Cleanup, prefix: string, fifo = false): Promise<string> {
  const { TopicArn } = await sns.send(
    new CreateTopicCommand({
      Name: uniqueName(prefix, fifo ? ".fifo" : ""),
      Attributes: fifo ? { FifoTopic: "true" } : {},
    }),
  );
  if (!TopicArn) throw new Error(`CreateTopic returned no ARN for ${prefix}`);
  cleanup.add(() => sns.send(new DeleteTopicCommand({ TopicArn })));
  return TopicArn;
}

/** Subscribes a queue to a topic, with the queue policy real SNS needs to deliver. */
export async function subscribeQueue(
  topicArn: string,
  queue: Queue,
  attributes: Record<string, string>,
): Promise<void> {
  const policy = {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queue.arn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
      },
    ],
  };
  await sqs.send(
    new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }),
  );
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: "sqs",
      Endpoint: queue.arn,
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
  );
}

export async function receive(queueUrl: string, { max = 10, waitSeconds = 1 } = {}): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: waitSeconds,
      MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"],
    }),
  );
  return Messages;
}

export async function receiveOne(queueUrl: string, waitSeconds = 2): Promise<Message | undefined> {
  return (await receive(queueUrl, { max: 1, waitSeconds }))[0];
}

export async function deleteMessages(queueUrl: string, messages: readonly Message[]): Promise<void> {
  await Promise.all(
    messages.map((message) =>
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle })),
    ),
  );
}

/** Receives (and deletes) until `expected` messages have arrived. */
export async function drain(queueUrl: string, expected: number, timeoutMs = 15_000): Promise<Message[]> {
  const received: Message[] = [];
  await eventually(
    `${expected} messages on ${queueUrl}`,
    async () => {
      const messages = await receive(queueUrl);
      received.push(...messages);
      await deleteMessages(queueUrl, messages);
      return received.length >= expected ? received : undefined;
    },
    { timeoutMs },
  );
  return received;
}

export async function createStream(cleanup: Cleanup, prefix: string, shardCount: number) {
  const streamName = uniqueName(prefix);
  await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  cleanup.add(() => kinesis.send(new DeleteStreamCommand({ StreamName: streamName })));
  const summary = await eventually("the stream to become ACTIVE", async () => {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    return StreamDescriptionSummary?.StreamStatus === "ACTIVE" ? StreamDescriptionSummary : undefined;
  });
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  return {
    streamName,
    streamArn: summary.StreamARN as string,
    shardIds: Shards.map((shard) => shard.ShardId as string),
  };
}

export const dynamodb = new DynamoDBClient({});

/** An on-demand table keyed by one string attribute, deleted by `cleanup.run()`; ready when this resolves. */
export async function createTable(
  cleanup: Cleanup,
  prefix: string,
  { partitionKey = "pk", stream = false }: { partitionKey?: string; stream?: boolean } = {},
) {
  const tableName = uniqueName(prefix);
  const { TableDescription } = await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: "S" }],
      KeySchema: [{ AttributeName: partitionKey, KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
      ...(stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_IMAGE" } } : {}),
    }),
  );
  cleanup.add(() => dynamodb.send(new DeleteTableCommand({ TableName: tableName })));
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60, minDelay: 1 }, { TableName: tableName });
  return { tableName, streamArn: TableDescription?.LatestStreamArn };
}

/** A table shaped like the DedupTable construct's (key and TTL from the runtime's constants). */
export async function createDedupTable(cleanup: Cleanup, prefix: string, { stream = false } = {}) {
  const table = await createTable(cleanup, prefix, { partitionKey: DEDUP_TABLE.partitionKey, stream });
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: table.tableName,
      TimeToLiveSpecification: { AttributeName: DEDUP_TABLE.timeToLiveAttribute, Enabled: true },
    }),
  );
  return table;
}

/** Counts the commands a client sends (retries not included), by name: what a call costs. */
export function countRequests(client: {
  middlewareStack: { add: (...args: never[]) => void };
}): Map<string, number> {
  const counts = new Map<string, number>();
  (
    client.middlewareStack as unknown as {
      add: (middleware: unknown, options: { step: string; name: string }) => void;
    }
  ).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: unknown) => {
        counts.set(context.commandName ?? "?", (counts.get(context.commandName ?? "?") ?? 0) + 1);
        return next(args);
      },
    { step: "initialize", name: `countRequests-${Math.random()}` },
  );
  return counts;
}

export const total = (counts: Map<string, number>) =>
  [...counts.values()].reduce((sum, count) => sum + count, 0);
