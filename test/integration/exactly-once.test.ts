/**
 * Exactly-once processing against a real DynamoDB (DynamoDB Local, LocalStack or AWS): claims, leases,
 * the crash window of plain mode and its absence in transactional mode, checkpoints, the outbox.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import type { Context } from "aws-lambda";
import { afterAll, describe, expect, it } from "vitest";
import { toDynamoDbRecord } from "../../infra/local/runner/lambda-event-shapes.js";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../lambdas/runtime/dedup/dedup-guard.js";
import { DynamoDbDedupStore } from "../../lambdas/runtime/dedup/dynamodb-dedup-store.js";
import type { MessageEnvelope } from "../../lambdas/runtime/envelope.js";
import { TransactionCancelledError } from "../../lambdas/runtime/errors.js";
import { outboxRelay } from "../../lambdas/runtime/outbox/outbox-relay.js";
import { eventually } from "../support/eventually.js";
import { envelopeBody, kinesisEvent, kinesisRecord, sqsEvent, sqsRecord } from "../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../support/recording.js";
import {
  Cleanup,
  countRequests,
  createDedupTable,
  createQueue,
  createTopic,
  drain,
  subscribeQueue,
  total,
} from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

class Clock {
  ms = Date.now();
  readonly now = () => this.ms;
  advance(ms: number) {
    this.ms += ms;
  }
}

const lambdaContext = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs }) as Context;
const never = () => new Promise<void>(() => undefined);
const order = (id: string, n = 1) =>
  sqsRecord({ messageId: `sqs-${id}-${Math.random()}`, body: envelopeBody({ id, payload: { n } }) });

/** A consumer whose handler writes one side-effect row to `effectsTable`, in the transaction when there is one. */
function effectWorker(options: {
  tableName: string;
  effectsTable: string;
  mode: "plain" | "transactional";
  clock: Clock;
  client?: DynamoDBClient;
  beforeEffect?: () => Promise<void>;
  afterEffect?: () => Promise<void>;
}) {
  const client = options.client ?? new DynamoDBClient({});
  const handler = sqsConsumer<{ n: number }>({
    group: "billing",
    observer: new RecordingObserver(),
    deadLetterSink: new RecordingDeadLetters(),
    dedup: dynamoDbDedup({
      tableName: options.tableName,
      client,
      mode: options.mode,
      now: options.clock.now,
    }),
    handler: async (message, context) => {
      await options.beforeEffect?.();
      const effect = {
        TableName: options.effectsTable,
        Item: {
          [DEDUP_TABLE.partitionKey]: { S: `effect#${message.id}#${Math.random()}` },
          messageId: { S: message.id },
        },
      };
      if (context.transaction) context.transaction.write({ Put: effect });
      else await client.send(new PutItemCommand(effect));
      await options.afterEffect?.();
    },
  });
  return { handler, client };
}

async function effectsOf(effectsTable: string, messageId: string): Promise<number> {
  const { Items = [] } = await new DynamoDBClient({}).send(
    new ScanCommand({
      TableName: effectsTable,
      FilterExpression: "messageId = :id",
      ExpressionAttributeValues: { ":id": { S: messageId } },
    }),
  );
  return Items.length;
}

