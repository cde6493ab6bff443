import { createHash, randomUUID } from "node:crypto";
import { BROKER_ENV, DEDUP_TABLE, guardScope } from "../constants.js";
import { positiveInteger } from "../consumers/consumer-options.js";
import { consumerLogger, describeError } from "../consumers/observability.js";
import type {
  Admission,
  BatchInfo,
  GuardedRecord,
  ProcessingGuard,
  SettledOutcome,
} from "../consumers/processing-guard.js";
import { ConfigurationError, POISON_REASONS } from "../errors.js";
import type { Checkpoint } from "./dedup-store.js";
import { type GuardStoreOptions, type ResolvedStore, resolveStore } from "./guard-options.js";

export interface CheckpointOptions extends GuardStoreOptions {
  /**
   * Message ids remembered per shard, to recognise producer retries (which Kinesis stores as new records
   * with new sequence numbers): a duplicate is caught while fewer than this many records of its shard
   * came between it and the original. Kept as 11-character hashes in the checkpoint item (~12 bytes each),
   * which every batch writes twice: 100 keep it near 1 KB. (Lambda's own retries and replays are caught
   * by the checkpoint and the ids finished past it, whatever this window.)
   * @default 100
   */
  readonly windowSize?: number;
}

/** Bounds the waits for a held lease, should the clock not move. */
const MAX_WAIT_ROUNDS = 8;

/** A shard's lease and checkpoint for one batch; the admissions of its records point to it. */
interface ShardClaim {
  readonly key: string;
  readonly token: string;
  readonly checkpoint: Checkpoint;
}

/**
 * Exactly-once processing for Kinesis consumer groups at a fraction of per-record dedup's cost: a
 * checkpoint per (consumer group, shard) holding the last committed sequence number and a window of
 * recent message ids. Each batch costs two conditional writes: one takes the shard's lease and reads the
 * checkpoint, one moves it (only while this worker holds the lease). Records at or below the checkpoint
 * (Lambda retries, replays) and ids in the window (producer retries) are skipped.
 *
 * Needs ParallelizationFactor 1: with several batches of one shard in flight, a per-shard checkpoint
 * cannot tell what each has done. Use `dynamoDbDedup` for groups that need more.
 */
export function kinesisCheckpoints(options: CheckpointOptions = {}): ProcessingGuard<undefined> {
  return new CheckpointGuard(options);
}

class CheckpointGuard implements ProcessingGuard<undefined> {
  readonly followsUndecodable = true;
  /** DynamoDB Streams events carry no shard id, so a per-shard checkpoint cannot be kept for them. */
  readonly sources = ["kinesis"] as const;
  readonly name = "kinesisCheckpoints()";
  private readonly resolved: ResolvedStore;
  private readonly windowSize: number;

  constructor(options: CheckpointOptions) {
    const factor =
      positiveInteger(BROKER_ENV.parallelizationFactor, process.env[BROKER_ENV.parallelizationFactor]) ?? 1;
    if (factor > 1) {
      throw new ConfigurationError(
        `kinesisCheckpoints needs ParallelizationFactor 1, but this consumer group runs with ${factor}: several ` +
          "batches of one shard are in flight at once and a per-shard checkpoint cannot tell what each has done. " +
          "Use dynamoDbDedup() (per-message dedup) for this group, or set parallelizationFactor to 1.",
      );
    }
    this.resolved = resolveStore("kinesisCheckpoints", options);
    this.windowSize = options.windowSize ?? 100;
  }

  async admit(records: readonly GuardedRecord[], batch: BatchInfo): Promise<Admission[]> {
    const now = this.resolved.now();
    const leaseExpiresAt = this.resolved.leaseEnd(batch, now);
    const admissions = new Array<Admission>(records.length);
    const byShard = new Map<string, number[]>();
    records.forEach((record, index) => {
      if (!record.shardId || !record.sequenceNumber) {
        throw new ConfigurationError(
          "kinesisCheckpoints guards Kinesis stream records only (each names its shard and sequence number); " +
            "use dynamoDbDedup() for queues and DynamoDB Streams.",
        );
      }
      const indexes = byShard.get(record.shardId);
      if (indexes) indexes.push(index);
      else byShard.set(record.shardId, [index]);
    });

    await Promise.all(
      [...byShard].map(async ([shardId, indexes]) => {
        // A replay on purpose keeps its own checkpoints (REPLAY_MARKER); the live ones stay as they were.
        const key = `${DEDUP_TABLE.checkpointPrefix}${guardScope(batch.group, batch.source)}#${shardId}`;
        const token = randomUUID();
        let at = now;
        let lease = await this.resolved.store.acquireCheckpoint(key, token, leaseExpiresAt, at);
        // A lease another invocation left behind (its commit failed, or it died) is waited out within this
        // invocation's time: answering "retry later" at once would spend the stream's finite retries.
        for (let round = 0; lease.outcome === "held" && round < MAX_WAIT_ROUNDS; round++) {
          const deadline = this.resolved.waitDeadline(batch, at);
          if (deadline === undefined || at >= deadline) break;
          await this.resolved.sleep(Math.max(1, Math.min(deadline, lease.leaseExpiresAt + 1) - at));
          at = this.resolved.now();
          lease = await this.resolved.store.acquireCheckpoint(
            key,
            token,
            this.resolved.leaseEnd(batch, at),
            at,
          );
        }
        if (lease.outcome === "held") {
          for (const index of indexes) {
            admissions[index] = {
              kind: "retry-later",
              reason: `shard ${shardId} is being processed by another worker until ${new Date(lease.leaseExpiresAt).toISOString()}`,
            };
          }
          return;
        }
        const claim: ShardClaim = { key, token, checkpoint: lease.checkpoint };
        const committed =
          lease.checkpoint.sequenceNumber === undefined ? undefined : BigInt(lease.checkpoint.sequenceNumber);
        const seen = new Set([...lease.checkpoint.recentIds, ...(lease.checkpoint.pastIds ?? [])]);
        const inBatch = new Map<string, string>();
        for (const index of indexes) {
          const record = records[index] as GuardedRecord;
          const idHash = hashId(record.messageId);
          if (committed !== undefined && BigInt(record.sequenceNumber as string) <= committed) {
            admissions[index] = {
              kind: "skip",
              reason: "at or below the shard's checkpoint",
              claim,
            } as Admission;
          } else if (inBatch.has(idHash) && inBatch.get(idHash) !== record.fingerprint) {
            admissions[index] = {
              kind: "poison",
              reason: POISON_REASONS.payloadMismatch,
              detail: `message id ${record.messageId} appears earlier in the same batch with different content`,
              payloadMismatch: true,
              claim,
            } as Admission;
          } else if (seen.has(idHash)) {
            admissions[index] = {
              kind: "skip",
              reason: "duplicate: a recent record of the shard had this message id",
              claim,
            } as Admission;
          } else {
            seen.add(idHash);
            inBatch.set(idHash, record.fingerprint);
            admissions[index] = { kind: "run", claim };
          }
        }
      }),
    );
    return admissions;
  }

