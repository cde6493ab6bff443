/**
 * The Kinesis checkpoint guard's decisions, driven directly (admit, settle) over the in-memory store and
 * a fake clock: the shard lease another invocation left, what the checkpoint skips, and where it moves.
 */
import { afterEach, describe, expect, it } from "vitest";
import type {
  Admission,
  BatchInfo,
  GuardedRecord,
  SettledOutcome,
} from "../../../lambdas/runtime/consumers/processing-guard.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { LEASE_WAIT_RESERVE_MS } from "../../../lambdas/runtime/dedup/guard-options.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import { ConfigurationError } from "../../../lambdas/runtime/errors.js";
import { FakeClock } from "../../support/fake-clock.js";

const SHARD = "shardId-000000000000";
const KEY = `checkpoint#ledger#${SHARD}`;
// Real Kinesis sequence numbers are too large for a JavaScript number: compared as BigInt.
const BASE = 49590338271490256608559692538361571095921575989136588800n;
const seq = (offset: number) => String(BASE + BigInt(offset));

const record = (id: string, offset: number, extra: Partial<GuardedRecord> = {}): GuardedRecord => ({
  messageId: id,
  message: { id },
  fingerprint: `fp-${id}`,
  sourceRecordId: seq(offset),
  shardId: SHARD,
  sequenceNumber: seq(offset),
  ...extra,
});

function setUp(windowSize?: number) {
  const clock = new FakeClock();
  const store = new InMemoryDedupStore();
  const guard = kinesisCheckpoints({
    store,
    now: clock.now,
    sleep: clock.sleep,
    ...(windowSize ? { windowSize } : {}),
  });
  const batch = (remainingMs?: number): BatchInfo => ({
    group: "ledger",
    source: "arn:aws:kinesis:us-east-1:000000000000:stream/payments",
    lambdaContext: remainingMs === undefined ? undefined : clock.invocation(remainingMs),
  });
  /** One invocation: admit, every admitted record ends as `outcomes` says (processed by default), settle. */
  const invoke = async (records: GuardedRecord[], outcomes: Record<string, SettledOutcome> = {}) => {
    const admissions = await guard.admit(records, batch(60_000));
    await guard.settle(
      records.map((entry, index) => {
        const admission = admissions[index] as Admission;
        const outcome =
          admission.kind === "run"
            ? (outcomes[entry.messageId] ?? "processed")
            : admission.kind === "poison"
              ? "dead-lettered"
              : admission.kind === "skip"
                ? "processed"
                : "not-run";
        return { record: entry, admission, outcome };
      }),
      batch(60_000),
    );
    return admissions.map((admission) => admission.kind);
  };
  return { clock, store, guard, batch, invoke };
}

afterEach(() => {
  delete process.env.BROKER_PARALLELIZATION_FACTOR;
});

describe("a shard lease another invocation left behind", () => {
  it("is waited out within the invocation's time, just past its end", async () => {
    const { clock, store, guard, batch } = setUp();
    const start = clock.ms;
    await store.acquireCheckpoint(KEY, "crashed", start + 5_000, start);

    const admissions = await guard.admit([record("a", 1)], batch(30_000));

    expect(admissions.map((admission) => admission.kind)).toEqual(["run"]);
    expect(clock.ms).toBe(start + 5_001);
    expect(store.calls.acquireCheckpoint).toBe(3); // the crashed one's, ours refused, ours after one wait
  });

  it("is waited for until the time kept to process, then every record of the shard comes back later", async () => {
    const { clock, store, guard, batch } = setUp();
    const start = clock.ms;
    await store.acquireCheckpoint(KEY, "slow", start + 60_000, start);

    const admissions = await guard.admit([record("a", 1), record("b", 2)], batch(20_000));

    expect(admissions).toEqual([
      {
        kind: "retry-later",
        reason: `shard ${SHARD} is being processed by another worker until ${new Date(start + 60_000).toISOString()}`,
      },
      expect.objectContaining({ kind: "retry-later" }),
    ]);
    expect(clock.ms).toBe(start + 20_000 - LEASE_WAIT_RESERVE_MS);
  });

  it("is not waited for outside Lambda, and only a bounded number of rounds when renewed", async () => {
    const local = setUp();
    await local.store.acquireCheckpoint(KEY, "other", local.clock.ms + 5_000, local.clock.ms);
    const before = local.clock.ms;
    expect((await local.guard.admit([record("a", 1)], local.batch()))[0]?.kind).toBe("retry-later");
    expect(local.clock.ms).toBe(before);

    const renewed = setUp();
    // Its holder renews the lease each time it is about to run out.
    let attempts = 0;
    renewed.store.acquireCheckpoint = async (_key, _token, _until, now) => {
      attempts++;
      return { outcome: "held", leaseExpiresAt: now + 10 };
    };
    expect((await renewed.guard.admit([record("a", 1)], renewed.batch(600_000)))[0]?.kind).toBe(
      "retry-later",
    );
    expect(attempts).toBe(9); // the first try and 8 waits
  });
});

