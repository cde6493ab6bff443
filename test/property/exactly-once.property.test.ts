/**
 * Property-based tests: the real consumer wrappers and guards, driven through the event-source model with
 * random fault schedules. `npm test` runs a few hundred seeded cases; `npm run fuzz` (FUZZ_RUNS) many more.
 * A failing case shrinks to a small schedule and prints its seed.
 */
import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BatchResult } from "../../lambdas/runtime/consumers/batch-engine.js";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../lambdas/runtime/dedup/dedup-guard.js";
import type { Checkpoint, CompletionRequest } from "../../lambdas/runtime/dedup/dedup-store.js";
import { InMemoryDedupStore } from "../../lambdas/runtime/dedup/memory-dedup-store.js";
import { createEnvelope, type MessageEnvelope } from "../../lambdas/runtime/envelope.js";
import { FakeClock } from "../support/fake-clock.js";
import { RecordingDeadLetters, RecordingObserver } from "../support/recording.js";
import { type Crash, runQueue, runShard } from "./event-source-model.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);

type Mode = "checkpoints" | "plain" | "transactional";
interface Fault {
  fail: number;
  crash: number;
}

/** A store whose writes fail transiently a few times (throttling, a reset connection). */
function flakyStore(failures: { commitCheckpoint: number; release: number; complete: number }) {
  const store = new InMemoryDedupStore();
  const throttled = () => Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
  const commitCheckpoint = store.commitCheckpoint.bind(store);
  store.commitCheckpoint = async (key: string, token: string, checkpoint: Checkpoint) => {
    if (failures.commitCheckpoint-- > 0) throw throttled();
    return commitCheckpoint(key, token, checkpoint);
  };
  const release = store.release.bind(store);
  store.release = async (claims) => {
    if (failures.release-- > 0) throw throttled();
    return release(claims);
  };
  const complete = store.complete.bind(store);
  store.complete = async (completions, now) => {
    if (failures.complete-- > 0) throw throttled();
    return complete(completions, now);
  };
  return store;
}

const storeFaults = fc.record({
  commitCheckpoint: fc.nat(2),
  release: fc.nat(2),
  complete: fc.nat(2),
});

/** Counts per id, and the order in which ids first took effect. */
class Effects {
  readonly counts = new Map<string, number>();
  readonly firstOrder: string[] = [];
  add(id: string) {
    const count = this.counts.get(id) ?? 0;
    if (count === 0) this.firstOrder.push(id);
    this.counts.set(id, count + 1);
  }
}

