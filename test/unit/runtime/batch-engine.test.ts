/**
 * What the one batch engine behind every wrapper tells the outside: the settled outcome a (custom) guard
 * is given for each record, the batch summary, the observer's events and the dead letters' fields, and the
 * order in which a stream's unreadable records are dead-lettered or held for the retry.
 */
import { describe, expect, it } from "vitest";
import type { DeadLetter, DeadLetterSink } from "../../../lambdas/runtime/consumers/dead-letter.js";
import { fingerprintOf } from "../../../lambdas/runtime/consumers/decode-envelope.js";
import { kinesisConsumer } from "../../../lambdas/runtime/consumers/kinesis-consumer.js";
import type {
  Admission,
  GuardedRecord,
  ProcessingGuard,
  SettledOutcome,
} from "../../../lambdas/runtime/consumers/processing-guard.js";
import { sqsConsumer } from "../../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../../lambdas/runtime/dedup/dedup-guard.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import type { MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import { POISON_REASONS } from "../../../lambdas/runtime/errors.js";
import { FakeClock } from "../../support/fake-clock.js";
import {
  envelopeBody,
  kinesisEvent,
  kinesisRecord,
  sqsEvent,
  sqsRecord,
} from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

const SHARD = "shardId-000000000000";

/** A guard of the user's own: admits each message id as told, and keeps what it is told at settle. */
class ScriptedGuard implements ProcessingGuard<undefined> {
  readonly followsUndecodable = true;
  readonly admitted: string[] = [];
  readonly settled: Array<[string, SettledOutcome]> = [];
  constructor(private readonly decisions: Record<string, Admission>) {}

  async admit(records: readonly GuardedRecord[]): Promise<Admission[]> {
    this.admitted.push(...records.map((record) => record.messageId));
    return records.map((record) => this.decisions[record.messageId] ?? { kind: "run" });
  }
  async run(
    _record: GuardedRecord,
    _admission: Admission,
    invoke: (extras: { transaction: undefined }) => Promise<void>,
  ): Promise<void> {
    await invoke({ transaction: undefined });
  }
  async settle(settled: ReadonlyArray<{ record: GuardedRecord; outcome: SettledOutcome }>): Promise<void> {
    this.settled.push(
      ...settled.map(({ record, outcome }) => [record.messageId, outcome] as [string, SettledOutcome]),
    );
  }
}

/** A dead-letter queue that refuses the letters of some source records. */
class RefusingDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  constructor(private readonly refused: ReadonlySet<string>) {}
  async send(letter: DeadLetter): Promise<void> {
    if (this.refused.has(letter.sourceRecordId)) throw new Error("dead-letter queue unavailable");
    this.letters.push(letter);
  }
}

type Step = { key: string; step: number };
const step = (id: string, key: string, sequenceNumber: string) =>
  kinesisRecord({
    partitionKey: key,
    sequenceNumber,
    data: envelopeBody({ id, key, payload: { key, step: 0 } }),
  });
const unreadable = (key: string, sequenceNumber: string) =>
  kinesisRecord({ partitionKey: key, sequenceNumber, data: "not json" });

describe("the settled outcome a guard is given for each record", () => {
  it("maps every way a record can end: run, skipped, poison, failed, blocked, held back, unreadable", async () => {
    const guard = new ScriptedGuard({
      b: { kind: "skip", reason: "duplicate" },
      c: {
        kind: "poison",
        reason: POISON_REASONS.payloadMismatch,
        detail: "other content",
        payloadMismatch: true,
      },
      f: { kind: "retry-later", reason: "in flight elsewhere" },
    });
    const observer = new RecordingObserver();
    const handler = kinesisConsumer<Step>({
      group: "ledger",
      ordering: "key",
      dedup: guard,
      observer,
      deadLetterSink: new RecordingDeadLetters(),
      handler: (message: MessageEnvelope<Step>) => {
        if (message.id === "d") throw new Error("cannot post d");
      },
    });
    const result = await handler.processEvent(
      kinesisEvent(
        unreadable("z", "1"),
        step("a", "a", "2"),
        step("b", "b", "3"),
        step("c", "c", "4"),
        step("d", "d", "5"),
        step("e", "d", "6"),
        step("f", "f", "7"),
        unreadable("g", "8"),
      ),
    );

    expect(guard.settled).toEqual([
      [`record:${SHARD}:1`, "dead-lettered"],
      ["a", "processed"],
      ["b", "processed"],
      ["c", "dead-lettered"],
      ["d", "failed"],
      ["e", "not-run"],
      ["f", "failed"],
      [`record:${SHARD}:8`, "not-run"],
    ]);
    expect(result.outcomes.map((outcome) => outcome.kind)).toEqual([
      "dead-lettered",
      "processed",
      "skipped",
      "dead-lettered",
      "failed",
      "not-run",
      "held-back",
      "not-run",
    ]);
    // The unreadable record past the first failure waits for the retry that sends it again.
    expect(result.outcomes[7]).toEqual({ kind: "not-run", blockedBy: "5" });
    expect(result.summary).toMatchObject({
      received: 8,
      processed: 1,
      skipped: 1,
      failed: 3,
      heldBack: 1,
      deadLettered: 2,
      deadLetterReasons: { [POISON_REASONS.notJson]: 1, [POISON_REASONS.payloadMismatch]: 1 },
      payloadMismatches: 1,
    });
    expect(result.batchItemFailures).toEqual(
      ["5", "6", "7", "8"].map((itemIdentifier) => ({ itemIdentifier })),
    );
    expect(observer.events).toContainEqual({
      kind: "held-back",
      group: "ledger",
      sourceRecordId: "7",
      messageId: "f",
      attempt: undefined,
      reason: "in flight elsewhere",
    });
    expect(observer.events).toContainEqual(
      expect.objectContaining({
        kind: "failed",
        sourceRecordId: "5",
        messageId: "d",
        error: new Error("cannot post d"),
      }),
    );
  });

  it("counts no payload mismatch when no admission says so", async () => {
    const guard = new ScriptedGuard({});
    const handler = kinesisConsumer({ group: "ledger", dedup: guard, handler: () => undefined });
    const result = await handler.processEvent(kinesisEvent(step("a", "a", "1"), step("b", "b", "2")));

    expect(result.summary).toMatchObject({ processed: 2, payloadMismatches: 0, failed: 0, heldBack: 0 });
  });
});

