import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "aws-lambda";
import { forEachConcurrently } from "../concurrency.js";
import { POISON_REASONS, PoisonMessageError, type PoisonReason } from "../errors.js";
import type { DeadLetterSink } from "./dead-letter.js";
import { fingerprintOf } from "./decode-envelope.js";
import type { Decoded, EngineRecord } from "./engine-record.js";
import type { HandlerContext, MessageHandler } from "./handler-context.js";
import { type BatchSummary, type ConsumerObserver, describeError } from "./observability.js";
import type {
  Admission,
  BatchInfo,
  GuardedRecord,
  ProcessingGuard,
  SettledOutcome,
} from "./processing-guard.js";

export interface EngineConfig<TMessage> {
  readonly group: string;
  readonly handler: MessageHandler<TMessage>;
  /** Lanes (or independent records) processed at once. */
  readonly concurrency: number;
  /**
   * The source's redrive limit (SQS maxReceiveCount). On that attempt a record that would be reported
   * failed is dead-lettered with its reason instead, since the queue's own redrive would drop the reason.
   */
  readonly maxAttempts: number | undefined;
  readonly deadLetter: DeadLetterSink | undefined;
  readonly guard: ProcessingGuard | undefined;
  readonly observer: ConsumerObserver;
  readonly logger: Logger;
}

export type RecordOutcome =
  | { readonly kind: "processed" }
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "dead-lettered"; readonly reason: PoisonReason }
  | { readonly kind: "failed"; readonly error: string }
  /** In flight elsewhere (the guard said retry later): returned for redelivery, but not a failure. */
  | { readonly kind: "held-back"; readonly reason: string }
  | { readonly kind: "not-run"; readonly blockedBy: string };

export interface BatchResult {
  readonly batchItemFailures: Array<{ itemIdentifier: string }>;
  readonly outcomes: readonly RecordOutcome[];
  readonly summary: BatchSummary;
}

const RUN: Admission = { kind: "run" };
/** Outcomes that send a record back to its source. */
const REDELIVERED = new Set<RecordOutcome["kind"]>(["failed", "not-run", "held-back"]);
/** Holds the place of an outcome decided after the batch's lanes have run. */
const DEFERRED: RecordOutcome = { kind: "not-run", blockedBy: "" };

/**
 * The one batch engine behind every consumer wrapper. Records of a lane run one at a time in order; after
 * a failure the rest of that lane is reported failed without running, so nothing is processed out of
 * order; other lanes carry on. Poison (unreadable input, or a handler's PoisonMessageError) goes to the
 * dead-letter sink with its reason and does not stop its lane (on a stream, unreadable input past the batch's
 * first failure waits for the retry that sends it again). What failed comes back as batchItemFailures.
 */
