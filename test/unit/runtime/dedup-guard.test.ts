/**
 * The dedup guard's decisions, driven directly (admit, run, settle) over the in-memory store and a fake
 * clock: what it runs, skips, retries later or dead-letters, how long it waits for a claim another
 * invocation left on a stream, and when it spends a read on the prefilter.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumerLogger } from "../../../lambdas/runtime/consumers/observability.js";
import type {
  Admission,
  BatchInfo,
  GuardedRecord,
} from "../../../lambdas/runtime/consumers/processing-guard.js";
import { dynamoDbDedup } from "../../../lambdas/runtime/dedup/dedup-guard.js";
import type { DedupRecord } from "../../../lambdas/runtime/dedup/dedup-store.js";
import { LEASE_WAIT_RESERVE_MS } from "../../../lambdas/runtime/dedup/guard-options.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import {
  ConfigurationError,
  RetryLaterError,
  TransactionCancelledError,
} from "../../../lambdas/runtime/errors.js";
import { DEFAULT_RETRY_POLICY } from "../../../lambdas/runtime/retry.js";
import { AccessDenied, ThrottlingError } from "../../support/fake-clients.js";
import { FakeClock } from "../../support/fake-clock.js";

const record = (id: string, extra: Partial<GuardedRecord> = {}): GuardedRecord => ({
  messageId: id,
  message: { id },
  fingerprint: `fp-${id}`,
  sourceRecordId: `src-${id}`,
  ...extra,
});
const onShard = (id: string) => record(id, { shardId: "shardId-0", sequenceNumber: "1" });

function setUp(options: Parameters<typeof dynamoDbDedup>[0] = {}) {
  const clock = new FakeClock();
  const store = new InMemoryDedupStore();
  const guard = dynamoDbDedup({ ...options, store, now: clock.now, sleep: clock.sleep } as never);
  const batch = (remainingMs?: number): BatchInfo => ({
    group: "ledger",
    source: "arn:aws:kinesis:us-east-1:000000000000:stream/payments",
    lambdaContext: remainingMs === undefined ? undefined : clock.invocation(remainingMs),
  });
  /** Another invocation's claim on `id`, held until `until`. */
  const heldElsewhere = (id: string, until: number) =>
    store.records.set(`ledger#${id}`, {
      key: `ledger#${id}`,
      status: "IN_PROGRESS",
      token: "someone-else",
      leaseExpiresAt: until,
      fingerprint: `fp-${id}`,
      expiresAt: Math.floor(clock.ms / 1000) + 3600,
    });
  return { clock, store, guard, batch, heldElsewhere };
}

const kinds = (admissions: Admission[]) => admissions.map((admission) => admission.kind);

