/**
 * The loss paths of issue 15, each reproduced from the outside with Lambda-shaped events: every test here
 * failed on the code before its fix.
 */
import type { PublishBatchCommandInput } from "@aws-sdk/client-sns";
import { describe, expect, it } from "vitest";
import { dynamoDbStreamConsumer } from "../../../lambdas/runtime/consumers/dynamodb-stream-consumer.js";
import { kinesisConsumer } from "../../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../../lambdas/runtime/dedup/dedup-guard.js";
import type { Checkpoint } from "../../../lambdas/runtime/dedup/dedup-store.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import { createEnvelope, type MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import { ConfigurationError } from "../../../lambdas/runtime/errors.js";
import { outboxRelay } from "../../../lambdas/runtime/outbox/outbox-relay.js";
import { FakeClient } from "../../support/fake-clients.js";
import { FakeClock } from "../../support/fake-clock.js";
import {
  dynamodbEvent,
  dynamodbRecord,
  envelopeBody,
  kinesisEvent,
  kinesisRecord,
  QUEUE_ARN,
  sqsEvent,
  sqsRecord,
} from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

const SHARD_KEY = "checkpoint#ledger#shardId-000000000000";
const record = (id: string, sequenceNumber: number, key = "k") =>
  kinesisRecord({
    partitionKey: key,
    sequenceNumber: String(sequenceNumber),
    data: envelopeBody({ id, key, payload: { n: sequenceNumber } }),
  });

function ledger(
  store: InMemoryDedupStore,
  clock: FakeClock,
  options: { failOn?: string; ordering?: "key" } = {},
) {
  const ran: string[] = [];
  const handler = kinesisConsumer({
    group: "ledger",
    ...(options.ordering ? { ordering: options.ordering } : {}),
    observer: new RecordingObserver(),
    deadLetterSink: new RecordingDeadLetters(),
    dedup: kinesisCheckpoints({ store, now: clock.now, sleep: clock.sleep }),
    handler: (message: MessageEnvelope) => {
      if (message.id === options.failOn) throw new Error(`cannot post ${message.id}`);
      ran.push(message.id);
    },
  });
  return { handler, ran };
}

describe("defect 1: a held lease or claim on a stream", () => {
  it("a checkpoint commit that fails once is retried, so the next batch runs on its first delivery", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    let failures = 1;
    const commit = store.commitCheckpoint.bind(store);
    store.commitCheckpoint = async (key: string, token: string, checkpoint: Checkpoint) => {
      if (failures-- > 0) throw new Error("socket hang up");
      return commit(key, token, checkpoint);
    };
    const { handler, ran } = ledger(store, clock);
    await handler(kinesisEvent(record("a", 100)), clock.invocation(30_000));

    const response = await handler(kinesisEvent(record("b", 101)), clock.invocation(30_000));
    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toEqual(["a", "b"]);
  });

  it("a lease left behind by a dead invocation is waited out within the next invocation's time, not answered 'retry later' until the retries run out", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    await store.acquireCheckpoint(SHARD_KEY, "dead", clock.ms + 20_000, clock.ms);
    const { handler, ran } = ledger(store, clock);

    const response = await handler(kinesisEvent(record("a", 100)), clock.invocation(30_000));
    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toEqual(["a"]);
  });

  it("a dedup claim left behind on a stream record is waited out too", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    const consumer = (handler: (message: MessageEnvelope) => Promise<void> | void) =>
      kinesisConsumer({
        group: "ledger",
        observer: new RecordingObserver(),
        dedup: dynamoDbDedup({ store, now: clock.now, sleep: clock.sleep }),
        handler,
      });
    // An invocation that dies after claiming: its claim stays until its lease (20 s) ends.
    void consumer(() => new Promise<void>(() => undefined))(
      kinesisEvent(record("a", 100)),
      clock.invocation(20_000),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const ran: string[] = [];
    const handler = consumer((message) => {
      ran.push(message.id);
    });
    expect(
      (await handler(kinesisEvent(record("a", 100)), clock.invocation(30_000))).batchItemFailures,
    ).toEqual([]);
    expect(ran).toEqual(["a"]);
  });
});

