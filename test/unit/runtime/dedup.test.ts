import type { Context } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import { REPLAY_MARKER } from "../../../lambdas/runtime/constants.js";
import { kinesisConsumer } from "../../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../../lambdas/runtime/dedup/dedup-guard.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import type { MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import {
  envelopeBody,
  kinesisEvent,
  kinesisRecord,
  sqsEvent,
  sqsRecord,
} from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

/** A clock the test moves. */
class Clock {
  ms = Date.parse("2026-11-22T10:00:00Z");
  readonly now = () => this.ms;
  advance(ms: number) {
    this.ms += ms;
  }
}

const lambdaContext = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs }) as Context;

function worker(
  store: InMemoryDedupStore,
  clock: Clock,
  options: {
    group?: string;
    mode?: "plain" | "transactional";
    onPayloadMismatch?: "poison" | "skip";
    prefilter?: "never" | "always" | "adaptive";
    handler?: (
      message: MessageEnvelope<{ n: number }>,
      context: { transaction?: unknown },
    ) => Promise<void> | void;
  } = {},
) {
  const ran: string[] = [];
  const deadLetters = new RecordingDeadLetters();
  const observer = new RecordingObserver();
  const handler = sqsConsumer<{ n: number }>({
    group: options.group ?? "billing",
    deadLetterSink: deadLetters,
    observer,
    dedup: dynamoDbDedup({
      store,
      now: clock.now,
      ...(options.mode ? { mode: options.mode } : {}),
      ...(options.onPayloadMismatch ? { onPayloadMismatch: options.onPayloadMismatch } : {}),
      ...(options.prefilter ? { prefilter: options.prefilter } : {}),
      retentionSeconds: 3600,
    }),
    handler: async (message, context) => {
      ran.push(message.id);
      await options.handler?.(message, context);
    },
  });
  return { handler, ran, deadLetters, observer };
}

const message = (id: string, n = 1) =>
  sqsRecord({ messageId: `sqs-${id}-${Math.random()}`, body: envelopeBody({ id, payload: { n } }) });