describe("a claim another invocation left behind", () => {
  it("is waited out on a stream, within the invocation's time, and then taken with a fresh lease", async () => {
    const { clock, guard, batch, heldElsewhere, store } = setUp();
    const start = clock.ms;
    heldElsewhere("a", start + 5_000);

    const admissions = await guard.admit([onShard("a")], batch(30_000));

    expect(kinds(admissions)).toEqual(["run"]);
    expect(clock.ms).toBe(start + 5_001); // just past the lease, not a moment longer
    // The new lease runs to the end of this invocation, counted from when it was taken.
    expect(store.records.get("ledger#a")?.leaseExpiresAt).toBe(start + 30_000);
  });

  it("left on several records of a stream, is waited out once, until the last of them ends", async () => {
    const { clock, guard, batch, heldElsewhere, store } = setUp();
    const start = clock.ms;
    heldElsewhere("a", start + 5_000);
    heldElsewhere("b", start + 8_000);

    const admissions = await guard.admit([onShard("a"), onShard("b"), onShard("free")], batch(30_000));

    expect(kinds(admissions)).toEqual(["run", "run", "run"]);
    expect(clock.ms).toBe(start + 8_001);
    expect(store.calls.claim).toBe(5); // the held ones claimed twice: before and after the one wait
  });

  it("is not waited for on SQS, which holds the message back and redelivers it; the rest of the batch runs", async () => {
    const { clock, guard, batch, heldElsewhere } = setUp();
    const start = clock.ms;
    heldElsewhere("a", start + 5_000);

    const admissions = await guard.admit([record("a"), record("b")], batch(30_000));

    expect(kinds(admissions)).toEqual(["retry-later", "run"]);
    expect(clock.ms).toBe(start);
  });

  it("is waited for only until the time to process runs short, then comes back later", async () => {
    const { clock, guard, batch, heldElsewhere } = setUp();
    const start = clock.ms;
    heldElsewhere("a", start + 60_000);

    const admissions = await guard.admit([onShard("a")], batch(20_000));

    expect(admissions[0]).toMatchObject({
      kind: "retry-later",
      reason: `being processed by another worker until ${new Date(start + 60_000).toISOString()}`,
    });
    expect(clock.ms).toBe(start + 20_000 - LEASE_WAIT_RESERVE_MS);
  });

  it("is not waited for on a queue (the message comes back by itself) or outside Lambda", async () => {
    const queue = setUp();
    queue.heldElsewhere("a", queue.clock.ms + 5_000);
    const before = queue.clock.ms;
    expect(kinds(await queue.guard.admit([record("a")], queue.batch(30_000)))).toEqual(["retry-later"]);
    expect(queue.clock.ms).toBe(before);

    const local = setUp();
    local.heldElsewhere("a", local.clock.ms + 5_000);
    const localBefore = local.clock.ms;
    expect(kinds(await local.guard.admit([onShard("a")], local.batch()))).toEqual(["retry-later"]);
    expect(local.clock.ms).toBe(localBefore);
  });

  it("is waited for a bounded number of rounds when its holder keeps renewing it", async () => {
    const { clock, guard, batch, store } = setUp();
    let claims = 0;
    const claim = store.claim.bind(store);
    store.claim = async (requests, now) => {
      claims++;
      store.records.set("ledger#a", {
        key: "ledger#a",
        status: "IN_PROGRESS",
        token: "renewer",
        leaseExpiresAt: clock.ms + 10,
        fingerprint: "fp-a",
        expiresAt: Math.floor(clock.ms / 1000) + 3600,
      });
      return claim(requests, now);
    };

    expect(kinds(await guard.admit([onShard("a")], batch(600_000)))).toEqual(["retry-later"]);
    expect(claims).toBe(9); // the first try and 8 waits
  });
});

describe("copies of a message within one batch", () => {
  it("run once; a copy with other content under the same id is dead-lettered as a payload mismatch", async () => {
    const { guard, batch } = setUp();
    const admissions = await guard.admit(
      [record("a"), record("a"), record("a", { fingerprint: "other" }), record("b")],
      batch(30_000),
    );
    expect(admissions).toEqual([
      expect.objectContaining({ kind: "run" }),
      { kind: "skip", reason: "duplicate within the batch" },
      {
        kind: "poison",
        reason: "payload-mismatch",
        detail: "message id a appears earlier in the same batch with different content",
        payloadMismatch: true,
      },
      expect.objectContaining({ kind: "run" }),
    ]);
  });

  it("with other content are acknowledged instead when the group says so", async () => {
    const { guard, batch } = setUp({ onPayloadMismatch: "skip" });
    const [, copy] = await guard.admit([record("a"), record("a", { fingerprint: "other" })], batch(30_000));
    expect(copy).toEqual({
      kind: "skip",
      reason: "message id a appears earlier in the same batch with different content",
      payloadMismatch: true,
    });
  });
});