describe("Kinesis shard, through the model of Lambda's stream event source", () => {
  const scenario = fc.record({
    mode: fc.constantFrom<Mode>("checkpoints", "plain", "transactional"),
    ordering: fc.constantFrom<"shard" | "key">("shard", "key"),
    batchSize: fc.integer({ min: 1, max: 12 }),
    bisect: fc.boolean(),
    records: fc.array(
      fc.record({
        key: fc.constantFrom("k1", "k2", "k3"),
        kind: fc.constantFrom("new", "new", "new", "new", "producer-retry", "poison"),
        fault: fc.record({ fail: fc.nat(1), crash: fc.nat(1) }),
      }),
      { minLength: 1, maxLength: 30 },
    ),
    store: storeFaults,
  });

  it("never drops a record, keeps order per key, and runs effects within each mode's window", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (spec) => {
        const clock = new FakeClock();
        const store = flakyStore({ ...spec.store });
        const effects = new Effects();
        const deadLetters = new RecordingDeadLetters();
        const faults = new Map<string, Fault>();
        let faultBudget = 5; // below retryAttempts: a bounded fault schedule must never exhaust Lambda's retries
        const envelopes: MessageEnvelope[] = [];
        const shard = spec.records.map((spec, index) => {
          const sequenceNumber = 1000 + index;
          if (spec.kind === "poison") return { sequenceNumber, partitionKey: spec.key, data: "<not json/>" };
          const original =
            spec.kind === "producer-retry" ? envelopes.find((e) => e.key === spec.key) : undefined;
          const envelope =
            original ??
            createEnvelope({ id: `m${index}`, type: "posted", key: spec.key, payload: { index } });
          if (!original) envelopes.push(envelope);
          if (!original && faultBudget > 0) {
            const fault = { fail: Math.min(spec.fault.fail, faultBudget), crash: 0 };
            faultBudget -= fault.fail;
            fault.crash = Math.min(spec.fault.crash, faultBudget);
            faultBudget -= fault.crash;
            faults.set(envelope.id, fault);
          }
          return { sequenceNumber, partitionKey: spec.key, data: JSON.stringify(envelope) };
        });

        let current: Crash | undefined;
        let crashes = 0;
        const crashNow = () => {
          crashes++;
          return (current as Crash).crash();
        };
        if (spec.mode === "transactional") {
          const commit = store.commit.bind(store);
          store.commit = async (completion: CompletionRequest, writes: readonly TransactWriteItem[]) => {
            await commit(completion, writes);
            const id = completion.key.slice("ledger#".length);
            const fault = faults.get(id);
            if (fault && fault.crash > 0) {
              fault.crash--;
              await crashNow(); // dies after the commit, before its response
            }
          };
        }
        const guardOptions = { store, now: clock.now, sleep: clock.sleep };
        const consumer = kinesisConsumer({
          group: "ledger",
          ordering: spec.ordering,
          observer: new RecordingObserver(),
          deadLetterSink: deadLetters,
          dedup:
            spec.mode === "checkpoints"
              ? kinesisCheckpoints(guardOptions)
              : dynamoDbDedup({ ...guardOptions, mode: spec.mode }),
          handler: async (message: MessageEnvelope, { transaction }) => {
            const fault = faults.get(message.id);
            if (fault && fault.fail > 0) {
              fault.fail--;
              throw new Error("downstream 503");
            }
            if (transaction) {
              transaction.write({ Put: { TableName: "ledger", Item: { pk: { S: message.id } } } });
              return;
            }
            effects.add(message.id);
            if (fault && fault.crash > 0) {
              fault.crash--;
              await crashNow(); // dies after the side effect, before its completion
            }
          },
        });

        const outcome = await runShard(
          shard,
          {
            batchSize: spec.batchSize,
            retryAttempts: 10,
            bisect: spec.bisect,
            timeoutMs: 30_000,
            maxRecordAgeMs: 3_600_000,
          },
          clock,
          (event, crash, context) => {
            current = crash;
            return consumer(event, context);
          },
        );
        if (spec.mode === "transactional") {
          for (const writes of store.committed)
            for (const write of writes) effects.add(write.Put?.Item?.pk?.S ?? "");
        }

        // Never dropped: the fault schedule is bounded, so nothing may reach the on-failure destination.
        expect(outcome.onFailure).toEqual([]);
        const deadLettered = new Set(deadLetters.letters.map((letter) => Number(letter.sourceRecordId)));
        for (const record of shard) {
          if (record.data.startsWith("<")) expect(deadLettered.has(record.sequenceNumber)).toBe(true);
        }
        for (const envelope of envelopes) expect(effects.counts.get(envelope.id) ?? 0).toBeGreaterThan(0);
        // Effects: exactly once in transactional mode; within the crash window otherwise.
        for (const envelope of envelopes) {
          const count = effects.counts.get(envelope.id) ?? 0;
          if (spec.mode === "transactional" || crashes === 0) expect(count).toBe(1);
          else expect(count).toBeLessThanOrEqual(1 + crashes);
        }
        // Order per key: ids first took effect in the order they were produced.
        for (const key of ["k1", "k2", "k3"]) {
          const produced = envelopes.filter((e) => e.key === key).map((e) => e.id);
          expect(effects.firstOrder.filter((id) => produced.includes(id))).toEqual(produced);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe("SQS queue, through the model of Lambda's SQS event source", () => {
  const scenario = fc.record({
    queue: fc.constantFrom<"standard" | "fair" | "fifo">("standard", "fair", "fifo"),
    mode: fc.constantFrom<"plain" | "transactional">("plain", "transactional"),
    batchSize: fc.integer({ min: 1, max: 10 }),
    messages: fc.array(
      fc.record({
        tenant: fc.constantFrom("t1", "t2", "t3"),
        kind: fc.constantFrom("new", "new", "new", "new", "producer-retry", "reused-id", "poison"),
        fault: fc.record({ fail: fc.nat(2), crash: fc.nat(1) }),
      }),
      { minLength: 1, maxLength: 20 },
    ),
    store: storeFaults,
  });

  it("never drops a message, never runs a transactional effect twice, keeps FIFO order, and lets no fair-queue tenant block another", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (spec) => {
        const clock = new FakeClock();
        const store = flakyStore({ ...spec.store });
        const effects = new Effects();
        const deadLetters = new RecordingDeadLetters();
        const faults = new Map<string, Fault>();
        const envelopes: MessageEnvelope[] = [];
        const grouped = spec.queue !== "standard";
        const messages = spec.messages.map((message, index) => {
          const sqsId = `sqs-${index}`;
          const groupId = grouped ? message.tenant : undefined;
          const base = { sqsId, ...(groupId ? { groupId } : {}) };
          if (message.kind === "poison") return { ...base, body: "{not json", envelopeId: undefined };
          const earlier = envelopes.find((e) => e.key === message.tenant);
          if (earlier && message.kind === "producer-retry")
            return { ...base, body: JSON.stringify(earlier), envelopeId: earlier.id };
          if (earlier && message.kind === "reused-id") {
            const other = { ...earlier, payload: { other: index } };
            // Another message reusing the id: one of the two takes effect, the other is a payload mismatch.
            return { ...base, body: JSON.stringify(other), envelopeId: earlier.id };
          }
          const envelope = createEnvelope({
            id: `m${index}`,
            type: "billed",
            key: message.tenant,
            payload: { index },
          });
          envelopes.push(envelope);
          faults.set(envelope.id, { ...message.fault });
          return { ...base, body: JSON.stringify(envelope), envelopeId: envelope.id };
        });

        let current: Crash | undefined;
        let crashes = 0;
        const results: Array<{ result: BatchResult; groups: Map<string, string | undefined> }> = [];
        const consumer = sqsConsumer({
          group: "billing",
          maxReceiveCount: 6,
          observer: new RecordingObserver(),
          deadLetterSink: deadLetters,
          dedup: dynamoDbDedup({ store, now: clock.now, sleep: clock.sleep, mode: spec.mode }),
          handler: async (message: MessageEnvelope, { transaction }) => {
            const fault = faults.get(message.id);
            if (fault && fault.fail > 0) {
              fault.fail--;
              throw new Error("downstream 503");
            }
            if (transaction)
              transaction.write({ Put: { TableName: "bills", Item: { pk: { S: message.id } } } });
            else effects.add(message.id);
            if (!transaction && fault && fault.crash > 0) {
              fault.crash--;
              crashes++;
              await (current as Crash).crash();
            }
          },
        });

        const outcome = await runQueue(
          messages,
          {
            fifo: spec.queue === "fifo",
            batchSize: spec.batchSize,
            maxReceiveCount: 6,
            visibilityMs: 60_000,
            timeoutMs: 30_000,
          },
          clock,
          async (event, crash, context) => {
            current = crash;
            const result = await consumer.processEvent(event, context);
            results.push({
              result,
              groups: new Map(
                event.Records.map((record) => [record.messageId, record.attributes.MessageGroupId]),
              ),
            });
            return { batchItemFailures: result.batchItemFailures };
          },
        );
        if (spec.mode === "transactional") {
          for (const writes of store.committed)
            for (const write of writes) effects.add(write.Put?.Item?.pk?.S ?? "");
        }

        // Never dropped: every message took effect or was dead-lettered with a reason; the queue's own
        // redrive (no reason) only takes a message whose last receive crashed.
        const lettered = new Set(deadLetters.letters.map((letter) => letter.sourceRecordId));
        if (crashes === 0) expect(outcome.redriven).toEqual([]);
        for (const message of messages) {
          const tookEffect =
            message.envelopeId !== undefined && (effects.counts.get(message.envelopeId) ?? 0) > 0;
          const duplicateOfEffect =
            message.envelopeId === undefined &&
            !message.body.startsWith("{not") &&
            deadLetters.letters.some(
              (letter) => letter.sourceRecordId === message.sqsId && letter.reason === "payload-mismatch",
            );
          if (!tookEffect && !duplicateOfEffect) {
            expect(lettered.has(message.sqsId) || outcome.redriven.includes(message.sqsId)).toBe(true);
          }
        }
        for (const envelope of envelopes) {
          const count = effects.counts.get(envelope.id) ?? 0;
          if (spec.mode === "transactional" || crashes === 0) expect(count).toBeLessThanOrEqual(1);
          else expect(count).toBeLessThanOrEqual(1 + crashes);
        }
        for (const { result, groups } of results) {
          const ids = [...groups.keys()];
          result.outcomes.forEach((recordOutcome, index) => {
            if (recordOutcome.kind !== "not-run") return;
            // Only FIFO holds a message back behind a failure, and only behind one of its own group.
            expect(spec.queue).toBe("fifo");
            expect(groups.get(recordOutcome.blockedBy)).toBe(groups.get(ids[index] as string));
          });
        }
        if (spec.queue === "fifo") {
          for (const tenant of ["t1", "t2", "t3"]) {
            const produced = envelopes.filter((e) => e.key === tenant).map((e) => e.id);
            const order = effects.firstOrder.filter((id) => produced.includes(id));
            expect(order).toEqual(produced.filter((id) => order.includes(id)));
          }
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