describe("dynamoDbDedup", () => {
  it("runs a message once: a redelivery is acknowledged without running", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const { handler, ran } = worker(store, clock);

    expect((await handler(sqsEvent(message("m1")))).batchItemFailures).toEqual([]);
    expect((await handler(sqsEvent(message("m1")))).batchItemFailures).toEqual([]);
    expect(ran).toEqual(["m1"]);
    expect(store.records.get("billing#m1")).toMatchObject({
      status: "COMPLETED",
      expiresAt: clock.ms / 1000 + 3600,
    });
  });

  it("costs one conditional write per new message plus one batch write per 25, and one request per duplicate", async () => {
    const store = new InMemoryDedupStore();
    const { handler } = worker(store, new Clock(), { prefilter: "never" });
    const ids = Array.from({ length: 10 }, (_, index) => `m${index}`);
    await handler(sqsEvent(...ids.map((id) => message(id))));

    expect(store.calls).toMatchObject({ claim: 10, complete: 1, read: 0 });
    await handler(sqsEvent(...ids.map((id) => message(id))));
    expect(store.calls).toMatchObject({ claim: 20, complete: 1, read: 0 });
  });

  it("dedups each consumer group on its own: fan-out groups each process every message", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const billing = worker(store, clock, { group: "billing" });
    const shipping = worker(store, clock, { group: "shipping" });
    await billing.handler(sqsEvent(message("m1")));
    await shipping.handler(sqsEvent(message("m1")));

    expect(billing.ran).toEqual(["m1"]);
    expect(shipping.ran).toEqual(["m1"]);
  });

  it("runs a message delivered twice in one batch once", async () => {
    const { handler, ran } = worker(new InMemoryDedupStore(), new Clock());
    await handler(sqsEvent(message("m1"), message("m1")));
    expect(ran).toEqual(["m1"]);
  });

  it("holds back a message another live worker holds (an in-flight duplicate): redelivered, not run, not counted failed", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    let release: () => void = () => undefined;
    const slow = worker(store, clock, { handler: () => new Promise<void>((resolve) => (release = resolve)) });
    const fast = worker(store, clock);
    const record = message("m1");
    const first = slow.handler(sqsEvent(record), lambdaContext(30_000));
    await new Promise((resolve) => setImmediate(resolve));

    expect((await fast.handler(sqsEvent(record))).batchItemFailures).toEqual([
      { itemIdentifier: record.messageId },
    ]);
    expect(fast.ran).toEqual([]);
    expect(fast.observer.failures).toEqual([]);
    expect(fast.observer.heldBack).toEqual([record.messageId]);
    expect(fast.observer.batches[0]).toMatchObject({ failed: 0, heldBack: 1 });
    release();
    expect((await first).batchItemFailures).toEqual([]);
  });

  it("takes a crashed worker's claim over once its lease (the invocation's remaining time) has run out, never before", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const crashed = worker(store, clock, { handler: () => new Promise<void>(() => undefined) });
    const takeover = worker(store, clock);
    const record = message("m1");
    void crashed.handler(sqsEvent(record), lambdaContext(10_000));
    await new Promise((resolve) => setImmediate(resolve));

    clock.advance(9_000);
    expect((await takeover.handler(sqsEvent(record))).batchItemFailures).toHaveLength(1);
    clock.advance(2_000);
    expect((await takeover.handler(sqsEvent(record))).batchItemFailures).toEqual([]);
    expect(takeover.ran).toEqual(["m1"]);
  });

  it("releases the claim of a failed message so that its redelivery runs, but never a claim another worker holds", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    let fail = true;
    const flaky = worker(store, clock, {
      handler: () => {
        if (fail) throw new Error("downstream 503");
      },
    });
    await flaky.handler(sqsEvent(message("m1")));
    expect(store.records.has("billing#m1")).toBe(false);
    fail = false;
    await flaky.handler(sqsEvent(message("m1")));
    expect(flaky.ran).toEqual(["m1", "m1"]);

    // A worker whose lease ran out fails after another took over: the newer claim survives its release.
    await store.claim(
      [{ key: "billing#m2", fingerprint: "f", token: "old", leaseExpiresAt: clock.ms - 1, expiresAt: 9e9 }],
      clock.ms,
    );
    await store.claim(
      [
        {
          key: "billing#m2",
          fingerprint: "f",
          token: "new",
          leaseExpiresAt: clock.ms + 60_000,
          expiresAt: 9e9,
        },
      ],
      clock.ms,
    );
    await store.release([{ key: "billing#m2", token: "old" }]);
    expect(store.records.get("billing#m2")?.token).toBe("new");
  });

  it("does not let other content take over a claim whose worker died, since that worker may have had its effect", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    // A worker claims m1 (n = 1), has its side effect and dies before completing: its lease runs out.
    const dying = worker(store, clock, { handler: () => new Promise<void>(() => undefined) });
    void dying.handler(sqsEvent(message("m1", 1)), lambdaContext(10_000));
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(11_000);

    const other = worker(store, clock);
    await other.handler(sqsEvent(message("m1", 2)), lambdaContext(10_000));
    expect(other.ran).toEqual([]);
    expect(other.deadLetters.letters.map((letter) => letter.reason)).toEqual(["payload-mismatch"]);
    // Its own redelivery takes the claim over and runs again (plain mode's at-least-once window).
    await other.handler(sqsEvent(message("m1", 1)), lambdaContext(10_000));
    expect(other.ran).toEqual(["m1"]);
  });

  it("runs nothing and returns the whole batch when the dedup table cannot be reached", async () => {
    const store = new InMemoryDedupStore();
    store.claim = async () => {
      throw Object.assign(new Error("User is not authorized to perform: dynamodb:PutItem"), {
        name: "AccessDeniedException",
      });
    };
    const { handler, ran, observer, deadLetters } = worker(store, new Clock());
    const first = message("m1");
    const second = message("m2");
    const result = await handler.processEvent(sqsEvent(first, second));

    expect(ran).toEqual([]);
    expect(deadLetters.letters).toEqual([]);
    expect(result.batchItemFailures).toEqual([
      { itemIdentifier: first.messageId },
      { itemIdentifier: second.messageId },
    ]);
    expect(result.outcomes[0]).toMatchObject({
      kind: "failed",
      error: expect.stringMatching(/not authorized/),
    });
    expect(observer.batches[0]).toMatchObject({ received: 2, failed: 2, processed: 0 });
  });

  it("treats the same id with different content as poison by default, and reports it", async () => {
    const store = new InMemoryDedupStore();
    const { handler, deadLetters, observer, ran } = worker(store, new Clock());
    await handler(sqsEvent(message("m1", 1)));
    await handler(sqsEvent(message("m1", 2)));

    expect(ran).toEqual(["m1"]);
    expect(deadLetters.letters[0]).toMatchObject({
      reason: "payload-mismatch",
      detail: "message id m1 was processed before with different content",
    });
    expect(observer.batches[1]).toMatchObject({ payloadMismatches: 1, deadLettered: 1 });
  });

  it("acknowledges a payload mismatch instead, with onPayloadMismatch: skip", async () => {
    const { handler, deadLetters, observer } = worker(new InMemoryDedupStore(), new Clock(), {
      onPayloadMismatch: "skip",
    });
    await handler(sqsEvent(message("m1", 1)));
    await handler(sqsEvent(message("m1", 2)));

    expect(deadLetters.letters).toEqual([]);
    expect(observer.batches[1]).toMatchObject({ payloadMismatches: 1, skipped: 1 });
  });

  it("turns the read-first prefilter on after a batch of duplicates, and off after a batch of new messages", async () => {
    const store = new InMemoryDedupStore();
    const { handler, ran } = worker(store, new Clock());
    const batch = (from: number) =>
      sqsEvent(...Array.from({ length: 10 }, (_, index) => message(`m${from + index}`)));
    await handler(batch(0));
    expect(store.calls).toMatchObject({ read: 0, claim: 10 });

    await handler(batch(0)); // a replay: duplicates, each found by its failed claim
    expect(store.calls).toMatchObject({ read: 0, claim: 20 });
    await handler(batch(0)); // the prefilter is on: one read answers the batch
    await handler(batch(0));
    expect(store.calls).toMatchObject({ read: 2, claim: 20 });

    await handler(batch(10)); // new messages: read (nothing found), then claimed
    await handler(batch(20)); // the prefilter is off again
    expect(store.calls).toMatchObject({ read: 3, claim: 40 });
    expect(ran).toHaveLength(30);
  });

  it("answers a storm of redelivered duplicates with one read per batch, from the first batch of a cold start", async () => {
    const store = new InMemoryDedupStore();
    const ids = Array.from({ length: 10 }, (_, index) => `m${index}`);
    await worker(store, new Clock()).handler(sqsEvent(...ids.map((id) => message(id))));
    const redelivered = (id: string) =>
      sqsRecord({ messageId: `sqs-${id}`, receiveCount: 2, body: envelopeBody({ id, payload: { n: 1 } }) });

    const cold = worker(store, new Clock());
    const before = { ...store.calls };
    for (let round = 0; round < 5; round++) await cold.handler(sqsEvent(...ids.map(redelivered)));

    // 50 duplicates, 5 requests: 0.1 DynamoDB requests per message (a conditional claim each would be 1.0).
    expect(store.calls.read - before.read).toBe(5);
    expect(store.calls.claim - before.claim).toBe(0);
    expect(cold.ran).toEqual([]);
  });

  describe("in transactional mode", () => {
    it("commits the handler's writes and outbox messages with the completion in one transaction", async () => {
      const store = new InMemoryDedupStore();
      const { handler } = worker(store, new Clock(), {
        mode: "transactional",
        handler: (msg, context) => {
          const transaction =
            context.transaction as import("../../../lambdas/runtime/dedup/transaction.js").Transaction;
          transaction.write({ Put: { TableName: "orders", Item: { pk: { S: `invoice#${msg.id}` } } } });
          transaction.publish(
            { topicArn: "arn:aws:sns:us-east-1:000000000000:paid" },
            { type: "order.paid", payload: { n: msg.payload.n } },
          );
        },
      });
      await handler(sqsEvent(message("m1")));

      expect(store.calls.commit).toBe(1);
      expect(store.calls.complete).toBe(0);
      expect(store.committed[0]?.map((item) => Object.keys(item)[0])).toEqual(["Put", "Put"]);
      expect(JSON.stringify(store.committed[0]?.[1])).toContain("outbox#");
      expect(store.records.get("billing#m1")?.status).toBe("COMPLETED");
    });

    it("commits nothing when its claim was taken over meanwhile, and reports the message to retry", async () => {
      const store = new InMemoryDedupStore();
      const clock = new Clock();
      const { handler, observer } = worker(store, clock, {
        mode: "transactional",
        handler: async () => {
          // While this worker runs, its lease runs out and another worker claims the message.
          clock.advance(60_000);
          await store.claim(
            [
              {
                key: "billing#m1",
                fingerprint: store.records.get("billing#m1")?.fingerprint ?? "",
                token: "other",
                leaseExpiresAt: clock.ms + 60_000,
                expiresAt: 9e9,
              },
            ],
            clock.ms,
          );
        },
      });
      const record = message("m1");
      const response = await handler(sqsEvent(record), lambdaContext(30_000));

      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(store.committed).toEqual([]);
      expect(observer.failures).toEqual([record.messageId]);
    });

    it("dead-letters a message whose transaction would exceed DynamoDB's 100 actions, saying why", async () => {
      const { handler, deadLetters } = worker(new InMemoryDedupStore(), new Clock(), {
        mode: "transactional",
        handler: (_msg, context) => {
          const transaction =
            context.transaction as import("../../../lambdas/runtime/dedup/transaction.js").Transaction;
          for (let index = 0; index < 100; index++)
            transaction.write({ Put: { TableName: "t", Item: { pk: { S: `${index}` } } } });
        },
      });
      await handler(sqsEvent(message("m1")));

      expect(deadLetters.letters[0]?.detail).toMatch(
        /^The transaction has 101 actions \(the dedup completion, 100 writes and 0 outbox messages\); DynamoDB allows 100/,
      );
    });
  });
});

