/**
 * Property-based tests: the real consumer wrappers, guards and outbox relay, driven through the
 * event-source model with random fault schedules. `npm test` runs a few hundred seeded cases; `npm run
 * fuzz` (FUZZ_RUNS) many more. A failing case shrinks to a small schedule and prints its seed.
 */
import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import type { PublishBatchCommandInput } from "@aws-sdk/client-sns";
import type { Context } from "aws-lambda";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BROKER_ENV } from "../../lambdas/runtime/constants.js";
import type { BatchResult } from "../../lambdas/runtime/consumers/batch-engine.js";
import {
  dynamoDbStreamConsumer,
  type StreamChange,
} from "../../lambdas/runtime/consumers/dynamodb-stream-consumer.js";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../lambdas/runtime/dedup/dedup-guard.js";
import type { Checkpoint, CompletionRequest } from "../../lambdas/runtime/dedup/dedup-store.js";
import { InMemoryDedupStore } from "../../lambdas/runtime/dedup/memory-dedup-store.js";
import { createEnvelope, type MessageEnvelope } from "../../lambdas/runtime/envelope.js";
import { ConfigurationError } from "../../lambdas/runtime/errors.js";
import { outboxRelay } from "../../lambdas/runtime/outbox/outbox-relay.js";
import { TopicPublisher } from "../../lambdas/runtime/producers/topic-publisher.js";
import { DEFAULT_RETRY_POLICY } from "../../lambdas/runtime/retry.js";
import { FakeClient } from "../support/fake-clients.js";
import { FakeClock } from "../support/fake-clock.js";
import { RecordingDeadLetters, RecordingObserver } from "../support/recording.js";
import { controlOf, runQueue, runShard, type ShardRecord } from "./event-source-model.js";

/** Cases per property: each property's default in `npm test` (a few seconds), FUZZ_RUNS in `npm run fuzz`. */
const runs = (inTests: number) => Number(process.env.FUZZ_RUNS ?? inTests);
/** A fuzz run may take many minutes. */
const TIMEOUT_MS = process.env.FUZZ_RUNS ? 3_600_000 : 60_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const ATTEMPTS = DEFAULT_RETRY_POLICY.maxAttempts;

/**
 * A store whose writes fail transiently (throttling, a reset connection) the given number of times. The
 * guards retry each call up to the retry policy's attempts; past that a commit or completion is given up
 * (logged), which is the at-least-once window of the non-transactional modes, and counted here.
 */
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

/** Up to ATTEMPTS + 1 failures of each store write: enough to exhaust one call's retries. */
const storeFaults = fc.record({
  commitCheckpoint: fc.nat(ATTEMPTS + 1),
  release: fc.nat(ATTEMPTS + 1),
  complete: fc.nat(ATTEMPTS + 1),
});
/** Store calls given up after all their attempts, for a schedule of failures. */
const givenUp = (failures: number) => Math.floor(failures / ATTEMPTS);

/**
 * What took effect: counts per message id and per content (id and payload), the order in which ids first
 * took effect, and every handler run of a content in the order they started.
 */
class Effects {
  readonly counts = new Map<string, number>();
  readonly contents = new Map<string, number>();
  readonly firstOrder: string[] = [];
  readonly runs = new Map<string, Array<"running" | "ok" | "failed">>();

  add(id: string, content: string) {
    const count = this.counts.get(id) ?? 0;
    if (count === 0) this.firstOrder.push(id);
    this.counts.set(id, count + 1);
    this.contents.set(content, (this.contents.get(content) ?? 0) + 1);
  }
  /** A handler run starts; the returned function records how it ended. */
  start(content: string): (result: "ok" | "failed") => void {
    const runs = this.runs.get(content) ?? [];
    this.runs.set(content, runs);
    const index = runs.push("running") - 1;
    return (result) => {
      runs[index] = result;
    };
  }
}
const contentOf = (id: string, payload: unknown) => `${id}|${JSON.stringify(payload)}`;