  async run(
    _record: GuardedRecord,
    _admission: Admission,
    invoke: (extras: { transaction: undefined }) => Promise<void>,
  ): Promise<void> {
    await invoke({ transaction: undefined });
  }

  async settle(
    settled: ReadonlyArray<{ record: GuardedRecord; admission: Admission; outcome: SettledOutcome }>,
    batch: BatchInfo,
  ): Promise<void> {
    const byClaim = new Map<ShardClaim, Array<(typeof settled)[number]>>();
    for (const entry of settled) {
      const claim = (entry.admission as { claim?: ShardClaim }).claim;
      if (!claim) continue;
      const entries = byClaim.get(claim);
      if (entries) entries.push(entry);
      else byClaim.set(claim, [entry]);
    }
    const logger = consumerLogger(batch.group);
    await Promise.all(
      [...byClaim].map(async ([claim, entries]) => {
        try {
          const next = this.nextCheckpoint(claim.checkpoint, entries);
          const committed = await this.resolved.retrying(() =>
            this.resolved.store.commitCheckpoint(claim.key, claim.token, next),
          );
          if (!committed) {
            logger.warn(
              "the shard's lease was taken over before its checkpoint could move; its new owner replays from the last checkpoint",
              {
                checkpoint: claim.key,
              },
            );
          }
        } catch (error) {
          logger.error("could not move the shard's checkpoint; its records will be replayed", {
            checkpoint: claim.key,
            error: describeError(error),
          });
        }
      }),
    );
  }

  /**
   * The checkpoint moves to the end of the batch's finished prefix (processed, skipped or dead-lettered
   * records, in order, up to the first that failed). Every record that finished past it (ordering by key
   * lets later keys finish) is remembered in `pastIds` until the checkpoint passes it, so that Lambda's
   * replay skips it whatever the batch size. Lambda replays from just after the checkpoint, so a batch
   * holds every remembered record the new checkpoint passes: those are dropped by their place in it.
   * Records that ran also enter the window of recent ids (producer retries).
   */
  private nextCheckpoint(
    previous: Checkpoint,
    entries: ReadonlyArray<{ record: GuardedRecord; admission: Admission; outcome: SettledOutcome }>,
  ): Checkpoint {
    let sequenceNumber = previous.sequenceNumber;
    let inPrefix = true;
    const ran: string[] = [];
    const passed = new Set<string>();
    const finishedPast = new Set<string>();
    for (const { record, admission, outcome } of entries) {
      const finished = outcome === "processed" || outcome === "dead-lettered";
      const idHash = hashId(record.messageId);
      if (!finished) inPrefix = false;
      if (finished && inPrefix) {
        // Never backwards: a replay of records below the checkpoint (a mapping restarted at TRIM_HORIZON,
        // say) must not let the records between them and the checkpoint run again.
        if (sequenceNumber === undefined || BigInt(record.sequenceNumber as string) > BigInt(sequenceNumber))
          sequenceNumber = record.sequenceNumber;
        passed.add(idHash);
      } else if (finished) {
        finishedPast.add(idHash);
      }
      if (admission.kind === "run" && finished) ran.push(idHash);
    }
    const pastIds = [...new Set([...(previous.pastIds ?? []), ...finishedPast])].filter(
      (idHash) => !passed.has(idHash) || finishedPast.has(idHash),
    );
    return {
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
      recentIds: [...previous.recentIds, ...ran].slice(-this.windowSize),
      pastIds,
    };
  }
}

function hashId(messageId: string): string {
  return createHash("sha256").update(messageId).digest("base64url").slice(0, 11);
}