describe("a stream's unreadable records", () => {
  it("are all dead-lettered when nothing in the batch failed", async () => {
    const deadLetters = new RecordingDeadLetters();
    const handler = kinesisConsumer({
      group: "ledger",
      deadLetterSink: deadLetters,
      handler: () => undefined,
    });
    const result = await handler.processEvent(
      kinesisEvent(unreadable("a", "1"), step("b", "b", "2"), unreadable("c", "3"), unreadable("d", "4")),
    );

    expect(result.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.sourceRecordId)).toEqual(["1", "3", "4"]);
  });

  it("wait behind one held back earlier in the batch", async () => {
    const guard = new ScriptedGuard({ a: { kind: "retry-later", reason: "in flight elsewhere" } });
    const deadLetters = new RecordingDeadLetters();
    const handler = kinesisConsumer({
      group: "ledger",
      ordering: "key",
      dedup: guard,
      deadLetterSink: deadLetters,
      handler: () => undefined,
    });
    const result = await handler.processEvent(kinesisEvent(step("a", "a", "1"), unreadable("b", "2")));

    expect(result.outcomes[1]).toEqual({ kind: "not-run", blockedBy: "1" });
    expect(deadLetters.letters).toEqual([]);
  });

  it("are dead-lettered in record order: one that cannot be sent holds back the unreadable records after it", async () => {
    // Lane "a" (records 1 and 4) runs before lane "b" (records 2 and 3): record order, not lane order, decides.
    const deadLetters = new RefusingDeadLetters(new Set(["2"]));
    const handler = kinesisConsumer({
      group: "ledger",
      ordering: "key",
      deadLetterSink: deadLetters,
      handler: () => undefined,
    });
    const result = await handler.processEvent(
      kinesisEvent(step("a1", "a", "1"), unreadable("b", "2"), step("b2", "b", "3"), unreadable("a", "4")),
    );

    expect(result.outcomes[1]).toEqual({ kind: "failed", error: "Error: dead-letter queue unavailable" });
    expect(result.outcomes[3]).toEqual({ kind: "not-run", blockedBy: "2" });
    expect(deadLetters.letters).toEqual([]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: "2" }, { itemIdentifier: "4" }]);
  });
});