describe("defect 1 on DynamoDB Streams, whose events name no shard", () => {
  it("a dedup claim left behind on a table stream record is waited out, not answered 'retry later' until the retries run out", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    const consumer = (handler: () => Promise<void> | void) =>
      dynamoDbStreamConsumer({
        group: "projector",
        observer: new RecordingObserver(),
        dedup: dynamoDbDedup({ store, now: clock.now, sleep: clock.sleep }),
        handler,
      });
    const change = dynamodbRecord("100", { pk: "order-1", status: "paid" });
    // An invocation that dies after claiming: its claim stays until its lease (20 s) ends.
    void consumer(() => new Promise<void>(() => undefined))(dynamodbEvent(change), clock.invocation(20_000));
    await new Promise((resolve) => setImmediate(resolve));
    let ran = 0;
    const response = await consumer(() => {
      ran++;
    })(dynamodbEvent(change), clock.invocation(30_000));
    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toBe(1);
  });
});

describe("defect 2: the outbox relay and rows that can never be published", () => {
  const TOPIC = "arn:aws:sns:us-east-1:000000000000:paid";
  const row = (sequence: string, envelope: string) =>
    dynamodbRecord(sequence, { pk: `outbox#${sequence}`, topicArn: TOPIC, envelope });
  const envelope = (id: string, payload: unknown = {}) =>
    JSON.stringify(createEnvelope({ id, type: "order.paid", key: "customer-1", payload }));

  function relay(respond: (input: PublishBatchCommandInput) => unknown = () => ({})) {
    const sns = new FakeClient<PublishBatchCommandInput>((input) => {
      const answer = respond(input) as { Failed?: unknown[] } | undefined;
      return {
        Successful: (input.PublishBatchRequestEntries ?? [])
          .filter(
            (entry) => !(answer?.Failed ?? []).some((failure) => (failure as { Id: string }).Id === entry.Id),
          )
          .map((entry) => ({ Id: entry.Id, MessageId: `sns-${entry.Id}` })),
        ...(answer ?? {}),
      };
    });
    const deadLetters = new RecordingDeadLetters();
    const handler = outboxRelay({
      snsClient: sns as never,
      deadLetterSink: deadLetters,
      observer: new RecordingObserver(),
    });
    return { handler, sns, deadLetters };
  }
  const published = (sns: FakeClient<PublishBatchCommandInput>) =>
    sns.calls.flatMap((call) =>
      (call.PublishBatchRequestEntries ?? []).map((entry) => JSON.parse(entry.Message ?? "").id),
    );

  it("dead-letters a 300 KB envelope (fits DynamoDB, not SNS) with its reason, and the key moves on", async () => {
    const { handler, sns, deadLetters } = relay();
    const response = await handler(
      dynamodbEvent(row("1", envelope("big", "x".repeat(300_000))), row("2", envelope("next"))),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.reason])).toEqual([
      ["big", "too-large"],
    ]);
    expect(published(sns)).toEqual(["next"]);
  });

  it("dead-letters a row whose envelope is not JSON, and one the topic refuses with a sender fault", async () => {
    const { handler, deadLetters } = relay((input) =>
      (input.PublishBatchRequestEntries ?? []).length > 0
        ? { Failed: [{ Id: "0", Code: "InvalidParameter", SenderFault: true, Message: "bad attribute" }] }
        : {},
    );
    const response = await handler(dynamodbEvent(row("1", "{not json"), row("2", envelope("refused"))));
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.reason)).toEqual([
      "not-json",
      "rejected-by-destination",
    ]);
  });

  it("transaction.publish refuses in the handler an envelope larger than its topic accepts: dead-lettered, nothing committed", async () => {
    const store = new InMemoryDedupStore();
    const deadLetters = new RecordingDeadLetters();
    const handler = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: dynamoDbDedup({ store, mode: "transactional" }),
      handler: (_message, { transaction }) => {
        transaction.publish({ topicArn: TOPIC }, { type: "order.paid", payload: "x".repeat(300_000) });
      },
    });
    await handler(sqsEvent(sqsRecord()));
    expect(store.committed).toEqual([]);
    expect(deadLetters.letters[0]).toMatchObject({ reason: "too-large" });
    expect(deadLetters.letters[0]?.detail).toMatch(/accepts at most 262144/);
  });
});