describe("the prefilter read", () => {
  async function completed(setup: ReturnType<typeof setUp>, ids: string[]) {
    const admissions = await setup.guard.admit(
      ids.map((id) => record(id)),
      setup.batch(30_000),
    );
    await setup.guard.settle(
      ids.map((id, index) => ({
        record: record(id),
        admission: admissions[index] as Admission,
        outcome: "processed",
      })),
      setup.batch(30_000),
    );
  }

  it("is never made with `never`, always with `always`", async () => {
    const never = setUp({ prefilter: "never" });
    await completed(never, ["a"]);
    await never.guard.admit([record("a", { attempt: 5 })], never.batch(30_000));
    expect(never.store.calls.read).toBe(0);

    const always = setUp({ prefilter: "always" });
    await always.guard.admit([record("a")], always.batch(30_000));
    expect(always.store.calls.read).toBe(1);
  });

  it("is made by default for a batch with a redelivered message, and after a batch of duplicates, until new messages return", async () => {
    const setup = setUp();
    await completed(setup, ["a", "b"]);
    expect(setup.store.calls.read).toBe(0);

    // A redelivery (attempt 2) turns it on at once; a first delivery does not.
    await setup.guard.admit([record("n1", { attempt: 1 })], setup.batch(30_000));
    expect(setup.store.calls.read).toBe(0);
    const redelivered = await setup.guard.admit([record("a", { attempt: 2 })], setup.batch(30_000));
    // One redelivered message among first deliveries is enough.
    await setUp().guard.admit(
      [record("n0", { attempt: 1 }), record("a", { attempt: 2 })],
      setup.batch(30_000),
    );
    expect(redelivered).toEqual([{ kind: "skip", reason: "duplicate: already processed" }]);
    expect(setup.store.calls.read).toBe(1);
    const claimsBefore = setup.store.calls.claim;

    // Duplicates dominated: the next batch is read first too, and its duplicates cost no claim.
    await setup.guard.admit([record("a"), record("b")], setup.batch(30_000));
    expect(setup.store.calls.read).toBe(2);
    expect(setup.store.calls.claim).toBe(claimsBefore);

    // A batch of new messages turns it off again.
    await setup.guard.admit([record("n2"), record("n3")], setup.batch(30_000));
    await setup.guard.admit([record("n4")], setup.batch(30_000));
    expect(setup.store.calls.read).toBe(3);
  });

  it("still turns on after an empty batch (every record undecodable, say)", async () => {
    const setup = setUp();
    await completed(setup, ["a", "b"]);
    await setup.guard.admit([], setup.batch(30_000));
    await setup.guard.admit([record("a"), record("b")], setup.batch(30_000));
    const reads = setup.store.calls.read;
    await setup.guard.admit([record("a")], setup.batch(30_000));
    expect(setup.store.calls.read).toBe(reads + 1);
  });

  it("takes a completed record past its retention for a new message", async () => {
    const setup = setUp({ prefilter: "always" });
    const nowSeconds = Math.floor(setup.clock.ms / 1000);
    const done = (expiresAt: number) => ({
      key: "",
      status: "COMPLETED" as const,
      fingerprint: "fp-a",
      expiresAt,
    });
    setup.store.records.set("ledger#a", { ...done(nowSeconds - 1), key: "ledger#a" });
    setup.store.records.set("ledger#b", { ...done(nowSeconds), key: "ledger#b", fingerprint: "fp-b" });

    expect(kinds(await setup.guard.admit([record("a"), record("b")], setup.batch(30_000)))).toEqual([
      "run",
      "skip",
    ]);
  });
});

