import type { Context } from "aws-lambda";
import type { Transaction } from "../dedup/transaction.js";
import type { PoisonReason } from "../errors.js";
import type { HandlerContext } from "./handler-context.js";

/** A decoded record as a guard sees it. */
export interface GuardedRecord {
  /** The envelope id (DynamoDB Streams: the event id). */
  readonly messageId: string;
  /** The decoded message, for a custom dedup key. */
  readonly message: unknown;
  /** A hash of the message's content, to tell a replay from a different message reusing the id. */
  readonly fingerprint: string;
  readonly sourceRecordId: string;
  /** Kinesis: the shard; undefined for DynamoDB Streams (their events do not name it) and SQS. */
  readonly shardId?: string;
  /** Sequence number on ordered streams. */
  readonly sequenceNumber?: string;
  /** SQS: the delivery attempt (ApproximateReceiveCount); above 1 the message has been delivered before. */
  readonly attempt?: number;
}

/** What a guard decides for one record before its handler may run. */
export type Admission = (
  | { readonly kind: "run"; readonly claim?: unknown }
  /** Already processed: acknowledge without running. */
  | { readonly kind: "skip"; readonly reason: string }
  /** Being processed elsewhere right now: report a batch failure so the record comes back later. */
  | { readonly kind: "retry-later"; readonly reason: string }
  | { readonly kind: "poison"; readonly reason: PoisonReason; readonly detail: string }
) & {
  /** The id was seen before with different content (counted in the batch summary and metrics). */
  readonly payloadMismatch?: boolean;
};

export type SettledOutcome = "processed" | "failed" | "dead-lettered" | "not-run";

export interface BatchInfo {
  readonly group: string;
  readonly source: string;
  readonly lambdaContext: Context | undefined;
}

/**
 * Decides which records of a batch run, wraps each run, and records what happened: the seam where
 * exactly-once processing (dedup claims, Kinesis checkpoints, transactions) plugs into every consumer.
 */
/** The event sources a consumer wrapper reads. */
export type ConsumerSource = "sqs" | "kinesis" | "dynamodb-streams";

/**
 * `TTransaction` is what handlers find in `context.transaction`: `Transaction` for a transactional guard,
 * `undefined` for the others.
 */
export interface ProcessingGuard<TTransaction extends Transaction | undefined = Transaction | undefined> {
  /**
   * The sources this guard can protect; the wrappers refuse any other at cold start with a
   * ConfigurationError. @default - every source
   */
  readonly sources?: readonly ConsumerSource[];
  /** What the guard is called in errors, e.g. `kinesisCheckpoints()`. */
  readonly name?: string;
  /**
   * Also admit and settle records that could not be decoded (poison), as `record:<shard>:<sequence>`
   * with no message: a stream replays them with the records around them, and a guard that remembers
   * them keeps them from being dead-lettered again. Guards keyed by message content leave this unset.
   */
  readonly followsUndecodable?: boolean;
  /** Once per batch, before any handler: a decision per record, in order. */
  admit(records: readonly GuardedRecord[], batch: BatchInfo): Promise<Admission[]>;
  /** Runs one admitted record; a transactional guard commits the handler's writes with its completion. */
  run(
    record: GuardedRecord,
    admission: Admission & { kind: "run" },
    invoke: (extras: Pick<HandlerContext<TTransaction>, "transaction">) => Promise<void>,
  ): Promise<void>;
  /** Once per batch, after every handler: complete the processed, release the rest. Must not throw. */
  settle(
    settled: ReadonlyArray<{ record: GuardedRecord; admission: Admission; outcome: SettledOutcome }>,
    batch: BatchInfo,
  ): Promise<void>;
}