describe("kinesisCheckpoints", () => {
  afterEach(() => {
    delete process.env.BROKER_PARALLELIZATION_FACTOR;
  });

  const record = (id: string, sequenceNumber: string, key = "k") =>
    kinesisRecord({
      partitionKey: key,
      sequenceNumber,
      data: envelopeBody({ id, key, payload: { n: Number(sequenceNumber) } }),
    });

  function consumer(
    store: InMemoryDedupStore,
    clock: Clock,
    failOn?: string,
    ordering: "shard" | "key" = "shard",
  ) {
    const ran: string[] = [];
    const deadLetters = new RecordingDeadLetters();
    const handler = kinesisConsumer({
      group: "ledger",
      ordering,
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: kinesisCheckpoints({ store, now: clock.now }),
      handler: (message: MessageEnvelope) => {
        if (message.id === failOn) throw new Error(`cannot post ${message.id}`);
        ran.push(message.id);
      },
    });
    return { handler, ran, deadLetters };
  }

  it("skips records at or below the checkpoint when Lambda replays a batch, with two store calls per batch", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const { handler, ran } = consumer(store, clock);
    const batch = kinesisEvent(record("a", "100"), record("b", "101"), record("c", "102"));
    await handler(batch);
    await handler(batch);

    expect(ran).toEqual(["a", "b", "c"]);
    expect(store.checkpointOf("checkpoint#ledger#shardId-000000000000")?.sequenceNumber).toBe("102");
    expect(store.calls.acquireCheckpoint + store.calls.commitCheckpoint).toBe(4);
  });

  it("skips a producer retry: the same message id under a new sequence number", async () => {
    const { handler, ran } = consumer(new InMemoryDedupStore(), new Clock());
    await handler(kinesisEvent(record("a", "100"), record("b", "101")));
    await handler(kinesisEvent(record("a", "102"), record("c", "103")));

    expect(ran).toEqual(["a", "b", "c"]);
  });

  it("moves the checkpoint only to the record before the first failure", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const failing = consumer(store, clock, "b");
    await failing.handler(kinesisEvent(record("a", "100"), record("b", "101"), record("c", "102")));
    expect(store.checkpointOf("checkpoint#ledger#shardId-000000000000")?.sequenceNumber).toBe("100");

    const healthy = consumer(store, clock);
    await healthy.handler(kinesisEvent(record("b", "101"), record("c", "102")));
    expect(healthy.ran).toEqual(["b", "c"]);
  });

  it("remembers records that finished past a failure (ordering by key), so that their replay is skipped", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    await consumer(store, clock, "a", "key").handler(
      kinesisEvent(record("a", "100", "k1"), record("b", "101", "k2")),
    );
    const replay = consumer(store, clock, undefined, "key");
    await replay.handler(kinesisEvent(record("a", "100", "k1"), record("b", "101", "k2")));

    expect(replay.ran).toEqual(["a"]);
  });

  it("dead-letters a malformed record once, though Lambda replays it with the records past a failure", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const batch = kinesisEvent(
      record("a", "100", "k1"),
      kinesisRecord({ partitionKey: "k2", sequenceNumber: "101", data: "<not json/>" }),
      record("c", "102", "k3"),
    );
    const first = consumer(store, clock, "a", "key");
    const firstResponse = await first.handler(batch);
    const replay = consumer(store, clock, undefined, "key");
    await replay.handler(batch);

    // Past the failure it waits for the retry, which sends it again: dead-lettered there, in order.
    expect(firstResponse.batchItemFailures).toEqual([{ itemIdentifier: "100" }, { itemIdentifier: "101" }]);
    expect(first.deadLetters.letters).toEqual([]);
    expect(replay.deadLetters.letters.map((letter) => letter.reason)).toEqual(["not-json"]);
    expect(replay.ran).toEqual(["a"]);
  });

  it("with per-message dedup too, a malformed record past a failure is dead-lettered once across Lambda's retry", async () => {
    const store = new InMemoryDedupStore();
    const deadLetters = new RecordingDeadLetters();
    let failures = 1;
    const handler = kinesisConsumer({
      group: "ledger",
      ordering: "key",
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      dedup: dynamoDbDedup({ store }),
      handler: (message: MessageEnvelope) => {
        if (message.id === "a" && failures-- > 0) throw new Error("downstream 503");
      },
    });
    const batch = kinesisEvent(
      record("a", "100", "k1"),
      kinesisRecord({ partitionKey: "k2", sequenceNumber: "101", data: "<not json/>" }),
    );
    await handler(batch);
    expect((await handler(batch)).batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.sourceRecordId)).toEqual(["101"]);
  });

  it("makes a second worker on the shard retry later while the first holds the lease, and ignores a stale worker's commit", async () => {
    const store = new InMemoryDedupStore();
    const clock = new Clock();
    const key = "checkpoint#ledger#shardId-000000000000";
    const stale = await store.acquireCheckpoint(key, "stale", clock.ms + 1_000, clock.ms);
    expect(stale.outcome).toBe("acquired");

    const blocked = consumer(store, clock);
    expect((await blocked.handler(kinesisEvent(record("a", "100")))).batchItemFailures).toEqual([
      { itemIdentifier: "100" },
    ]);
    expect(blocked.ran).toEqual([]);

    clock.advance(2_000);
    const fresh = consumer(store, clock);
    await fresh.handler(kinesisEvent(record("a", "100"), record("b", "101")));
    expect(await store.commitCheckpoint(key, "stale", { sequenceNumber: "100", recentIds: [] })).toBe(false);
    expect(store.checkpointOf(key)?.sequenceNumber).toBe("101");
  });

  it("refuses to run with a parallelization factor above 1, saying what to use instead", () => {
    process.env.BROKER_PARALLELIZATION_FACTOR = "4";
    expect(() => kinesisCheckpoints({ store: new InMemoryDedupStore() })).toThrow(
      /kinesisCheckpoints needs ParallelizationFactor 1, but this consumer group runs with 4.*Use dynamoDbDedup\(\)/,
    );
  });
});