describe("running and settling", () => {
  it("gives a plain handler no transaction, and a transactional one a transaction that commits with the completion", async () => {
    const plain = setUp();
    const [admission] = await plain.guard.admit([record("a")], plain.batch(30_000));
    let seen: unknown = "unset";
    await plain.guard.run(record("a"), admission as Admission & { kind: "run" }, async ({ transaction }) => {
      seen = transaction;
    });
    expect(seen).toBeUndefined();

    const tx = setUp({ mode: "transactional" });
    const [txAdmission] = await tx.guard.admit([record("a")], tx.batch(30_000));
    await tx.guard.run(record("a"), txAdmission as Admission & { kind: "run" }, async ({ transaction }) => {
      transaction?.write({ Put: { TableName: "ledger", Item: { id: { S: "entry" } } } });
    });
    expect(tx.store.records.get("ledger#a")?.status).toBe("COMPLETED");
    expect(tx.store.committed).toEqual([[{ Put: { TableName: "ledger", Item: { id: { S: "entry" } } } }]]);
  });

  it("answers a transaction whose claim was taken over with retry-later, and lets other cancellations through", async () => {
    const { guard, batch, store } = setUp({ mode: "transactional" });
    const [admission] = await guard.admit([record("a")], batch(30_000));
    store.records.set("ledger#a", { ...(store.records.get("ledger#a") as DedupRecord), token: "new-owner" });

    const lost = await guard
      .run(record("a"), admission as Admission & { kind: "run" }, async () => {})
      .catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(RetryLaterError);
    expect((lost as Error).message).toMatch(/; the message now belongs to another worker$/);
    expect((lost as Error).cause).toBeInstanceOf(TransactionCancelledError);

    store.commit = async () => {
      throw new TransactionCancelledError("ledger#a", [
        { index: 1, action: "Put ledger", code: "ValidationError" },
      ]);
    };
    await expect(
      guard.run(record("a"), admission as Admission & { kind: "run" }, async () => {}),
    ).rejects.toBeInstanceOf(TransactionCancelledError);
  });

  it("completes what was processed, releases what was not, and leaves others' records alone", async () => {
    const { guard, batch, store, heldElsewhere, clock } = setUp();
    heldElsewhere("held", clock.ms + 60_000);
    const records = [record("ok"), record("failed"), record("dead"), record("held")];
    const admissions = await guard.admit(records, batch(30_000));
    const outcomes = ["processed", "failed", "dead-lettered", "not-run"] as const;

    await guard.settle(
      records.map((entry, index) => ({
        record: entry,
        admission: admissions[index] as Admission,
        outcome: outcomes[index] as never,
      })),
      batch(30_000),
    );

    expect(store.records.get("ledger#ok")?.status).toBe("COMPLETED");
    expect(store.records.has("ledger#failed")).toBe(false);
    expect(store.records.has("ledger#dead")).toBe(false);
    expect(store.records.get("ledger#held")?.token).toBe("someone-else");
    expect(store.calls.complete).toBe(1);
    expect(store.calls.release).toBe(2);
  });

  it("makes no store call when there is nothing to complete or release", async () => {
    const { guard, batch, store } = setUp({ mode: "transactional" });
    const complete = vi.spyOn(store, "complete");
    const release = vi.spyOn(store, "release");
    await guard.settle([], batch(30_000));
    expect(store.calls).toMatchObject({ complete: 0, release: 0 });

    // Plain mode: a batch that all processed releases nothing; one that all failed completes nothing.
    const plain = setUp();
    const plainComplete = vi.spyOn(plain.store, "complete");
    const plainRelease = vi.spyOn(plain.store, "release");
    const settleAll = async (id: string, outcome: "processed" | "failed") => {
      const [admission] = await plain.guard.admit([record(id)], plain.batch(30_000));
      await plain.guard.settle(
        [{ record: record(id), admission: admission as Admission, outcome }],
        plain.batch(30_000),
      );
    };
    await settleAll("p", "processed");
    expect([plainComplete.mock.calls.length, plainRelease.mock.calls.length]).toEqual([1, 0]);
    await settleAll("f", "failed");
    expect([plainComplete.mock.calls.length, plainRelease.mock.calls.length]).toEqual([1, 1]);
    expect([complete.mock.calls.length, release.mock.calls.length]).toEqual([0, 0]);
  });

  it("completes and releases only its own claims, never a duplicate it skipped", async () => {
    const { guard, batch, store } = setUp();
    const [first] = await guard.admit([record("a")], batch(30_000));
    await guard.settle(
      [{ record: record("a"), admission: first as Admission, outcome: "processed" }],
      batch(30_000),
    );
    const complete = vi.spyOn(store, "complete");
    const release = vi.spyOn(store, "release");

    const [again] = await guard.admit([record("a", { attempt: 2 })], batch(30_000));
    expect(again?.kind).toBe("skip");
    await guard.settle(
      [{ record: record("a"), admission: again as Admission, outcome: "processed" }],
      batch(30_000),
    );
    await guard.settle(
      [{ record: record("a"), admission: again as Admission, outcome: "failed" }],
      batch(30_000),
    );

    expect(complete).not.toHaveBeenCalled();
    expect(release).not.toHaveBeenCalled();
    expect(store.records.get("ledger#a")?.status).toBe("COMPLETED");
  });
});