export async function processBatch<TMessage>(
  records: readonly EngineRecord<TMessage>[],
  config: EngineConfig<TMessage>,
  lambdaContext: Context | undefined,
): Promise<BatchResult> {
  const started = performance.now();
  const batch: BatchInfo = { group: config.group, source: records[0]?.source ?? "", lambdaContext };
  const decoded = await Promise.all(records.map((record) => record.decode()));
  const guarded = decoded.map((content, index) => {
    const record = records[index] as EngineRecord<TMessage>;
    if (!config.guard) return undefined;
    if (content.ok) return toGuarded(record, content);
    return config.guard.followsUndecodable ? toGuardedUndecodable(record) : undefined;
  });
  const outcomes = new Array<RecordOutcome>(records.length);

  let admissions: Array<Admission | undefined>;
  try {
    admissions = await admit(config.guard, guarded, batch);
  } catch (error) {
    // The guard's store is unreachable: nothing may run, everything comes back later.
    config.logger.error("could not check for duplicates; the whole batch will be retried", {
      error: describeError(error),
    });
    records.forEach((_, index) => {
      outcomes[index] = { kind: "failed", error: describeError(error) };
    });
    return finish(records, outcomes, [], config, batch, started);
  }

  const deadLetter = async (index: number, reason: PoisonReason, detail: string): Promise<RecordOutcome> => {
    const record = records[index] as EngineRecord<TMessage>;
    const content = decoded[index] as Decoded<TMessage>;
    const event = {
      group: config.group,
      sourceRecordId: record.itemIdentifier,
      messageId: content.messageId,
      attempt: record.attempt,
    };
    if (!config.deadLetter) {
      const error = new Error(
        "no dead-letter queue is configured (set BROKER_DLQ_URL or deadLetterQueueUrl)",
      );
      config.observer.deadLetterFailed({ ...event, reason, error });
      return { kind: "failed", error: `${reason}: ${detail}` };
    }
    try {
      await config.deadLetter.send({
        body: record.original.body,
        ...(record.original.encoding ? { bodyEncoding: record.original.encoding } : {}),
        reason,
        detail,
        consumerGroup: config.group,
        ...(content.messageId ? { messageId: content.messageId } : {}),
        source: record.source,
        sourceRecordId: record.itemIdentifier,
        ...(record.messageGroupId ? { messageGroupId: record.messageGroupId } : {}),
        ...(record.attempt !== undefined ? { attempt: record.attempt } : {}),
      });
      config.observer.recordDeadLettered({ ...event, reason, detail });
      return { kind: "dead-lettered", reason };
    } catch (error) {
      config.observer.deadLetterFailed({ ...event, reason, error });
      return { kind: "failed", error: describeError(error) };
    }
  };

  /** Unreadable records of a stream batch, dead-lettered after the lanes have run. */
  const unreadableOnStream: number[] = [];

  const isFinalAttempt = (record: EngineRecord<TMessage>) =>
    config.maxAttempts !== undefined && record.attempt !== undefined && record.attempt >= config.maxAttempts;

  const processOne = async (index: number): Promise<RecordOutcome> => {
    const record = records[index] as EngineRecord<TMessage>;
    const content = decoded[index] as Decoded<TMessage>;
    const admission = admissions[index] ?? RUN;
    if (admission.kind === "skip") return { kind: "skipped", reason: admission.reason };
    let failure: unknown;
    if (admission.kind === "retry-later") {
      if (isFinalAttempt(record)) {
        failure = admission.reason;
      } else {
        config.observer.recordHeldBack?.({
          group: config.group,
          sourceRecordId: record.itemIdentifier,
          messageId: content.messageId,
          attempt: record.attempt,
          reason: admission.reason,
        });
        return { kind: "held-back", reason: admission.reason };
      }
    } else if (!content.ok) {
      if (record.sequenceNumber !== undefined) {
        // Decided once the batch's first failure is known (below).
        unreadableOnStream.push(index);
        return DEFERRED;
      }
      return deadLetter(index, content.reason, content.detail);
    } else if (admission.kind === "poison") {
      return deadLetter(index, admission.reason, admission.detail);
    } else {
      const context: Omit<HandlerContext, "transaction"> = {
        group: config.group,
        attempt: record.attempt,
        sourceRecordId: record.itemIdentifier,
        lambdaContext,
        logger: config.logger,
      };
      const invoke = async (extras: Pick<HandlerContext, "transaction">) => {
        await config.handler(content.message, { ...context, ...extras });
      };
      try {
        if (config.guard && guarded[index]) await config.guard.run(guarded[index], admission, invoke);
        else await invoke({ transaction: undefined });
        return { kind: "processed" };
      } catch (error) {
        if (error instanceof PoisonMessageError) return deadLetter(index, error.reason, error.message);
        failure = error;
      }
    }
    if (isFinalAttempt(record)) {
      return deadLetter(
        index,
        POISON_REASONS.retriesExhausted,
        `${describeError(failure)} (attempt ${record.attempt} of ${config.maxAttempts})`,
      );
    }
    config.observer.recordFailed({
      group: config.group,
      sourceRecordId: record.itemIdentifier,
      messageId: content.messageId,
      attempt: record.attempt,
      error: failure,
    });
    return { kind: "failed", error: describeError(failure) };
  };

  await forEachConcurrently(lanesOf(records), config.concurrency, async (lane) => {
    let blockedBy: string | undefined;
    for (const index of lane) {
      const record = records[index] as EngineRecord<TMessage>;
      if (blockedBy === undefined) {
        outcomes[index] = await processOne(index);
        const kind = outcomes[index]?.kind;
        if (kind === "failed" || kind === "held-back") blockedBy = record.itemIdentifier;
      } else if (isFinalAttempt(record)) {
        outcomes[index] = await deadLetter(
          index,
          POISON_REASONS.retriesExhausted,
          `not run: the earlier message ${blockedBy} of its lane failed (attempt ${record.attempt} of ${config.maxAttempts})`,
        );
      } else {
        outcomes[index] = { kind: "not-run", blockedBy };
      }
    }
  });

  // A stream retries from the batch's first failure and sends every record after it again: an unreadable
  // record past that point is dead-lettered when it comes back in order, not now and again on each retry.
  let firstRedelivered = outcomes.findIndex(
    (outcome) => REDELIVERED.has(outcome.kind) && outcome !== DEFERRED,
  );
  for (const index of unreadableOnStream.sort((a, b) => a - b)) {
    const content = decoded[index] as Decoded<TMessage> & { ok: false };
    if (firstRedelivered >= 0 && index > firstRedelivered) {
      outcomes[index] = {
        kind: "not-run",
        blockedBy: (records[firstRedelivered] as EngineRecord<TMessage>).itemIdentifier,
      };
      continue;
    }
    outcomes[index] = await deadLetter(index, content.reason, content.detail);
    if (outcomes[index]?.kind === "failed" && firstRedelivered < 0) firstRedelivered = index;
  }

  if (config.guard) {
    await config.guard.settle(
      guarded.flatMap((record, index) =>
        record
          ? [
              {
                record,
                admission: admissions[index] ?? RUN,
                outcome: settledOutcome(outcomes[index] as RecordOutcome),
              },
            ]
          : [],
      ),
      batch,
    );
  }
  return finish(records, outcomes, admissions, config, batch, started);
}