describe("what the checkpoint skips", () => {
  it("skips records at or below the committed sequence number, a Lambda retry or replay", async () => {
    const { invoke, store } = setUp();
    await invoke([record("a", 1), record("b", 2)]);
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBe(seq(2));

    expect(await invoke([record("b", 2), record("c", 3)])).toEqual(["skip", "run"]);
    expect(await invoke([record("a-again", 1)])).toEqual(["skip"]);
    // By its place in the shard, whatever it carries: the record at the checkpoint itself is skipped too.
    expect(await invoke([record("never-seen", 2)])).toEqual(["skip"]);
  });

  it("skips a producer retry (same id, new sequence number) while it is in the window of recent ids", async () => {
    const { invoke } = setUp(2);
    await invoke([record("a", 1), record("b", 2), record("c", 3)]);
    // The window holds the last two: b and c. a has left it.
    expect(await invoke([record("a", 4), record("b", 5), record("c", 6)])).toEqual(["run", "skip", "skip"]);
  });

  it("dead-letters a copy with other content under an id seen earlier in the batch, skips an identical one", async () => {
    const { guard, batch } = setUp();
    const admissions = await guard.admit(
      [record("a", 1), record("a", 2), record("a", 3, { fingerprint: "other" })],
      batch(30_000),
    );
    expect(admissions.map((admission) => admission.kind)).toEqual(["run", "skip", "poison"]);
    expect(admissions[2]).toMatchObject({
      reason: "payload-mismatch",
      detail: "message id a appears earlier in the same batch with different content",
      payloadMismatch: true,
    });
  });
});