describe("defect 3: ordering by key with kinesisCheckpoints, beyond the id window", () => {
  it("runs each of 1 failing record and 1,499 others exactly once across Lambda's retry", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    const batch = kinesisEvent(
      record("fail", 1, "k-fail"),
      ...Array.from({ length: 1_499 }, (_, index) => record(`m${index}`, index + 2, `k${index % 50}`)),
    );
    const first = ledger(store, clock, { failOn: "fail", ordering: "key" });
    const response = await first.handler(batch);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "1" }]);

    const retry = ledger(store, clock, { ordering: "key" });
    await retry.handler(batch);
    const runs = [...first.ran, ...retry.ran];
    expect(runs).toHaveLength(1_500);
    expect(new Set(runs).size).toBe(1_500);
    // The checkpoint passed them all: nothing is left remembered past it.
    expect(store.checkpointOf(SHARD_KEY)).toMatchObject({ sequenceNumber: "1500", pastIds: [] });
  });
});

describe("defect 4: kinesisCheckpoints with a DynamoDB Streams consumer", () => {
  it("fails at cold start with a ConfigurationError that names the fix, instead of failing every batch", () => {
    const create = () =>
      dynamoDbStreamConsumer({
        group: "audit",
        dedup: kinesisCheckpoints({ store: new InMemoryDedupStore() }),
        handler: () => undefined,
      });
    expect(create).toThrow(ConfigurationError);
    expect(create).toThrow(
      /kinesisCheckpoints\(\) cannot guard dynamoDbStreamConsumer.*Use dynamoDbDedup\(\)/,
    );
  });
});

describe("defect 5: the transaction size check", () => {
  it("counts binary values by their length, as DynamoDB does: a 600 KB binary write commits", async () => {
    const store = new InMemoryDedupStore();
    const deadLetters = new RecordingDeadLetters();
    const handler = sqsConsumer({
      group: "billing",
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: dynamoDbDedup({ store, mode: "transactional" }),
      handler: (_message, { transaction }) => {
        transaction.write({
          Put: { TableName: "blobs", Item: { pk: { S: "blob#1" }, data: { B: new Uint8Array(600_000) } } },
        });
      },
    });
    await handler(sqsEvent(sqsRecord()));
    expect(deadLetters.letters).toEqual([]);
    expect(store.committed).toHaveLength(1);
  });
});

describe("defect 6: a reused message id with other content inside one batch", () => {
  it("runs the first copy and dead-letters the other as payload-mismatch, never dropping it silently", async () => {
    const ran: number[] = [];
    const deadLetters = new RecordingDeadLetters();
    const handler = sqsConsumer<{ n: number }>({
      group: "billing",
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: dynamoDbDedup({ store: new InMemoryDedupStore() }),
      handler: (message) => {
        ran.push(message.payload.n);
      },
    });
    await handler(
      sqsEvent(
        sqsRecord({ body: envelopeBody({ id: "m1", payload: { n: 1 } }) }),
        sqsRecord({ body: envelopeBody({ id: "m1", payload: { n: 2 } }) }),
      ),
    );
    expect(ran).toEqual([1]);
    expect(deadLetters.letters.map((letter) => letter.reason)).toEqual(["payload-mismatch"]);
  });
});