describe("what settling logs when the store lets it down", () => {
  /** The group's logger, spied on: what an operator reads in CloudWatch. */
  function logged() {
    const warn = vi.spyOn(consumerLogger("ledger"), "warn");
    const error = vi.spyOn(consumerLogger("ledger"), "error");
    return () => [
      ...warn.mock.calls.map((call) => ["warn", ...call]),
      ...error.mock.calls.map((call) => ["error", ...call]),
    ];
  }
  async function settleOne(setup: ReturnType<typeof setUp>, outcome: "processed" | "failed") {
    const [admission] = await setup.guard.admit([record("a")], setup.batch(30_000));
    await setup.guard.settle(
      [{ record: record("a"), admission: admission as Admission, outcome }],
      setup.batch(30_000),
    );
  }
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("warns, naming the keys, when a completion came too late: another worker owns the message now", async () => {
    const setup = setUp();
    const lines = logged();
    setup.store.complete = async (completions) => completions.map((completion) => completion.key);
    await settleOne(setup, "processed");
    expect(lines()).toEqual([
      [
        "warn",
        "processed messages were not marked completed: their lease ran out and another worker owns them now",
        { keys: ["ledger#a"] },
      ],
    ]);
  });

  it("logs an error with the count when completions fail past their retries, and nothing when they succeed", async () => {
    const ok = setUp();
    const quiet = logged();
    await settleOne(ok, "processed");
    expect(quiet()).toEqual([]);

    const broken = setUp();
    broken.store.complete = async () => {
      throw new Error("ProvisionedThroughputExceededException");
    };
    await settleOne(broken, "processed");
    expect(quiet()).toEqual([
      [
        "error",
        "could not mark processed messages completed; a redelivery within their lease would run them again",
        { count: 1, error: "Error: ProvisionedThroughputExceededException" },
      ],
    ]);
  });

  it("retries a store call that failed transiently, up to the retry policy's attempts, and a refusal not at all", async () => {
    const attempts = async (failures: number, error: () => Error) => {
      const setup = setUp();
      let calls = 0;
      setup.store.complete = async () => {
        calls++;
        if (calls <= failures) throw error();
        return [];
      };
      await settleOne(setup, "processed");
      return calls;
    };
    const lines = logged();
    expect(await attempts(2, () => new ThrottlingError("slow down"))).toBe(3);
    expect(lines()).toEqual([]);
    expect(await attempts(100, () => new ThrottlingError("slow down"))).toBe(
      DEFAULT_RETRY_POLICY.maxAttempts,
    );
    expect(await attempts(100, () => new AccessDenied("not authorized"))).toBe(1);
  });

  it("warns with the count when releases fail past their retries", async () => {
    const broken = setUp();
    const lines = logged();
    broken.store.release = async () => {
      throw new Error("ProvisionedThroughputExceededException");
    };
    await settleOne(broken, "failed");
    expect(lines()).toEqual([
      [
        "warn",
        "could not release claims; they will be taken over when their lease ends",
        { count: 1, error: "Error: ProvisionedThroughputExceededException" },
      ],
    ]);
  });
});

describe("leases and retention", () => {
  it("caps a claim's lease at maxLeaseMs, and keeps a completed message 14 days by default", async () => {
    const saved = process.env.BROKER_DEDUP_RETENTION_SECONDS;
    delete process.env.BROKER_DEDUP_RETENTION_SECONDS;
    try {
      const { guard, batch, clock, store } = setUp({ maxLeaseMs: 10_000 });
      await guard.admit([record("a")], batch(60_000));
      expect(store.records.get("ledger#a")).toMatchObject({
        leaseExpiresAt: clock.ms + 10_000,
        expiresAt: Math.floor(clock.ms / 1000) + 14 * 24 * 3600,
      });
    } finally {
      if (saved !== undefined) process.env.BROKER_DEDUP_RETENTION_SECONDS = saved;
    }
  });
});

describe("configuration", () => {
  it("names the dedup table it needs and how to give it", () => {
    const saved = process.env.BROKER_DEDUP_TABLE_NAME;
    delete process.env.BROKER_DEDUP_TABLE_NAME;
    try {
      expect(() => dynamoDbDedup()).toThrow(ConfigurationError);
      expect(() => dynamoDbDedup()).toThrow(
        "dynamoDbDedup needs the dedup table: pass { tableName } or set BROKER_DEDUP_TABLE_NAME " +
          "(the DedupTable construct sets it for the consumers it is bound to).",
      );
    } finally {
      if (saved !== undefined) process.env.BROKER_DEDUP_TABLE_NAME = saved;
    }
  });
});