describe("dynamoDbDedup on DynamoDB", () => {
  it("lets exactly one of two workers claiming the same message at the same instant run it", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-race");
    const ran: string[] = [];
    const workers = ["a", "b"].map((name) =>
      sqsConsumer({
        group: "billing",
        observer: new RecordingObserver(),
        dedup: dynamoDbDedup({ tableName }),
        handler: async () => {
          ran.push(name);
          await new Promise((resolve) => setTimeout(resolve, 50));
        },
      }),
    );
    const record = order("race-1");
    const responses = await Promise.all(
      workers.map((handler) => handler(sqsEvent(record), lambdaContext(30_000))),
    );

    expect(ran).toHaveLength(1);
    // The loser is told to retry later (a batch failure), not an error.
    expect(responses.flatMap((response) => response.batchItemFailures)).toEqual([
      { itemIdentifier: record.messageId },
    ]);
  });

  it("skips a completed message, and keeps its record with a TTL covering the redelivery window", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-completed");
    const client = new DynamoDBClient({});
    let runs = 0;
    const handler = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      dedup: dynamoDbDedup({ tableName, client, retentionSeconds: 7 * 86_400 }),
      handler: () => {
        runs++;
      },
    });
    await handler(sqsEvent(order("done-1")));
    await handler(sqsEvent(order("done-1")));

    expect(runs).toBe(1);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: "billing#done-1" } } }),
    );
    expect(Item?.status?.S).toBe("COMPLETED");
    const expiresAt = Number(Item?.[DEDUP_TABLE.timeToLiveAttribute]?.N);
    expect(expiresAt - Math.floor(Date.now() / 1000)).toBeGreaterThan(7 * 86_400 - 60);
  });

  it("costs 1.1 requests per new message on a batch of 10, and 1 per duplicate", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-cost");
    const client = new DynamoDBClient({});
    const requests = countRequests(client);
    const handler = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      dedup: dynamoDbDedup({ tableName, client, prefilter: "never" }),
      handler: () => undefined,
    });
    const batch = () => sqsEvent(...Array.from({ length: 10 }, (_, index) => order(`cost-${index}`)));

    await handler(batch());
    expect(total(requests)).toBe(11);
    await handler(batch());
    expect(total(requests) - 11).toBe(10);
  });

  it("answers a duplicate storm with 0.1 requests per message: one consistent BatchGetItem per batch of 10", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-storm");
    const client = new DynamoDBClient({});
    const requests = countRequests(client);
    const ran: string[] = [];
    const consumer = () =>
      sqsConsumer({
        group: "billing",
        observer: new RecordingObserver(),
        dedup: dynamoDbDedup({ tableName, client }),
        handler: (message: MessageEnvelope) => {
          ran.push(message.id);
        },
      });
    const ids = Array.from({ length: 10 }, (_, index) => `storm-${index}`);
    const delivery = (receiveCount: number) =>
      sqsEvent(
        ...ids.map((id) =>
          sqsRecord({ messageId: `sqs-${id}`, receiveCount, body: envelopeBody({ id, payload: { n: 1 } }) }),
        ),
      );
    await consumer()(delivery(1));
    const afterFirst = total(requests);

    // Redelivered (their visibility ran out before the deletes), to a fresh environment: 5 batches.
    const cold = consumer();
    for (let round = 0; round < 5; round++) await cold(delivery(2));

    expect(ran.sort()).toEqual([...ids].sort());
    expect(requests.get("BatchGetItemCommand")).toBe(5);
    expect((total(requests) - afterFirst) / 50).toBe(0.1);
  });

  it("dead-letters a reused id with different content", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-mismatch");
    const deadLetters = new RecordingDeadLetters();
    const handler = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: dynamoDbDedup({ tableName }),
      handler: () => undefined,
    });
    await handler(sqsEvent(order("same-id", 1)));
    await handler(sqsEvent(order("same-id", 2)));

    expect(deadLetters.letters.map((letter) => letter.reason)).toEqual(["payload-mismatch"]);
  });

  it("takes a crashed worker's claim over only after its lease ends", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-lease");
    const clock = new Clock();
    const { tableName: effectsTable } = await createDedupTable(cleanup, "eo-lease-effects");
    const crashed = effectWorker({ tableName, effectsTable, mode: "plain", clock, beforeEffect: never });
    const takeover = effectWorker({ tableName, effectsTable, mode: "plain", clock });
    const record = order("lease-1");
    void crashed.handler(sqsEvent(record), lambdaContext(20_000));
    await new Promise((resolve) => setTimeout(resolve, 300));

    clock.advance(15_000);
    expect((await takeover.handler(sqsEvent(record))).batchItemFailures).toHaveLength(1);
    clock.advance(10_000);
    expect((await takeover.handler(sqsEvent(record))).batchItemFailures).toEqual([]);
    expect(await effectsOf(effectsTable, "lease-1")).toBe(1);
  });

  it("lets only the same content take over a crashed worker's claim: other content reusing the id is a payload mismatch", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-lease-content");
    const clock = new Clock();
    const client = new DynamoDBClient({});
    const deadLetters = new RecordingDeadLetters();
    const ran: number[] = [];
    const consumer = (handler: (message: MessageEnvelope<{ n: number }>) => Promise<void> | void) =>
      sqsConsumer<{ n: number }>({
        group: "billing",
        observer: new RecordingObserver(),
        deadLetterSink: deadLetters,
        dedup: dynamoDbDedup({ tableName, client, now: clock.now }),
        handler,
      });
    // A worker claims reuse-1 (n = 1), has its side effect and dies: its claim stays until its lease ends.
    void consumer(never)(sqsEvent(order("reuse-1", 1)), lambdaContext(10_000));
    await eventually("the dying worker's claim", async () => {
      const { Item } = await client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { [DEDUP_TABLE.partitionKey]: { S: "billing#reuse-1" } },
        }),
      );
      return Item;
    });
    clock.advance(11_000);

    const survivor = consumer((message) => {
      ran.push(message.payload.n);
    });
    expect((await survivor(sqsEvent(order("reuse-1", 2)))).batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.reason)).toEqual(["payload-mismatch"]);
    expect((await survivor(sqsEvent(order("reuse-1", 1)))).batchItemFailures).toEqual([]);
    expect(ran).toEqual([1]);
  });

  describe("a worker dying between its side effect and its completion", () => {
    async function crashAfterEffect(mode: "plain" | "transactional") {
      const { tableName } = await createDedupTable(cleanup, `eo-crash-${mode}`);
      const { tableName: effectsTable } = await createDedupTable(cleanup, `eo-crash-${mode}-effects`);
      const clock = new Clock();
      let resume: () => void = () => undefined;
      const dying = effectWorker({
        tableName,
        effectsTable,
        mode,
        clock,
        afterEffect: () => new Promise<void>((resolve) => (resume = resolve)),
      });
      const survivor = effectWorker({ tableName, effectsTable, mode, clock });
      const record = order(`crash-${mode}`);

      const zombie = dying.handler(sqsEvent(record), lambdaContext(10_000));
      await new Promise((resolve) => setTimeout(resolve, 300));
      clock.advance(11_000); // its lease runs out; SQS redelivers
      expect((await survivor.handler(sqsEvent(record))).batchItemFailures).toEqual([]);
      resume(); // the "dead" worker was only frozen, and carries on
      await zombie;
      return effectsOf(effectsTable, `crash-${mode}`);
    }

    it("runs the side effect twice in plain mode: the documented at-least-once window", async () => {
      expect(await crashAfterEffect("plain")).toBe(2);
    });

    it("runs it exactly once in transactional mode: the frozen worker's commit is refused", async () => {
      expect(await crashAfterEffect("transactional")).toBe(1);
    });
  });

  it("surfaces which action cancelled a transaction, and why", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-cancel");
    const client = new DynamoDBClient({});
    await client.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: "stock#sku-1" }, units: { N: "0" } } }),
    );
    const observer = new RecordingObserver();
    let failure: unknown;
    const handler = sqsConsumer({
      group: "billing",
      observer: {
        ...observer,
        recordFailed: (event) => {
          failure = event.error;
        },
        recordDeadLettered: () => undefined,
        deadLetterFailed: () => undefined,
        batchCompleted: () => undefined,
      },
      dedup: dynamoDbDedup({ tableName, client, mode: "transactional" }),
      handler: (_message, context) => {
        context.transaction?.write({
          Update: {
            TableName: tableName,
            Key: { pk: { S: "stock#sku-1" } },
            UpdateExpression: "SET units = units - :one",
            ConditionExpression: "units >= :one",
            ExpressionAttributeValues: { ":one": { N: "1" } },
          },
        });
      },
    });
    const response = await handler(sqsEvent(order("cancel-1")));

    expect(response.batchItemFailures).toHaveLength(1);
    expect(failure).toBeInstanceOf(TransactionCancelledError);
    expect((failure as Error).message).toBe(
      `The transaction of billing#cancel-1 was cancelled, nothing was written: action 1 (Update ${tableName} stock#sku-1): ConditionalCheckFailed (The conditional request failed)`,
    );
  });
});