describe("where the checkpoint moves", () => {
  it("never backwards: a replay from the shard's start skips every record up to the checkpoint", async () => {
    // A mapping recreated at TRIM_HORIZON, or a replay, sends the shard's old records again, one batch at a time.
    const { invoke, store } = setUp(1);
    await invoke([record("a", 1), record("b", 2), record("c", 3)]);

    expect(await invoke([record("a", 1)])).toEqual(["skip"]);
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBe(seq(3));
    expect(await invoke([record("b", 2), record("c", 3), record("d", 4)])).toEqual(["skip", "skip", "run"]);
  });

  it("to the end of the finished prefix; records finished past a failure are remembered until it passes them", async () => {
    const { invoke, store } = setUp();
    // b fails: the checkpoint stops at a; c and d (other keys) finished past it.
    await invoke([record("a", 1), record("b", 2), record("c", 3), record("d", 4)], { b: "failed" });
    const afterFailure = store.checkpointOf(KEY);
    expect(afterFailure?.sequenceNumber).toBe(seq(1));
    expect(afterFailure?.pastIds).toHaveLength(2);

    // Lambda replays from b: c and d are skipped, and once passed they are forgotten.
    expect(await invoke([record("b", 2), record("c", 3), record("d", 4)])).toEqual(["run", "skip", "skip"]);
    expect(store.checkpointOf(KEY)).toMatchObject({ sequenceNumber: seq(4), pastIds: [] });
  });

  it("keeps what it remembers past the checkpoint when a smaller retry batch does not reach it", async () => {
    const { invoke, store } = setUp();
    await invoke([record("a", 1), record("b", 2), record("c", 3), record("d", 4)], { b: "failed" });
    // Lambda may retry with fewer records (a bisected batch): only b comes back, and runs.
    expect(await invoke([record("b", 2)])).toEqual(["run"]);
    expect(store.checkpointOf(KEY)).toMatchObject({ sequenceNumber: seq(2) });
    expect(store.checkpointOf(KEY)?.pastIds).toHaveLength(2);
    expect(await invoke([record("c", 3), record("d", 4)])).toEqual(["skip", "skip"]);
  });

  it("remembers only the ids that ran, as 11-character hashes, in the window of recent ids", async () => {
    const { invoke, store } = setUp();
    await invoke([record("a", 1), record("b", 2)]);
    await invoke([record("b", 3), record("c", 4)]); // b: a producer retry, skipped
    const recentIds = store.checkpointOf(KEY)?.recentIds ?? [];
    expect(recentIds).toHaveLength(3);
    expect(new Set(recentIds).size).toBe(3);
    expect(recentIds.every((idHash) => /^[\w-]{11}$/.test(idHash))).toBe(true);
  });

  it("keeps a remembered record that finished again past a new failure", async () => {
    const { invoke, store } = setUp();
    await invoke([record("a", 1), record("b", 2), record("c", 3)], { a: "failed" });
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBeUndefined();
    expect(store.checkpointOf(KEY)?.pastIds).toHaveLength(2);

    await invoke([record("a", 1), record("b", 2), record("c", 3)], { a: "failed" });
    expect(store.checkpointOf(KEY)?.pastIds).toHaveLength(2);
    expect(await invoke([record("a", 1), record("b", 2), record("c", 3)])).toEqual(["run", "skip", "skip"]);
  });

  it("moves past a dead-lettered record, and does not move when the lease was taken over meanwhile", async () => {
    const { guard, batch, store, clock } = setUp();
    const records = [record("a", 1), record("bad", 2)];
    const admissions = await guard.admit(records, batch(60_000));
    await guard.settle(
      [
        { record: records[0] as GuardedRecord, admission: admissions[0] as Admission, outcome: "processed" },
        {
          record: records[1] as GuardedRecord,
          admission: admissions[1] as Admission,
          outcome: "dead-lettered",
        },
      ],
      batch(60_000),
    );
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBe(seq(2));

    const next = await guard.admit([record("c", 3)], batch(1_000));
    clock.advance(2_000);
    await store.acquireCheckpoint(KEY, "new-owner", clock.ms + 60_000, clock.ms);
    await guard.settle(
      [{ record: record("c", 3), admission: next[0] as Admission, outcome: "processed" }],
      batch(60_000),
    );
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBe(seq(2));
  });

  it("is committed again after a transient failure of the store", async () => {
    const { guard, batch, store } = setUp();
    const admissions = await guard.admit([record("a", 1)], batch(60_000));
    const commit = store.commitCheckpoint.bind(store);
    let failures = 1;
    store.commitCheckpoint = async (...args) => {
      if (failures-- > 0)
        throw Object.assign(new Error("throttled"), {
          name: "ThrottlingException",
          $metadata: { httpStatusCode: 400 },
        });
      return commit(...args);
    };
    await guard.settle(
      [{ record: record("a", 1), admission: admissions[0] as Admission, outcome: "processed" }],
      batch(60_000),
    );
    expect(store.checkpointOf(KEY)?.sequenceNumber).toBe(seq(1));
  });
});

describe("configuration", () => {
  it("refuses records without a shard and sequence number, naming the guard to use instead", async () => {
    const { guard, batch } = setUp();
    const queued = { ...record("a", 1), shardId: undefined, sequenceNumber: undefined };
    await expect(guard.admit([queued], batch(30_000))).rejects.toThrow(ConfigurationError);
    await expect(
      guard.admit([{ ...record("a", 1), sequenceNumber: undefined }], batch(30_000)),
    ).rejects.toThrow(
      "kinesisCheckpoints guards Kinesis stream records only (each names its shard and sequence number); use dynamoDbDedup() for queues and DynamoDB Streams.",
    );
  });

  it("refuses a group running with a parallelization factor above 1, and needs a table", () => {
    process.env.BROKER_PARALLELIZATION_FACTOR = "2";
    expect(() => kinesisCheckpoints({ store: new InMemoryDedupStore() })).toThrow(
      /needs ParallelizationFactor 1, but this consumer group runs with 2: several batches of one shard are in flight/,
    );
    process.env.BROKER_PARALLELIZATION_FACTOR = "1";
    expect(() => kinesisCheckpoints({ store: new InMemoryDedupStore() })).not.toThrow();
    const saved = process.env.BROKER_DEDUP_TABLE_NAME;
    delete process.env.BROKER_DEDUP_TABLE_NAME;
    try {
      expect(() => kinesisCheckpoints()).toThrow(/^kinesisCheckpoints needs the dedup table/);
    } finally {
      if (saved !== undefined) process.env.BROKER_DEDUP_TABLE_NAME = saved;
    }
  });
});