/** Runs `build` with the environment the consumer construct would set. */
function withEnvironment<T>(variables: Record<string, string>, build: () => T): T {
  const previous = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  try {
    return build();
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** A property as a test: seeded, `casesInTests` cases in `npm test`, FUZZ_RUNS in `npm run fuzz`. */
function holds<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  casesInTests: number,
): void {
  it(
    name,
    async () => {
      await fc.assert(fc.asyncProperty(arbitrary, check), { numRuns: runs(casesInTests), seed: SEED });
    },
    TIMEOUT_MS,
  );
}

type StreamMode = "checkpoints" | "plain" | "transactional";
/** The event source mapping the stream properties model: the construct's retries, a 30 s function, 1 h age. */
const STREAM_MAPPING = { retryAttempts: 10, timeoutMs: 30_000, maxRecordAgeMs: 3_600_000 } as const;
const KEYS = ["k1", "k2", "k3"] as const;

describe("Kinesis and DynamoDB Streams shards, through the model of Lambda's stream event source", () => {
  /** Random schedules; `focus` pins some dimensions, so that a rarer path is reached in every run. */
  const scenario = (focus: { kinesisByKey?: boolean } = {}) =>
    fc.record({
      source: focus.kinesisByKey
        ? fc.constant<"kinesis" | "dynamodb">("kinesis")
        : fc.constantFrom<"kinesis" | "dynamodb">("kinesis", "kinesis", "dynamodb"),
      mode: fc.constantFrom<StreamMode>("checkpoints", "plain", "transactional"),
      ordering: focus.kinesisByKey
        ? fc.constant<"shard" | "key">("key")
        : fc.constantFrom<"shard" | "key">("shard", "key"),
      parallelizationFactor: focus.kinesisByKey ? fc.constant(1) : fc.constantFrom(1, 1, 1, 2, 3),
      windowSize: fc.integer({ min: 1, max: 4 }),
      batchSize: fc.integer({ min: 1, max: 12 }),
      bisect: fc.boolean(),
      // Afterwards, the shard read again from its start (a mapping recreated at TRIM_HORIZON): checkpoints only.
      replayFromStart: fc.constantFrom(false, false, true),
      records: fc.array(
        fc.record({
          key: fc.constantFrom(...KEYS),
          kind: fc.constantFrom("new", "new", "new", "new", "producer-retry", "poison"),
          fault: fc.record({ fail: fc.constantFrom(0, 0, 1), crash: fc.constantFrom(0, 0, 0, 1) }),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      store: storeFaults,
    });

  type StreamSpec = ReturnType<typeof scenario> extends fc.Arbitrary<infer T> ? T : never;
  async function checkStream(spec: StreamSpec): Promise<void> {
    const clock = new FakeClock();
    const store = flakyStore({ ...spec.store });
    const effects = new Effects();
    const deadLetters = new RecordingDeadLetters();
    const faults = new Map<string, { fail: number; crash: number }>();
    // Below retryAttempts: a bounded fault schedule must never exhaust Lambda's retries.
    let faultBudget = 5;
    const envelopes: MessageEnvelope[] = [];
    const positions = new Map<string, number[]>();
    // DynamoDB Streams carry one change per write: no producer retries, and every image reads.
    const kindOf = (kind: string) => (spec.source === "dynamodb" ? "new" : kind);
    const shard: ShardRecord[] = spec.records.map((record, index) => {
      const sequenceNumber = 1000 + index;
      const kind = kindOf(record.kind);
      if (kind === "poison") return { sequenceNumber, partitionKey: record.key, data: "<not json/>" };
      const original = kind === "producer-retry" ? envelopes.find((e) => e.key === record.key) : undefined;
      const envelope =
        original ?? createEnvelope({ id: `m${index}`, type: "posted", key: record.key, payload: { index } });
      if (!original) envelopes.push(envelope);
      positions.set(envelope.id, [...(positions.get(envelope.id) ?? []), index]);
      if (!original && faultBudget > 0) {
        const fault = { fail: Math.min(record.fault.fail, faultBudget), crash: 0 };
        faultBudget -= fault.fail;
        fault.crash = Math.min(record.fault.crash, faultBudget);
        faultBudget -= fault.crash;
        faults.set(envelope.id, fault);
      }
      return { sequenceNumber, partitionKey: record.key, data: JSON.stringify(envelope) };
    });

    let crashes = 0;
    const crashNow = (context: Context | undefined) => {
      crashes++;
      return controlOf(context).crash();
    };
    /** The invocation each transactional run is in, for a crash right after its commit. */
    const runningIn = new Map<string, Context | undefined>();
    if (spec.mode === "transactional") {
      const commit = store.commit.bind(store);
      store.commit = async (completion: CompletionRequest, writes: readonly TransactWriteItem[]) => {
        await commit(completion, writes);
        const id = completion.key.slice(completion.key.lastIndexOf("#") + 1);
        const fault = faults.get(id);
        if (fault && fault.crash > 0) {
          fault.crash--;
          await crashNow(runningIn.get(id)); // dies after the commit, before its response
        }
      };
    }
    const guardOptions = { store, now: clock.now, sleep: clock.sleep };
    const handle = async (message: MessageEnvelope, transaction: unknown, context: Context | undefined) => {
      const fault = faults.get(message.id);
      if (fault && fault.fail > 0) {
        fault.fail--;
        throw new Error("downstream 503");
      }
      if (transaction) {
        (transaction as { write(item: TransactWriteItem): void }).write({
          Put: { TableName: "ledger", Item: { pk: { S: contentOf(message.id, message.payload) } } },
        });
        runningIn.set(message.id, context);
        return;
      }
      effects.add(message.id, contentOf(message.id, message.payload));
      if (fault && fault.crash > 0) {
        fault.crash--;
        await crashNow(context); // dies after the side effect, before its completion
      }
    };

    const environment = { [BROKER_ENV.parallelizationFactor]: String(spec.parallelizationFactor) };
    let consumer: (
      event: never,
      context: Context,
    ) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>;
    try {
      consumer = withEnvironment(environment, () => {
        const dedup =
          spec.mode === "checkpoints"
            ? kinesisCheckpoints({ ...guardOptions, windowSize: spec.windowSize })
            : dynamoDbDedup({ ...guardOptions, mode: spec.mode });
        const common = {
          group: "ledger",
          ordering: spec.ordering,
          observer: new RecordingObserver(),
          deadLetterSink: deadLetters,
          dedup,
        };
        if (spec.source === "kinesis") {
          return kinesisConsumer({
            ...common,
            handler: (message: MessageEnvelope, { transaction, lambdaContext }) =>
              handle(message, transaction, lambdaContext),
          }) as never;
        }
        return dynamoDbStreamConsumer({
          ...common,
          handler: (change: StreamChange<{ body: string }>, { transaction, lambdaContext }) =>
            handle(JSON.parse(change.newImage?.body ?? ""), transaction, lambdaContext),
        }) as never;
      });
    } catch (error) {
      // A per-shard checkpoint cannot guard DynamoDB Streams (no shard id in the event) nor several
      // batches of a shard in flight: refused when the function loads, naming the guard that can.
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(spec.mode).toBe("checkpoints");
      expect(spec.source === "dynamodb" || spec.parallelizationFactor > 1).toBe(true);
      expect((error as Error).message).toMatch(/dynamoDbDedup\(\)/);
      return;
    }

    // With a parallelization factor, Lambda runs batches of one shard side by side, each key in one lane.
    const lanes = Array.from({ length: spec.parallelizationFactor }, (_, lane) =>
      shard.filter(
        (record) =>
          KEYS.indexOf(record.partitionKey as (typeof KEYS)[number]) % spec.parallelizationFactor === lane,
      ),
    ).filter((lane) => lane.length > 0);
    const readShard = () =>
      Promise.all(
        lanes.map((lane) =>
          runShard(
            lane,
            {
              shape: spec.source,
              batchSize: spec.batchSize,
              bisect: spec.bisect,
              ...STREAM_MAPPING,
            },
            clock,
            (event, context) => consumer(event as never, context),
          ),
        ),
      );
    const outcomes = await readShard();
    // Everything the checkpoint passed is skipped when the shard is read again from its start.
    if (spec.replayFromStart && spec.mode === "checkpoints") outcomes.push(...(await readShard()));
    if (spec.mode === "transactional") {
      for (const writes of store.committed)
        for (const write of writes) {
          const content = write.Put?.Item?.pk?.S ?? "";
          effects.add(content.slice(0, content.indexOf("|")), content);
        }
    }

    // The at-least-once window: crashes after the side effect, and completions or checkpoints given up
    // after all their retries.
    const window =
      crashes +
      (spec.mode === "plain" ? givenUp(spec.store.complete) : 0) +
      (spec.mode === "checkpoints" ? givenUp(spec.store.commitCheckpoint) : 0);
    // Never dropped: the fault schedule is bounded, so nothing may reach the on-failure destination,
    // and only what cannot be read is dead-lettered (again only when its batch is replayed in the window).
    expect(outcomes.flatMap((outcome) => outcome.onFailure)).toEqual([]);
    const poison = shard
      .filter((record) => record.data.startsWith("<"))
      .map((record) => record.sequenceNumber);
    const lettered = deadLetters.letters.map((letter) => Number(letter.sourceRecordId));
    expect([...new Set(lettered)].sort()).toEqual(poison.sort());
    if (window === 0) expect(lettered).toHaveLength(poison.length);
    for (const envelope of envelopes) expect(effects.counts.get(envelope.id) ?? 0).toBeGreaterThan(0);
    // Effects: exactly once in transactional mode; otherwise within the window, and (checkpoints) producer
    // retries further from their original than the id window reaches.
    for (const envelope of envelopes) {
      const count = effects.counts.get(envelope.id) ?? 0;
      const copies = positions.get(envelope.id) ?? [];
      const beyondWindow =
        spec.mode === "checkpoints"
          ? copies.filter((at, index) => index > 0 && at - (copies[0] as number) >= spec.windowSize).length
          : 0;
      if (spec.mode === "transactional") expect(count).toBe(1);
      else expect(count).toBeLessThanOrEqual(1 + window + beyondWindow);
    }
    // Order per key: ids first took effect in the order they were produced.
    for (const key of KEYS) {
      const produced = envelopes.filter((e) => e.key === key).map((e) => e.id);
      expect(effects.firstOrder.filter((id) => produced.includes(id))).toEqual(produced);
    }
  }

  holds(
    "never drops a record, keeps order per key, runs effects within each mode's window, and refuses what it cannot guard",
    scenario(),
    checkStream,
    2000,
  );

  holds(
    "with ordering by key on Kinesis, runs what finished past a failure once across Lambda's retry, whatever the id window, and dead-letters a malformed record once",
    scenario({ kinesisByKey: true }),
    checkStream,
    1000,
  );
});

describe("SQS queue, through the model of Lambda's SQS event source", () => {
  /** Random schedules; `focus` pins some dimensions, so that a rarer path is reached in every run. */
  const scenario = (focus: { crashesAndReusedIds?: boolean } = {}) =>
    fc.record({
      queue: focus.crashesAndReusedIds
        ? fc.constant<"standard" | "fair" | "fifo">("standard")
        : fc.constantFrom<"standard" | "fair" | "fifo">("standard", "fair", "fifo"),
      mode: focus.crashesAndReusedIds
        ? fc.constant<"plain" | "transactional">("plain")
        : fc.constantFrom<"plain" | "transactional">("plain", "transactional"),
      /** `json`: plain JSON through SNS (raw delivery off); `envelope`: this library's envelopes, maybe through SNS. */
      format: focus.crashesAndReusedIds
        ? fc.constant<"envelope" | "json">("envelope")
        : fc.constantFrom<"envelope" | "json">("envelope", "envelope", "json"),
      viaSns: fc.boolean(),
      batchSize: fc.integer({ min: 1, max: 10 }),
      messages: fc.array(
        fc.record({
          tenant: fc.constantFrom("t1", "t2", "t3"),
          kind: focus.crashesAndReusedIds
            ? fc.constantFrom("new", "new", "reused-id", "producer-retry")
            : fc.constantFrom(
                "new",
                "new",
                "new",
                "new",
                "producer-retry",
                "sns-duplicate",
                "reused-id",
                "poison",
              ),
          /** A producer's retry or SNS's second delivery may arrive a while later. */
          delayMs: fc.constantFrom(0, 0, 4_000, 9_000),
          /** Writes a 600 KB binary attribute in its transaction: fits DynamoDB's 4 MB as DynamoDB counts it. */
          large: fc.constantFrom(false, false, false, true),
          fault: focus.crashesAndReusedIds
            ? fc.record({ fail: fc.constant(0), crash: fc.nat(1), stall: fc.constant(0) })
            : fc.record({ fail: fc.nat(2), crash: fc.nat(1), stall: fc.nat(1) }),
        }),
        { minLength: 1, maxLength: 20 },
      ),
      store: storeFaults,
    });
  const blob = new Uint8Array(600_000);

  type QueueSpec = ReturnType<typeof scenario> extends fc.Arbitrary<infer T> ? T : never;
  async function checkQueue(spec: QueueSpec): Promise<void> {
    const clock = new FakeClock();
    const store = flakyStore({ ...spec.store });
    const effects = new Effects();
    const deadLetters = new RecordingDeadLetters();
    const faults = new Map<string, { fail: number; crash: number; stall: number; large: boolean }>();
    const grouped = spec.queue !== "standard";
    const viaSns = spec.viaSns || spec.format === "json";
    const notification = (snsId: string, message: string) =>
      JSON.stringify({
        Type: "Notification",
        MessageId: snsId,
        TopicArn: "arn:aws:sns:us-east-1:000000000000:orders",
        Message: message,
      });
    // What each SQS message carries: the id and content a handler would see, and why it may be
    // dead-lettered (poison, or a reused id with other content).
    type Sent = {
      sqsId: string;
      tenant: string;
      body: string;
      groupId?: string;
      delayMs: number;
      id?: string;
      content?: string;
    };
    const sent: Sent[] = [];
    const originals: Sent[] = [];
    spec.messages.forEach((message, index) => {
      const base = {
        sqsId: `sqs-${index}`,
        tenant: message.tenant,
        ...(grouped ? { groupId: message.tenant } : {}),
        // FIFO delivers a group in the order it was sent: no message overtakes another.
        delayMs: spec.queue === "fifo" ? 0 : message.delayMs,
      };
      const earlier = originals.find((original) => original.tenant === message.tenant);
      let kind = message.kind;
      // Plain JSON has no id of its own: a producer's retry is a new message, a reused id does not exist.
      if (spec.format === "json" && (kind === "producer-retry" || kind === "reused-id"))
        kind = "sns-duplicate";
      if (!viaSns && kind === "sns-duplicate") kind = "producer-retry";
      if (kind === "poison") {
        sent.push({ ...base, body: "{not json" });
        return;
      }
      if (earlier && kind === "sns-duplicate") {
        // SNS delivered one notification twice: the same body, as another SQS message.
        sent.push({ ...earlier, ...base });
        return;
      }
      if (earlier && spec.format === "envelope" && (kind === "producer-retry" || kind === "reused-id")) {
        const envelope = JSON.parse(
          viaSns ? JSON.parse(earlier.body).Message : earlier.body,
        ) as MessageEnvelope;
        const copy = kind === "reused-id" ? { ...envelope, payload: { other: index } } : envelope;
        const text = JSON.stringify(copy);
        // A producer's retry is a new publish: through SNS, a new notification.
        sent.push({
          ...base,
          body: viaSns ? notification(`sns-${index}`, text) : text,
          id: copy.id,
          content: contentOf(copy.id, copy.payload),
        });
        return;
      }
      const payload = { index, tenant: message.tenant };
      const id = spec.format === "json" ? `sns-${index}` : `m${index}-${message.tenant}`;
      const text =
        spec.format === "json"
          ? JSON.stringify(payload)
          : JSON.stringify(createEnvelope({ id, type: "billed", key: message.tenant, payload }));
      const original: Sent = {
        ...base,
        body: viaSns ? notification(`sns-${index}`, text) : text,
        id,
        content: contentOf(id, payload),
      };
      faults.set(id, { ...message.fault, large: message.large });
      sent.push(original);
      originals.push(original);
    });

    let crashes = 0;
    let stalls = 0;
    const results: Array<{ result: BatchResult; groups: Map<string, string | undefined> }> = [];
    const consumer = sqsConsumer({
      group: "billing",
      format: spec.format,
      maxReceiveCount: 6,
      observer: new RecordingObserver(),
      deadLetterSink: deadLetters,
      // A 5 s lease: a handler that stalls for 20 s is overtaken by a later copy of its message.
      dedup: dynamoDbDedup({
        store,
        now: clock.now,
        sleep: clock.sleep,
        mode: spec.mode,
        maxLeaseMs: 5_000,
      }),
      handler: async (message: MessageEnvelope, { transaction, lambdaContext }) => {
        const content = contentOf(message.id, message.payload);
        const ended = effects.start(content);
        const fault = faults.get(message.id);
        try {
          if (fault && fault.stall > 0) {
            fault.stall--;
            stalls++;
            await controlOf(lambdaContext).stall();
          }
          if (fault && fault.fail > 0) {
            fault.fail--;
            throw new Error("downstream 503");
          }
          if (transaction) {
            transaction.write({
              Put: {
                TableName: "bills",
                Item: { pk: { S: content }, ...(fault?.large ? { blob: { B: blob } } : {}) },
              },
            });
          } else {
            effects.add(message.id, content);
          }
          ended("ok");
        } catch (error) {
          ended("failed");
          throw error;
        }
        if (!transaction && fault && fault.crash > 0) {
          fault.crash--;
          crashes++;
          await controlOf(lambdaContext).crash();
        }
      },
    });

    const outcome = await runQueue(
      sent,
      {
        fifo: spec.queue === "fifo",
        batchSize: spec.batchSize,
        maxReceiveCount: 6,
        visibilityMs: 60_000,
        timeoutMs: 30_000,
        stallMs: 20_000,
      },
      clock,
      async (event, context) => {
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
        for (const write of writes) {
          const content = write.Put?.Item?.pk?.S ?? "";
          effects.add(content.slice(0, content.indexOf("|")), content);
        }
    }

    // Never dropped: every message took effect or was dead-lettered with a reason it deserves: poison,
    // a reused id with other content, or still failing on its last receive. The queue's own redrive (no
    // reason) only takes a message whose last receive crashed.
    if (crashes === 0) expect(outcome.redriven).toEqual([]);
    const letterOf = new Map(deadLetters.letters.map((letter) => [letter.sourceRecordId, letter]));
    for (const message of sent) {
      const letter = letterOf.get(message.sqsId);
      if (letter) {
        const deserved =
          (message.id === undefined && letter.reason === "not-json") ||
          (letter.reason === "payload-mismatch" &&
            sent.some((other) => other.id === message.id && other.content !== message.content)) ||
          (letter.reason === "retries-exhausted" && letter.attempt === 6);
        expect(deserved, `${message.sqsId} dead-lettered as ${letter.reason}: ${letter.detail}`).toBe(true);
        continue;
      }
      if (outcome.redriven.includes(message.sqsId)) continue;
      // A copy of a message is covered by the copy that took effect or went to the DLQ with its reason.
      const copyLettered = sent.some(
        (other) => other.content === message.content && letterOf.has(other.sqsId),
      );
      if (copyLettered) continue;
      expect(
        effects.contents.get(message.content ?? "") ?? 0,
        `${message.sqsId} took no effect`,
      ).toBeGreaterThan(0);
    }
    const window = crashes + stalls + (spec.mode === "plain" ? givenUp(spec.store.complete) : 0);
    for (const [id, count] of effects.counts) {
      // One content per id: a reused id's other content is never run as if it were the same message
      // (except by a plain-mode worker still running past its lease, which nothing can stop).
      if (spec.mode === "transactional" || stalls === 0) {
        const contents = [...effects.contents.keys()].filter((content) => content.startsWith(`${id}|`));
        expect(contents).toHaveLength(1);
      }
      if (spec.mode === "transactional") expect(count).toBe(1);
      else expect(count).toBeLessThanOrEqual(1 + window);
    }
    // A run that failed is run again, unless the message went to a DLQ: the last run of each content
    // (in the order they started) did not fail, whichever worker finished first.
    if (spec.mode === "plain") {
      for (const [content, runs] of effects.runs) {
        const carriers = sent.filter((message) => message.content === content);
        const ended = carriers.some(
          (message) => letterOf.has(message.sqsId) || outcome.redriven.includes(message.sqsId),
        );
        if (!ended) expect(runs.at(-1), `the last run of ${content}`).not.toBe("failed");
      }
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
        const produced = originals
          .filter((message) => message.tenant === tenant)
          .map((message) => message.id as string);
        const order = effects.firstOrder.filter((id) => produced.includes(id));
        expect(order).toEqual(produced.filter((id) => order.includes(id)));
      }
    }
  }

  holds(
    "never drops a message, never runs a transactional effect twice, retries what failed last, keeps FIFO order, and lets no fair-queue tenant block another",
    scenario(),
    checkQueue,
    2000,
  );

  holds(
    "never lets a message reusing an id with other content run in the place of a worker that died after its side effect",
    scenario({ crashesAndReusedIds: true }),
    checkQueue,
    1000,
  );
});

/**
 * SNS as the model needs it: refuses for good every message of type `refused` (a sender fault), fails each
 * message transiently as many times as `transient` says, publishes the rest (recorded in order).
 */
function modelSns(transient: Map<string, number>) {
  const published: string[] = [];
  let transientFailures = 0;
  const sns = new FakeClient<PublishBatchCommandInput>((input) => {
    const entries = input.PublishBatchRequestEntries ?? [];
    const failed: Array<{ Id: string; Code: string; SenderFault: boolean; Message: string }> = [];
    for (const entry of entries) {
      const envelope = JSON.parse(entry.Message ?? "") as MessageEnvelope;
      const left = transient.get(envelope.id) ?? 0;
      if (envelope.type === "refused") {
        failed.push({
          Id: entry.Id ?? "",
          Code: "InvalidParameter",
          SenderFault: true,
          Message: "bad attribute",
        });
      } else if (left > 0) {
        transient.set(envelope.id, left - 1);
        transientFailures++;
        failed.push({ Id: entry.Id ?? "", Code: "InternalError", SenderFault: false, Message: "try again" });
      } else {
        published.push(envelope.id);
      }
    }
    return {
      Successful: entries
        .filter((entry) => !failed.some((failure) => failure.Id === entry.Id))
        .map((entry) => ({ Id: entry.Id, MessageId: `sns-${entry.Id}`, SequenceNumber: "1" })),
      Failed: failed,
    };
  });
  return { sns, published, transientFailures: () => transientFailures };
}

describe("the outbox relay, through the model of a DynamoDB stream", () => {
  const scenario = fc.record({
    /** A FIFO topic keeps each key's order; a standard topic promises none (nor does SNS). */
    fifo: fc.boolean(),
    batchSize: fc.integer({ min: 1, max: 12 }),
    bisect: fc.boolean(),
    rows: fc.array(
      fc.record({
        key: fc.constantFrom(...KEYS),
        kind: fc.constantFrom("ok", "ok", "ok", "ok", "flaky", "too-large", "not-json", "refused"),
        /** Transient SNS failures of a flaky row: past the publisher's attempts, the row returns to Lambda. */
        transient: fc.integer({ min: 1, max: ATTEMPTS + 2 }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
  });

  it(
    "publishes every row that can be published (in order per key on a FIFO topic) and dead-letters the rest with their reason",
    async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (spec) => {
          const clock = new FakeClock();
          const transient = new Map<string, number>();
          let budget = 8; // below the stream's retry attempts, counted in invocations that return the row
          const rows: ShardRecord[] = spec.rows.map((row, index) => {
            const id = `r${index}`;
            const payload = row.kind === "too-large" ? "x".repeat(300_000) : { index };
            if (row.kind === "flaky" && budget > 0) {
              const failures = Math.min(row.transient, budget * ATTEMPTS);
              budget -= Math.ceil(failures / ATTEMPTS);
              transient.set(id, failures);
            }
            const envelope = JSON.stringify(createEnvelope({ id, type: row.kind, key: row.key, payload }));
            return {
              sequenceNumber: 1000 + index,
              partitionKey: row.key,
              data: row.kind === "not-json" ? "{not json" : envelope,
            };
          });
          const { sns, published, transientFailures } = modelSns(transient);
          const deadLetters = new RecordingDeadLetters();
          const relay = outboxRelay({
            snsClient: sns as never,
            deadLetterSink: deadLetters,
            observer: new RecordingObserver(),
            retry: { baseDelayMs: 0, maxDelayMs: 0 },
          });
          const outcome = await runShard(
            rows,
            {
              shape: "outbox",
              outboxTopicArn: `arn:aws:sns:us-east-1:000000000000:paid${spec.fifo ? ".fifo" : ""}`,
              batchSize: spec.batchSize,
              bisect: spec.bisect,
              ...STREAM_MAPPING,
            },
            clock,
            (event) => relay(event as never),
          );

          expect(outcome.onFailure).toEqual([]);
          const expectedLetters = spec.rows
            .map((row, index) => ({ row, index }))
            .filter(
              ({ row }) => row.kind === "too-large" || row.kind === "not-json" || row.kind === "refused",
            )
            .map(
              ({ row, index }) =>
                `${1000 + index} ${row.kind === "refused" ? "rejected-by-destination" : row.kind}`,
            );
          expect(
            deadLetters.letters.map((letter) => `${letter.sourceRecordId} ${letter.reason}`).sort(),
          ).toEqual(expectedLetters.sort());
          const publishable = spec.rows
            .map((row, index) => ({ row, id: `r${index}` }))
            .filter(({ row }) => row.kind === "ok" || row.kind === "flaky");
          for (const { id } of publishable) {
            const times = published.filter((entry) => entry === id).length;
            expect(times, `${id} published`).toBeGreaterThan(0);
            // At least once: again only for a batch that came back after a transient failure.
            expect(times).toBeLessThanOrEqual(1 + transientFailures());
          }
          if (spec.fifo) {
            for (const key of KEYS) {
              const order = publishable.filter(({ row }) => row.key === key).map(({ id }) => id);
              const first = [...new Set(published)].filter((id) => order.includes(id));
              expect(first).toEqual(order);
            }
          }
        }),
        { numRuns: runs(300), seed: SEED },
      );
    },
    TIMEOUT_MS,
  );
});

describe("a publisher to a FIFO topic", () => {
  const scenario = fc.array(
    fc.record({
      key: fc.constantFrom(...KEYS),
      kind: fc.constantFrom("ok", "ok", "ok", "too-large", "refused", "flaky"),
    }),
    { minLength: 1, maxLength: 25 },
  );

  it(
    "sends every message not behind one of its key that failed for good, in order per key, and says why for the rest",
    async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (messages) => {
          const transient = new Map(
            messages.map((message, index) => [`m${index}`, message.kind === "flaky" ? 2 : 0]),
          );
          const { sns, published } = modelSns(transient);
          const publisher = new TopicPublisher({
            topicArn: "arn:aws:sns:us-east-1:000000000000:orders.fifo",
            client: sns as never,
            retry: { baseDelayMs: 0, maxDelayMs: 0 },
          });
          const report = await publisher.publishSettled(
            messages.map((message, index) => ({
              id: `m${index}`,
              type: message.kind,
              key: message.key,
              payload: message.kind === "too-large" ? "x".repeat(300_000) : { index },
            })),
          );

          const failedForGood = new Set(
            messages.flatMap((message, index) =>
              message.kind === "too-large" || message.kind === "refused" ? [index] : [],
            ),
          );
          messages.forEach((message, index) => {
            const behind = [...failedForGood].some(
              (failed) => failed < index && messages[failed]?.key === message.key,
            );
            const result = report.results[index];
            if (failedForGood.has(index)) expect(result?.status).toBe("failed");
            else if (behind) expect(result?.error?.code).toBe("PrecedingMessageFailed");
            else expect(result?.status, `m${index}`).toBe("published");
          });
          for (const key of KEYS) {
            const ofKey = messages.flatMap((message, index) => (message.key === key ? [`m${index}`] : []));
            const order = published.filter((id) => ofKey.includes(id));
            expect(order).toEqual(ofKey.filter((id) => order.includes(id)));
          }
        }),
        { numRuns: runs(300), seed: SEED },
      );
    },
    TIMEOUT_MS,
  );
});