describe("kinesisCheckpoints on DynamoDB", () => {
  const record = (id: string, sequenceNumber: string) =>
    kinesisRecord({ sequenceNumber, partitionKey: "k", data: envelopeBody({ id, key: "k", payload: {} }) });

  it("costs two requests per batch of 100, skipping replays and producer retries", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-checkpoint");
    const client = new DynamoDBClient({});
    const requests = countRequests(client);
    const ran: string[] = [];
    const handler = kinesisConsumer({
      group: "ledger",
      observer: new RecordingObserver(),
      dedup: kinesisCheckpoints({ tableName, client }),
      handler: (message: MessageEnvelope) => {
        ran.push(message.id);
      },
    });
    const first = Array.from({ length: 100 }, (_, index) => record(`r${index}`, String(1000 + index)));
    await handler(kinesisEvent(...first));
    expect(total(requests)).toBe(2);

    // Lambda retries half the batch, and a producer retry re-sent r5 under a new sequence number.
    await handler(kinesisEvent(...first.slice(50), record("r5", "2000"), record("r100", "2001")));
    expect(ran).toEqual([...first.map((_, index) => `r${index}`), "r100"]);
    expect(total(requests)).toBe(4);
  });

  it("rejects a stale worker's checkpoint after another worker took its expired lease", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-stale");
    const store = new DynamoDbDedupStore(new DynamoDBClient({}), tableName);
    const key = "checkpoint#ledger#shardId-000000000000";
    const now = Date.now();

    expect((await store.acquireCheckpoint(key, "stale", now + 1_000, now)).outcome).toBe("acquired");
    expect((await store.acquireCheckpoint(key, "fresh", now + 60_000, now + 500)).outcome).toBe("held");
    expect((await store.acquireCheckpoint(key, "fresh", now + 60_000, now + 2_000)).outcome).toBe("acquired");
    expect(await store.commitCheckpoint(key, "fresh", { sequenceNumber: "200", recentIds: ["x"] })).toBe(
      true,
    );
    expect(await store.commitCheckpoint(key, "stale", { sequenceNumber: "100", recentIds: [] })).toBe(false);

    const lease = await store.acquireCheckpoint(key, "next", now + 60_000, now + 3_000);
    expect(lease).toEqual({
      outcome: "acquired",
      checkpoint: { sequenceNumber: "200", recentIds: ["x"], pastIds: [] },
    });
  });

  it("with ordering by key, runs 1 failing record and 1,499 others exactly once across Lambda's retry, in a small item", async () => {
    const { tableName } = await createDedupTable(cleanup, "eo-past");
    const client = new DynamoDBClient({});
    const ran: string[] = [];
    let failing = true;
    const handler = kinesisConsumer({
      group: "ledger",
      ordering: "key",
      observer: new RecordingObserver(),
      dedup: kinesisCheckpoints({ tableName, client }),
      handler: (message: MessageEnvelope) => {
        if (message.id === "fail" && failing) throw new Error("cannot post");
        ran.push(message.id);
      },
    });
    const batch = [
      kinesisRecord({
        sequenceNumber: "1",
        partitionKey: "k-fail",
        data: envelopeBody({ id: "fail", key: "k-fail" }),
      }),
      ...Array.from({ length: 1_499 }, (_, index) =>
        kinesisRecord({
          sequenceNumber: String(index + 2),
          partitionKey: `k${index % 50}`,
          data: envelopeBody({ id: `m${index}`, key: `k${index % 50}` }),
        }),
      ),
    ];
    expect((await handler(kinesisEvent(...batch))).batchItemFailures).toEqual([{ itemIdentifier: "1" }]);
    failing = false;
    expect((await handler(kinesisEvent(...batch))).batchItemFailures).toEqual([]);

    expect(ran).toHaveLength(1_500);
    expect(new Set(ran).size).toBe(1_500);
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { [DEDUP_TABLE.partitionKey]: { S: "checkpoint#ledger#shardId-000000000000" } },
      }),
    );
    expect(Item?.sequenceNumber?.S).toBe("1500");
    expect(Item?.pastIds?.S).toBe("");
  });
});