describe("defect 7: plain-mode completion", () => {
  it("a worker that outlived its lease does not overwrite the new owner's claim, so that owner's failure is redelivered and run", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    const ran: string[] = [];
    let releaseOld: () => void = () => undefined;
    const worker = (behaviour: () => Promise<void> | void) =>
      sqsConsumer({
        group: "billing",
        observer: new RecordingObserver(),
        dedup: dynamoDbDedup({ store, now: clock.now }),
        handler: async (message: MessageEnvelope) => {
          ran.push(message.id);
          await behaviour();
        },
      });
    const body = envelopeBody({ id: "m1" });
    // The old owner runs past its 10 s lease.
    const oldOwner = worker(() => new Promise<void>((resolve) => (releaseOld = resolve)))(
      sqsEvent(sqsRecord({ body })),
      clock.invocation(10_000),
    );
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(11_000);
    // The new owner takes the message over; while it runs, the old owner finishes and completes; then
    // the new owner fails.
    await worker(async () => {
      releaseOld();
      await oldOwner;
      throw new Error("downstream 503");
    })(sqsEvent(sqsRecord({ body })), clock.invocation(10_000));

    expect(store.records.get("billing#m1")?.status).not.toBe("COMPLETED");
    await worker(() => undefined)(sqsEvent(sqsRecord({ body })), clock.invocation(10_000));
    expect(ran).toEqual(["m1", "m1", "m1"]);
    expect(store.records.get("billing#m1")?.status).toBe("COMPLETED");
  });
});

describe("defect 8: SQS fair queues (a standard queue whose messages carry a MessageGroupId)", () => {
  const tenantMessage = (tenant: string, n: number) =>
    sqsRecord({ groupId: tenant, queueArn: QUEUE_ARN, body: envelopeBody({ payload: { tenant, n } }) });

  it("follow standard failure semantics: after one failure, later messages of that tenant still run", async () => {
    const ran: string[] = [];
    const handler = sqsConsumer<{ tenant: string; n: number }>({
      group: "billing",
      observer: new RecordingObserver(),
      handler: (message) => {
        if (message.payload.n === 1) throw new Error("tenant a's first message fails");
        ran.push(`${message.payload.tenant}${message.payload.n}`);
      },
    });
    const failing = tenantMessage("a", 1);
    const response = await handler(sqsEvent(failing, tenantMessage("a", 2), tenantMessage("a", 3)));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: failing.messageId }]);
    expect(ran.sort()).toEqual(["a2", "a3"]);
  });

  it("start tenants round-robin, so one tenant's backlog does not take every slot", async () => {
    const ran: string[] = [];
    const handler = sqsConsumer<{ tenant: string; n: number }>({
      group: "billing",
      concurrency: 1,
      observer: new RecordingObserver(),
      handler: (message) => {
        ran.push(`${message.payload.tenant}${message.payload.n}`);
      },
    });
    await handler(
      sqsEvent(tenantMessage("a", 1), tenantMessage("a", 2), tenantMessage("a", 3), tenantMessage("b", 1)),
    );
    expect(ran).toEqual(["a1", "b1", "a2", "a3"]);
  });
});

describe("defect 9: SNS notifications inside SQS (raw delivery off)", () => {
  it("deduplicates on the SNS MessageId with format: json, when SNS delivered one notification twice", async () => {
    const ran: unknown[] = [];
    const handler = sqsConsumer({
      group: "billing",
      format: "json",
      observer: new RecordingObserver(),
      dedup: dynamoDbDedup({ store: new InMemoryDedupStore() }),
      handler: (message) => {
        ran.push(message.payload);
      },
    });
    const notification = JSON.stringify({
      Type: "Notification",
      MessageId: "sns-1",
      TopicArn: "arn:aws:sns:us-east-1:000000000000:orders",
      Message: JSON.stringify({ orderId: "o-1" }),
    });
    await handler(sqsEvent(sqsRecord({ body: notification }), sqsRecord({ body: notification })));
    await handler(sqsEvent(sqsRecord({ body: notification })));
    expect(ran).toEqual([{ orderId: "o-1" }]);
  });
});
