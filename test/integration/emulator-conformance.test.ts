/**
 * What the product relies on from whatever answers at AWS_ENDPOINT_URL: the embedded local cloud,
 * LocalStack, or AWS itself. Plain AWS SDK v3 only; every resource is uniquely named and deleted after.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand as DescribeTableStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand as GetStreamRecordsCommand,
  GetShardIteratorCommand as GetStreamShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { PublishBatchCommand, PublishCommand, SetTopicAttributesCommand } from "@aws-sdk/client-sns";
import { ChangeMessageVisibilityCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { uniqueName } from "../support/names.js";
import {
  Cleanup,
  createQueue,
  createStream,
  createTopic,
  drain,
  kinesis,
  receiveOne,
  sns,
  sqs,
  subscribeQueue,
} from "../support/resources.js";

const dynamodb = new DynamoDBClient({});
const dynamodbStreams = new DynamoDBStreamsClient({});

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

describe("SNS fan-out to SQS", () => {
  it("delivers raw messages to every subscribed queue, and only matching ones through a filter policy", async () => {
    const topicArn = await createTopic(cleanup, "conf-fanout");
    const everything = await createQueue(cleanup, "conf-all");
    const shippedOnly = await createQueue(cleanup, "conf-shipped");
    await subscribeQueue(topicArn, everything, { RawMessageDelivery: "true" });
    await subscribeQueue(topicArn, shippedOnly, {
      RawMessageDelivery: "true",
      FilterPolicy: JSON.stringify({ type: ["order.shipped"] }),
    });

    const publish = (type: string, body: string) =>
      sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: body,
          MessageAttributes: { type: { DataType: "String", StringValue: type } },
        }),
      );
    await publish("order.created", '{"order":"o-1","step":"created"}');
    await publish("order.shipped", '{"order":"o-1","step":"shipped"}');

    const all = await drain(everything.url, 2);
    expect(all.map((message) => message.Body).sort()).toEqual([
      '{"order":"o-1","step":"created"}',
      '{"order":"o-1","step":"shipped"}',
    ]);
    const [shipped] = await drain(shippedOnly.url, 1);
    expect(shipped?.Body).toBe('{"order":"o-1","step":"shipped"}');
    expect(await receiveOne(shippedOnly.url, 1)).toBeUndefined();
  });

  it("filters on the message body when the filter policy scope is MessageBody", async () => {
    const topicArn = await createTopic(cleanup, "conf-body-filter");
    const queue = await createQueue(cleanup, "conf-big-orders");
    await subscribeQueue(topicArn, queue, {
      RawMessageDelivery: "true",
      FilterPolicyScope: "MessageBody",
      FilterPolicy: JSON.stringify({ payload: { total: [{ numeric: [">=", 100] }] } }),
    });

    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"payload":{"total":5}}' }));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"payload":{"total":250}}' }));

    const [big] = await drain(queue.url, 1);
    expect(big?.Body).toBe('{"payload":{"total":250}}');
    expect(await receiveOne(queue.url, 1)).toBeUndefined();
  });

  it("keeps order per message group and drops a repeated deduplication id, FIFO topic to FIFO queue", async () => {
    const topicArn = await createTopic(cleanup, "conf-orders", true);
    const queue = await createQueue(cleanup, "conf-ordered", { FifoQueue: "true" });
    await subscribeQueue(topicArn, queue, { RawMessageDelivery: "true" });

    const publish = (group: string, id: string) =>
      sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: JSON.stringify({ group, id }),
          MessageGroupId: group,
          MessageDeduplicationId: id,
        }),
      );
    await publish("customer-1", "m1");
    await publish("customer-2", "m2");
    await publish("customer-1", "m3");
    await publish("customer-1", "m1"); // a producer retry: same deduplication id
    await publish("customer-1", "m4");

    const received = await drain(queue.url, 4);
    const ids = (group: string) =>
      received.map((message) => JSON.parse(message.Body ?? "{}")).filter((body) => body.group === group);
    expect(ids("customer-1").map((body) => body.id)).toEqual(["m1", "m3", "m4"]);
    expect(ids("customer-2").map((body) => body.id)).toEqual(["m2"]);
    expect(received.every((message) => message.Attributes?.MessageGroupId !== undefined)).toBe(true);
    expect(await receiveOne(queue.url, 1)).toBeUndefined();
  });
});

describe("SNS as AWS behaves where apps can see it", () => {
  // https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html
  it("drops a repeated body on a FIFO topic with content-based deduplication, for every subscriber", async () => {
    const topicArn = await createTopic(cleanup, "conf-cbd", true);
    await sns.send(
      new SetTopicAttributesCommand({
        TopicArn: topicArn,
        AttributeName: "ContentBasedDeduplication",
        AttributeValue: "true",
      }),
    );
    const ordered = await createQueue(cleanup, "conf-cbd", { FifoQueue: "true" });
    // SNS FIFO topics deliver to standard queues too; the topic, not the queue, drops the duplicate.
    const standard = await createQueue(cleanup, "conf-cbd-std");
    await subscribeQueue(topicArn, ordered, { RawMessageDelivery: "true" });
    await subscribeQueue(topicArn, standard, { RawMessageDelivery: "true" });

    const publish = (body: string) =>
      sns.send(new PublishCommand({ TopicArn: topicArn, Message: body, MessageGroupId: "g" }));
    await publish('{"order":"o-1"}');
    await publish('{"order":"o-1"}'); // a producer retry without a deduplication id
    await publish('{"order":"o-2"}');

    const received = await drain(ordered.url, 2);
    expect(received.map((message) => message.Body)).toEqual(['{"order":"o-1"}', '{"order":"o-2"}']);
    expect(await receiveOne(ordered.url, 1)).toBeUndefined();
    const unordered = await drain(standard.url, 2);
    expect(unordered.map((message) => message.Body).sort()).toEqual(['{"order":"o-1"}', '{"order":"o-2"}']);
    expect(await receiveOne(standard.url, 1)).toBeUndefined();
  });

  // https://docs.aws.amazon.com/sns/latest/dg/example-filter-policies.html: an array value in the message
  // matches a policy when any of its elements does.
  it("matches a body filter policy against any element of an array in the body", async () => {
    const topicArn = await createTopic(cleanup, "conf-array-filter");
    const queue = await createQueue(cleanup, "conf-urgent");
    await subscribeQueue(topicArn, queue, {
      RawMessageDelivery: "true",
      FilterPolicyScope: "MessageBody",
      FilterPolicy: JSON.stringify({ tags: ["urgent"] }),
    });

    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"tags":["low","later"]}' }));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"tags":["billing","urgent"]}' }));

    const [matched] = await drain(queue.url, 1);
    expect(matched?.Body).toBe('{"tags":["billing","urgent"]}');
    expect(await receiveOne(queue.url, 1)).toBeUndefined();
  });

  // https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html: the notification's Subject
  // is the one the publisher gave; AWS sends no Subject key (not null) when none was given.
  it("leaves Subject out of the notification when none was published, and carries it when one was", async () => {
    const topicArn = await createTopic(cleanup, "conf-subject");
    const queue = await createQueue(cleanup, "conf-envelopes");
    await subscribeQueue(topicArn, queue, {});

    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: "no subject" }));
    await sns.send(
      new PublishCommand({ TopicArn: topicArn, Message: "with subject", Subject: "Order shipped" }),
    );

    const envelopes = (await drain(queue.url, 2)).map((message) => JSON.parse(message.Body ?? "{}"));
    const bare = envelopes.find((envelope) => envelope.Message === "no subject");
    const titled = envelopes.find((envelope) => envelope.Message === "with subject");
    expect(bare).toMatchObject({ Type: "Notification", TopicArn: topicArn });
    expect(Object.hasOwn(bare, "Subject")).toBe(false);
    expect(titled?.Subject).toBe("Order shipped");
  });

  // https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (Subject: under 100 characters, no line
  // breaks or control characters); API_PublishBatch.html (at most 10 entries)
  it("refuses a subject over 100 characters or with a line break, and a batch of more than 10", async () => {
    const topicArn = await createTopic(cleanup, "conf-limits");
    const publish = (Subject: string) =>
      sns
        .send(new PublishCommand({ TopicArn: topicArn, Message: "m", Subject }))
        .catch((error: unknown) => error);

    expect(await publish("s".repeat(100))).toMatchObject({ MessageId: expect.any(String) });
    expect(await publish("s".repeat(101))).toMatchObject({ name: "InvalidParameterException" });
    expect(await publish("two\nlines")).toMatchObject({ name: "InvalidParameterException" });

    const tooMany = await sns
      .send(
        new PublishBatchCommand({
          TopicArn: topicArn,
          PublishBatchRequestEntries: Array.from({ length: 11 }, (_, index) => ({
            Id: `e${index}`,
            Message: "m",
          })),
        }),
      )
      .catch((error: unknown) => error);
    expect(tooMany).toMatchObject({ name: "TooManyEntriesInBatchRequestException" });
  });
});

describe("SQS redrive", () => {
  it("moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
    const dlq = await createQueue(cleanup, "conf-dlq");
    const queue = await createQueue(cleanup, "conf-work", {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: "poison" }));

    for (let attempt = 1; attempt <= 2; attempt++) {
      const message = await eventually(`receive #${attempt}`, () => receiveOne(queue.url, 1));
      expect(message.Attributes?.ApproximateReceiveCount).toBe(String(attempt));
      // A failed attempt: make it visible again at once instead of waiting out the visibility timeout.
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queue.url,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }

    const deadLetter = await eventually("the message on the DLQ", async () => {
      expect(await receiveOne(queue.url, 1)).toBeUndefined();
      return receiveOne(dlq.url, 1);
    });
    expect(deadLetter.Body).toBe("poison");
  });
});

describe("Kinesis", () => {
  it("spreads partition keys over shards and returns each shard's records in order", async () => {
    const { streamName, shardIds } = await createStream(cleanup, "conf-stream", 2);

    const records = Array.from({ length: 120 }, (_, index) => ({
      key: `customer-${index % 24}`,
      sequence: Math.floor(index / 24),
    }));
    const { FailedRecordCount, Records } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: records.map((record) => ({
          PartitionKey: record.key,
          Data: Buffer.from(JSON.stringify(record)),
        })),
      }),
    );
    expect(FailedRecordCount ?? 0).toBe(0);
    expect(new Set(Records?.map((record) => record.ShardId)).size).toBe(2);

    expect(shardIds).toHaveLength(2);
    const read: Array<{ key: string; sequence: number }> = [];
    for (const shardId of shardIds) {
      const { ShardIterator } = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: "TRIM_HORIZON",
        }),
      );
      const { Records: shardRecords = [] } = await kinesis.send(
        new GetRecordsCommand({ ShardIterator, Limit: 1000 }),
      );
      const sequenceNumbers = shardRecords.map((record) => BigInt(record.SequenceNumber ?? "0"));
      expect(sequenceNumbers).toEqual([...sequenceNumbers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      read.push(...shardRecords.map((record) => JSON.parse(Buffer.from(record.Data ?? []).toString())));
    }

    expect(read).toHaveLength(records.length);
    for (const key of new Set(records.map((record) => record.key))) {
      const sequences = read.filter((record) => record.key === key).map((record) => record.sequence);
      expect(sequences, `order of ${key}`).toEqual([0, 1, 2, 3, 4]);
    }
  });
});

describe("DynamoDB", () => {
  async function createTable() {
    const tableName = uniqueName("conf-table");
    const { TableDescription } = await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
        StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
      }),
    );
    cleanup.add(() => dynamodb.send(new DeleteTableCommand({ TableName: tableName })));
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60, minDelay: 1 }, { TableName: tableName });
    return { tableName, streamArn: TableDescription?.LatestStreamArn };
  }

  it("rejects a conditional put on an existing key and returns the existing item", async () => {
    const { tableName } = await createTable();
    const claim = (owner: string) =>
      dynamodb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { pk: { S: "message-1" }, owner: { S: owner } },
          ConditionExpression: "attribute_not_exists(pk)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
    await claim("worker-a");

    const rejection = await claim("worker-b").catch((error: unknown) => error);
    expect(rejection).toMatchObject({
      name: "ConditionalCheckFailedException",
      Item: { pk: { S: "message-1" }, owner: { S: "worker-a" } },
    });
  });

  it("cancels a transaction and says which action failed and why", async () => {
    const { tableName } = await createTable();
    await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: "taken" } } }));

    const rejection = await dynamodb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: tableName, Item: { pk: { S: "fresh" } } } },
            {
              Put: {
                TableName: tableName,
                Item: { pk: { S: "taken" } },
                ConditionExpression: "attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure: "ALL_OLD",
              },
            },
          ],
        }),
      )
      .catch((error: unknown) => error);

    expect(rejection).toMatchObject({
      name: "TransactionCanceledException",
      CancellationReasons: [
        { Code: "None" },
        { Code: "ConditionalCheckFailed", Item: { pk: { S: "taken" } } },
      ],
    });
  });

  it("records each write on the table's stream", async () => {
    const { tableName, streamArn } = await createTable();
    expect(streamArn).toBeDefined();
    await dynamodb.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: "o-1" }, total: { N: "42" } } }),
    );

    const records = await eventually("a stream record", async () => {
      const { StreamDescription } = await dynamodbStreams.send(
        new DescribeTableStreamCommand({ StreamArn: streamArn }),
      );
      const found = [];
      for (const shard of StreamDescription?.Shards ?? []) {
        const { ShardIterator } = await dynamodbStreams.send(
          new GetStreamShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: "TRIM_HORIZON",
          }),
        );
        const { Records = [] } = await dynamodbStreams.send(new GetStreamRecordsCommand({ ShardIterator }));
        found.push(...Records);
      }
      return found.length > 0 ? found : undefined;
    });
    expect(records[0]).toMatchObject({
      eventName: "INSERT",
      dynamodb: { Keys: { pk: { S: "o-1" } }, NewImage: { pk: { S: "o-1" }, total: { N: "42" } } },
    });
  });
});