describe("transactional outbox", () => {
  it("relays a message committed in a handler's transaction to its topic, with its original id", async () => {
    const { tableName, streamArn } = await createDedupTable(cleanup, "eo-outbox", { stream: true });
    const topicArn = await createTopic(cleanup, "eo-paid");
    const subscriber = await createQueue(cleanup, "eo-paid-subscriber");
    await subscribeQueue(topicArn, subscriber, { RawMessageDelivery: "true" });
    let published: MessageEnvelope | undefined;
    const billing = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      dedup: dynamoDbDedup({ tableName, mode: "transactional" }),
      handler: (message, context) => {
        published = context.transaction?.publish(
          { topicArn },
          { type: "order.paid", key: "c-1", payload: { order: message.id } },
        );
      },
    });
    await billing(sqsEvent(order("outbox-1")));

    // The relay's event source: the table's stream.
    const streams = new DynamoDBStreamsClient({});
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const records = [];
    for (const shard of StreamDescription?.Shards ?? []) {
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: "TRIM_HORIZON",
        }),
      );
      const { Records = [] } = await streams.send(new GetRecordsCommand({ ShardIterator }));
      records.push(...Records.map((record) => toDynamoDbRecord(record, streamArn as string, "us-east-1")));
    }
    const relay = outboxRelay({ observer: new RecordingObserver() });
    expect((await relay({ Records: records })).batchItemFailures).toEqual([]);

    const [delivered] = await drain(subscriber.url, 1);
    expect(JSON.parse(delivered?.Body ?? "{}")).toMatchObject({
      id: published?.id,
      type: "order.paid",
      payload: { order: "outbox-1" },
    });
  });
});