async function admit(
  guard: ProcessingGuard | undefined,
  guarded: ReadonlyArray<GuardedRecord | undefined>,
  batch: BatchInfo,
): Promise<Array<Admission | undefined>> {
  if (!guard) return guarded.map(() => undefined);
  const admissible = guarded.filter((record): record is GuardedRecord => record !== undefined);
  const decisions = admissible.length > 0 ? await guard.admit(admissible, batch) : [];
  let next = 0;
  return guarded.map((record) => (record ? decisions[next++] : undefined));
}

function toGuarded<TMessage>(
  record: EngineRecord<TMessage>,
  content: Decoded<TMessage> & { ok: true },
): GuardedRecord {
  return {
    messageId: content.messageId,
    message: content.message,
    fingerprint: content.fingerprint(),
    sourceRecordId: record.itemIdentifier,
    ...(record.shardId ? { shardId: record.shardId } : {}),
    ...(record.sequenceNumber ? { sequenceNumber: record.sequenceNumber } : {}),
    ...(record.attempt !== undefined ? { attempt: record.attempt } : {}),
  };
}

/** A record that could not be decoded, known to the guard by where it sits in its stream. */
function toGuardedUndecodable(record: EngineRecord<unknown>): GuardedRecord {
  return {
    messageId: `record:${record.shardId ?? ""}:${record.itemIdentifier}`,
    message: undefined,
    fingerprint: fingerprintOf(record.original.body),
    sourceRecordId: record.itemIdentifier,
    ...(record.shardId ? { shardId: record.shardId } : {}),
    ...(record.sequenceNumber ? { sequenceNumber: record.sequenceNumber } : {}),
  };
}