describe("dead letters and observer events", () => {
  it("carry the message id and the delivery attempt", async () => {
    const deadLetters = new RecordingDeadLetters();
    const observer = new RecordingObserver();
    const handler = sqsConsumer({
      group: "billing",
      deadLetterSink: deadLetters,
      observer,
      maxReceiveCount: 5,
      handler: () => {
        throw new Error("boom");
      },
    });
    await handler(
      sqsEvent(
        sqsRecord({ messageId: "sqs-1", body: envelopeBody({ id: "env-1", payload: {} }), receiveCount: 2 }),
        sqsRecord({ messageId: "sqs-2", body: envelopeBody({ id: "env-2", payload: {} }), receiveCount: 5 }),
      ),
    );

    expect(observer.events).toContainEqual({
      kind: "failed",
      group: "billing",
      sourceRecordId: "sqs-1",
      messageId: "env-1",
      attempt: 2,
      error: new Error("boom"),
    });
    expect(observer.events).toContainEqual({
      kind: "dead-lettered",
      group: "billing",
      sourceRecordId: "sqs-2",
      messageId: "env-2",
      attempt: 5,
      reason: POISON_REASONS.retriesExhausted,
      detail: "Error: boom (attempt 5 of 5)",
    });
    expect(deadLetters.letters[0]).toMatchObject({ messageId: "env-2", attempt: 5, sourceRecordId: "sqs-2" });
  });

  it("a record held back on its last receive is dead-lettered with why it could not run", async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupStore();
    store.records.set("billing#env-1", {
      key: "billing#env-1",
      status: "IN_PROGRESS",
      token: "someone-else",
      leaseExpiresAt: clock.ms + 60_000,
      // The same message (type, key, payload) in flight elsewhere, not another message reusing its id.
      fingerprint: fingerprintOf(`order.placed\n\n${JSON.stringify({})}`),
      expiresAt: Math.floor(clock.ms / 1000) + 3600,
    });
    const deadLetters = new RecordingDeadLetters();
    const ran: string[] = [];
    const handler = sqsConsumer({
      group: "billing",
      deadLetterSink: deadLetters,
      observer: new RecordingObserver(),
      maxReceiveCount: 3,
      dedup: dynamoDbDedup({ store, now: clock.now, sleep: clock.sleep } as never),
      handler: (message: MessageEnvelope) => {
        ran.push(message.id);
      },
    });
    const body = envelopeBody({ id: "env-1", payload: {} });
    const early = await handler.processEvent(
      sqsEvent(sqsRecord({ messageId: "q-1", body, receiveCount: 2 })),
    );
    const last = await handler.processEvent(sqsEvent(sqsRecord({ messageId: "q-1", body, receiveCount: 3 })));

    expect(early.outcomes[0]?.kind).toBe("held-back");
    expect(last.outcomes[0]).toEqual({ kind: "dead-lettered", reason: POISON_REASONS.retriesExhausted });
    expect(deadLetters.letters[0]?.detail).toMatch(
      /being processed by another worker .* \(attempt 3 of 3\)$/,
    );
    expect(ran).toEqual([]);
  });

  it("an observer without recordHeldBack (it is optional) is not called for held-back records", async () => {
    const guard = new ScriptedGuard({ a: { kind: "retry-later", reason: "in flight elsewhere" } });
    const batches: number[] = [];
    const handler = kinesisConsumer({
      group: "ledger",
      dedup: guard,
      observer: {
        recordFailed: () => undefined,
        recordDeadLettered: () => undefined,
        deadLetterFailed: () => undefined,
        batchCompleted: (summary) => batches.push(summary.heldBack),
      },
      handler: () => undefined,
    });
    const response = await handler(kinesisEvent(step("a", "a", "1")));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "1" }]);
    expect(batches).toEqual([1]);
  });
});

describe("handlers and batches of every shape", () => {
  it("accepts synchronous handlers that return undefined or null", async () => {
    for (const returned of [undefined, null]) {
      const handler = sqsConsumer({ group: "billing", handler: () => returned as never });
      const response = await handler(sqsEvent(sqsRecord(), sqsRecord()));
      expect(response.batchItemFailures).toEqual([]);
    }
  });

  it("answers an empty batch with no failures and an empty summary", async () => {
    const observer = new RecordingObserver();
    const handler = sqsConsumer({ group: "billing", observer, handler: () => undefined });
    const result = await handler.processEvent(sqsEvent());

    expect(result.batchItemFailures).toEqual([]);
    expect(observer.batches[0]).toMatchObject({ source: "", received: 0, processed: 0 });
  });

  it("reports the batch's duration in milliseconds, no more than the call took", async () => {
    const observer = new RecordingObserver();
    const handler = sqsConsumer({
      group: "billing",
      observer,
      handler: () => new Promise<void>((resolve) => setTimeout(resolve, 25)),
    });
    const before = performance.now();
    await handler(sqsEvent(sqsRecord()));
    const elapsed = performance.now() - before;

    const duration = observer.batches[0]?.durationMs ?? Number.NaN;
    // A 25 ms timer never fires early by more than Node's 1 ms rounding; the upper bound is the call itself.
    expect(duration).toBeGreaterThanOrEqual(20);
    expect(duration).toBeLessThanOrEqual(elapsed + 0.01);
  });
});

describe("kinesisCheckpoints and unreadable records", () => {
  it("remembers an unreadable record it dead-lettered: Lambda's replay of the batch does not dead-letter it again", async () => {
    const deadLetters = new RecordingDeadLetters();
    const handler = kinesisConsumer({
      group: "ledger",
      dedup: kinesisCheckpoints({ store: new InMemoryDedupStore() }),
      deadLetterSink: deadLetters,
      handler: () => undefined,
    });
    const batch = kinesisEvent(step("a", "a", "1"), unreadable("b", "2"), step("c", "c", "3"));

    await handler(batch);
    const replay = await handler.processEvent(batch);

    expect(deadLetters.letters.map((letter) => letter.sourceRecordId)).toEqual(["2"]);
    expect(replay.outcomes.map((outcome) => outcome.kind)).toEqual(["skipped", "skipped", "skipped"]);
  });
});