describe("a replay on purpose (REPLAY_MARKER on the record's eventSourceARN)", () => {
  const marked = (event: ReturnType<typeof kinesisEvent>, replayId: string) => ({
    Records: event.Records.map((record) => ({
      ...record,
      eventSourceARN: `${record.eventSourceARN}${REPLAY_MARKER}${replayId}`,
    })),
  });
  const record = (id: string, sequenceNumber: string) =>
    kinesisRecord({ sequenceNumber, data: envelopeBody({ id, key: "k", payload: { n: 1 } }) });

  it.each(["dynamoDbDedup", "kinesisCheckpoints"] as const)(
    "%s runs completed records again under the replay's own scope, once per replay id, leaving the live state alone",
    async (guard) => {
      const store = new InMemoryDedupStore();
      const clock = new Clock();
      const ran: string[] = [];
      const handler = kinesisConsumer({
        group: "ledger",
        observer: new RecordingObserver(),
        deadLetterSink: new RecordingDeadLetters(),
        dedup:
          guard === "dynamoDbDedup"
            ? dynamoDbDedup({ store, now: clock.now, retentionSeconds: 3600 })
            : kinesisCheckpoints({ store, now: clock.now }),
        handler: (message: MessageEnvelope) => {
          ran.push(message.id);
        },
      });
      const batch = kinesisEvent(record("a", "100"), record("b", "101"));
      await handler(batch);
      const live = JSON.stringify(store.checkpointOf("checkpoint#ledger#shardId-000000000000"));
      await handler(batch); // the live guard skips
      await handler(marked(batch, "r1")); // runs again
      await handler(marked(batch, "r1")); // the same replay: skipped
      await handler(marked(batch, "r2")); // another replay: runs again

      expect(ran).toEqual(["a", "b", "a", "b", "a", "b"]);
      expect(JSON.stringify(store.checkpointOf("checkpoint#ledger#shardId-000000000000"))).toBe(live);
      if (guard === "kinesisCheckpoints")
        expect(store.checkpointOf("checkpoint#ledger#replay#r1#shardId-000000000000")?.sequenceNumber).toBe(
          "101",
        );
    },
  );
});