/**
 * Index lists, one per lane, in record order; a record without a lane is a lane of its own. Independent
 * records with a fairness key start round-robin across keys (first of each key, then second, …).
 */
function lanesOf(records: readonly EngineRecord<unknown>[]): number[][] {
  const lanes: number[][] = [];
  const byName = new Map<string, number[]>();
  const byFairness = new Map<string, number[][]>();
  records.forEach((record, index) => {
    if (record.lane === undefined) {
      if (record.fairnessKey === undefined) {
        lanes.push([index]);
        return;
      }
      const queue = byFairness.get(record.fairnessKey);
      if (queue) queue.push([index]);
      else byFairness.set(record.fairnessKey, [[index]]);
      return;
    }
    let lane = byName.get(record.lane);
    if (!lane) {
      lane = [];
      byName.set(record.lane, lane);
      lanes.push(lane);
    }
    lane.push(index);
  });
  const queues = [...byFairness.values()];
  for (let round = 0; queues.some((queue) => round < queue.length); round++) {
    for (const queue of queues) {
      const lane = queue[round];
      if (lane) lanes.push(lane);
    }
  }
  return lanes;
}

function settledOutcome(outcome: RecordOutcome): SettledOutcome {
  switch (outcome.kind) {
    case "processed":
    case "skipped":
      return "processed";
    case "dead-lettered":
      return "dead-lettered";
    case "failed":
    case "held-back":
      return "failed";
    case "not-run":
      return "not-run";
  }
}

function finish<TMessage>(
  records: readonly EngineRecord<TMessage>[],
  outcomes: readonly RecordOutcome[],
  admissions: ReadonlyArray<Admission | undefined>,
  config: EngineConfig<TMessage>,
  batch: BatchInfo,
  started: number,
): BatchResult {
  const count = (kind: RecordOutcome["kind"]) => outcomes.filter((outcome) => outcome.kind === kind).length;
  const deadLetterReasons: Partial<Record<PoisonReason, number>> = {};
  for (const outcome of outcomes) {
    if (outcome.kind === "dead-lettered")
      deadLetterReasons[outcome.reason] = (deadLetterReasons[outcome.reason] ?? 0) + 1;
  }
  const batchItemFailures = records
    .filter((_, index) => REDELIVERED.has((outcomes[index] as RecordOutcome).kind))
    .map((record) => ({ itemIdentifier: record.itemIdentifier }));
  const summary: BatchSummary = {
    group: config.group,
    source: batch.source,
    received: records.length,
    processed: count("processed"),
    skipped: count("skipped"),
    failed: count("failed") + count("not-run"),
    heldBack: count("held-back"),
    deadLettered: count("dead-lettered"),
    deadLetterReasons,
    payloadMismatches: admissions.filter((admission) => admission?.payloadMismatch).length,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
  };
  config.observer.batchCompleted(summary);
  return { batchItemFailures, outcomes, summary };
}

/** A Lambda handler over the engine, plus `processEvent` returning each record's outcome. */
export type BatchHandler<TEvent, TResponse> = ((event: TEvent, context?: Context) => Promise<TResponse>) & {
  processEvent(event: TEvent, context?: Context): Promise<BatchResult>;
};

/** Builds a wrapper from a source's record adapter: the "thin front end" over the one engine. */
export function batchHandler<TEvent extends { Records: readonly TRecord[] }, TRecord, TMessage>(
  config: EngineConfig<TMessage>,
  toEngineRecord: (record: TRecord) => EngineRecord<TMessage>,
): BatchHandler<TEvent, { batchItemFailures: Array<{ itemIdentifier: string }> }> {
  const processEvent = (event: TEvent, context?: Context) =>
    processBatch(event.Records.map(toEngineRecord), config, context);
  const handler = async (event: TEvent, context?: Context) => ({
    batchItemFailures: (await processEvent(event, context)).batchItemFailures,
  });
  return Object.assign(handler, { processEvent });
}
