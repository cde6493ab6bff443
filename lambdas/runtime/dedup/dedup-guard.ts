import { randomUUID } from "node:crypto";
import { guardScope } from "../constants.js";
import { consumerLogger, describeError } from "../consumers/observability.js";
import type {
  Admission,
  BatchInfo,
  GuardedRecord,
  ProcessingGuard,
  SettledOutcome,
} from "../consumers/processing-guard.js";
import { POISON_REASONS, RetryLaterError, TransactionCancelledError } from "../errors.js";
import type { ClaimRequest, CompletionRequest, DedupRecord } from "./dedup-store.js";
import {
  type GuardStoreOptions,
  type ResolvedStore,
  resolveStore,
  retentionSeconds,
} from "./guard-options.js";
import { type Transaction, TransactionBuilder } from "./transaction.js";

export interface DedupOptions extends GuardStoreOptions {
  /**
   * `plain`: the handler runs, then its record is marked completed. A crash between the side effect and
   * the completion leaves a window in which a redelivery runs it again (at-least-once).
   * `transactional`: the handler adds its DynamoDB writes and outgoing messages to `context.transaction`,
   * and they commit in one transaction with the completion: exactly once, no window.
   * @default "plain"
   */
  readonly mode?: "plain" | "transactional";
  /**
   * How long a completed record is kept, in seconds: cover the channel's redelivery window (SQS keeps a
   * message up to 14 days). @default - BROKER_DEDUP_RETENTION_SECONDS, else 1209600 (14 days)
   */
  readonly retentionSeconds?: number;
  /** The dedup key within the group. @default - the message id */
  readonly key?: (message: unknown) => string;
  /** A message id seen before with different content: dead-letter it (`poison`) or acknowledge it (`skip`). @default "poison" */
  readonly onPayloadMismatch?: "poison" | "skip";
  /**
   * Read the batch's records first (one BatchGetItem of up to 100 keys) so that duplicates are skipped
   * without a conditional write each. It costs a round trip, so it pays only when duplicates are common:
   * `adaptive` turns it on for a batch that carries a redelivered SQS message (a redelivery storm), and
   * while duplicates dominated the recent batches (a replay, a redrive). @default "adaptive"
   */
  readonly prefilter?: "never" | "always" | "adaptive";
}

/** What a run admission carries: the claim this worker holds, which its completion presents. */
type Claim = CompletionRequest;

const ADAPTIVE_PREFILTER_THRESHOLD = 0.5;
/**
 * Weight of the latest batch in the moving duplicate share: one batch of duplicates turns the prefilter
 * on (0.6 > 0.5) and one batch of new messages turns it off again (0.6 × 0.4 = 0.24).
 */
const DUPLICATE_SHARE_WEIGHT = 0.6;
/** Bounds the waits for held claims, should the clock not move. */
const MAX_WAIT_ROUNDS = 8;

/**
 * Exactly-once processing for any consumer wrapper, keyed by (consumer group, message id): claims a
 * batch's messages in parallel with one conditional write each, runs only what it claimed, and completes
 * them in batches of 25. A new message costs 1 + 1/25 requests (1.1 on batches of 10), a duplicate one, or a
 * share of one BatchGetItem per batch while the prefilter is on (a storm of redeliveries or a replay).
 *
 * ```ts
 * export const handler = sqsConsumer({ dedup: dynamoDbDedup(), handler: async (message) => { … } });
 * ```
 */
export function dynamoDbDedup(
  options: DedupOptions & { readonly mode: "transactional" },
): ProcessingGuard<Transaction>;
export function dynamoDbDedup(
  options?: DedupOptions & { readonly mode?: "plain" },
): ProcessingGuard<undefined>;
export function dynamoDbDedup(options?: DedupOptions): ProcessingGuard<Transaction | undefined>;
export function dynamoDbDedup(options: DedupOptions = {}): ProcessingGuard<Transaction | undefined> {
  return new DedupGuard(options);
}

class DedupGuard implements ProcessingGuard {
  private readonly resolved: ResolvedStore;
  private readonly transactional: boolean;
  private readonly retentionSeconds: number;
  /** Moving share of duplicates among recent messages, for the adaptive prefilter. */
  private duplicateRate = 0;

  constructor(private readonly options: DedupOptions) {
    this.resolved = resolveStore("dynamoDbDedup", options);
    this.transactional = options.mode === "transactional";
    this.retentionSeconds = retentionSeconds(options.retentionSeconds);
  }

  async admit(records: readonly GuardedRecord[], batch: BatchInfo): Promise<Admission[]> {
    const now = this.resolved.now();
    const leaseExpiresAt = this.resolved.leaseEnd(batch, now);
    const expiresAt = Math.floor(now / 1000) + this.retentionSeconds;
    // A replay on purpose keeps its rows apart from the live ones (REPLAY_MARKER).
    const scope = guardScope(batch.group, batch.source);
    const keys = records.map(
      (record) => `${scope}#${this.options.key ? this.options.key(record.message) : record.messageId}`,
    );
    const admissions = new Array<Admission>(records.length);

    // A record repeated within the batch is decided once; its later copies are duplicates, unless their
    // content differs: a reused id, treated like one seen across batches.
    const firstIndexOf = new Map<string, number>();
    keys.forEach((key, index) => {
      const first = firstIndexOf.get(key);
      if (first === undefined) {
        firstIndexOf.set(key, index);
      } else if (
        (records[first] as GuardedRecord).fingerprint !== (records[index] as GuardedRecord).fingerprint
      ) {
        admissions[index] = this.mismatch(
          records[index] as GuardedRecord,
          "appears earlier in the same batch",
        );
      } else {
        admissions[index] = { kind: "skip", reason: "duplicate within the batch" };
      }
    });

    const known = this.usePrefilter(records)
      ? await this.resolved.store.read([...firstIndexOf.keys()])
      : new Map<string, DedupRecord>();
    const claims: ClaimRequest[] = [];
    const claimIndexes: number[] = [];
    for (const [key, index] of firstIndexOf) {
      const record = records[index] as GuardedRecord;
      const existing = known.get(key);
      if (existing && existing.status === "COMPLETED" && existing.expiresAt >= Math.floor(now / 1000)) {
        admissions[index] = this.decideExisting(record, existing);
        continue;
      }
      claims.push({ key, fingerprint: record.fingerprint, token: randomUUID(), leaseExpiresAt, expiresAt });
      claimIndexes.push(index);
    }

    await this.claimAll(records, claims, claimIndexes, admissions, batch, now);
    const duplicates = admissions.filter((admission) => admission.kind !== "run").length;
    this.duplicateRate =
      (1 - DUPLICATE_SHARE_WEIGHT) * this.duplicateRate +
      DUPLICATE_SHARE_WEIGHT * (records.length > 0 ? duplicates / records.length : 0);
    return admissions;
  }

  /**
   * Claims, and decides each claimed record. On a stream, a claim another invocation left behind (its
   * release failed, or it died) is waited out within this invocation's time rather than answered "retry
   * later" at once, which would spend the stream's finite retries in quick succession.
   */
  private async claimAll(
    records: readonly GuardedRecord[],
    claims: ClaimRequest[],
    claimIndexes: number[],
    admissions: Admission[],
    batch: BatchInfo,
    now: number,
  ): Promise<void> {
    let pending = claims.map((claim, position) => ({ claim, index: claimIndexes[position] as number }));
    let at = now;
    for (let round = 0; pending.length > 0; round++) {
      const results = await this.resolved.store.claim(
        pending.map(({ claim }) => claim),
        at,
      );
      const held: Array<{ claim: ClaimRequest; index: number; until: number }> = [];
      results.forEach((result, position) => {
        const { claim, index } = pending[position] as (typeof pending)[number];
        const record = records[index] as GuardedRecord;
        if (result.outcome === "claimed") {
          admissions[index] = {
            kind: "run",
            claim: {
              key: claim.key,
              token: claim.token,
              fingerprint: claim.fingerprint,
              expiresAt: claim.expiresAt,
              leaseExpiresAt: claim.leaseExpiresAt,
            } satisfies Claim,
          };
          return;
        }
        admissions[index] = this.decideExisting(record, result.record);
        // Streams (Kinesis and DynamoDB Streams records carry a sequence number) retry a batch a finite
        // number of times; SQS redelivers until maxReceiveCount and holds the message back meanwhile.
        if (admissions[index].kind === "retry-later" && record.sequenceNumber !== undefined) {
          held.push({ claim, index, until: result.record.leaseExpiresAt ?? at });
        }
      });
      const deadline = this.resolved.waitDeadline(batch, at);
      if (held.length === 0 || deadline === undefined || at >= deadline || round >= MAX_WAIT_ROUNDS) return;
      const until = Math.min(deadline, Math.max(...held.map((entry) => entry.until)) + 1);
      await this.resolved.sleep(Math.max(1, until - at));
      at = this.resolved.now();
      const leaseExpiresAt = this.resolved.leaseEnd(batch, at);
      pending = held.map(({ claim, index }) => ({ claim: { ...claim, leaseExpiresAt }, index }));
    }
  }

  async run(
    _record: GuardedRecord,
    admission: Admission & { kind: "run" },
    invoke: (extras: { transaction: TransactionBuilder | undefined }) => Promise<void>,
  ): Promise<void> {
    if (!this.transactional) {
      await invoke({ transaction: undefined });
      return;
    }
    const claim = admission.claim as Claim;
    const transaction = new TransactionBuilder(this.resolved.tableName, claim.expiresAt);
    await invoke({ transaction });
    try {
      await this.resolved.store.commit(claim, transaction.items(), this.resolved.now());
    } catch (error) {
      if (error instanceof TransactionCancelledError && error.claimLost) {
        // Our lease ran out and another worker took the message over: it is theirs to finish.
        throw new RetryLaterError(`${error.message}; the message now belongs to another worker`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async settle(
    settled: ReadonlyArray<{ record: GuardedRecord; admission: Admission; outcome: SettledOutcome }>,
    batch: BatchInfo,
  ): Promise<void> {
    const ours = settled.filter(({ admission }) => admission.kind === "run" && admission.claim !== undefined);
    const claimOf = (entry: (typeof ours)[number]) => (entry.admission as { claim: Claim }).claim;
    // Transactional runs completed in their own transaction.
    const completions = this.transactional
      ? []
      : ours.filter((entry) => entry.outcome === "processed").map(claimOf);
    // Failed and dead-lettered messages are released, so that a redelivery (or a redrive) runs them again.
    const releases = ours.filter((entry) => entry.outcome !== "processed").map(claimOf);
    const logger = consumerLogger(batch.group);
    const { store } = this.resolved;
    await Promise.all([
      completions.length > 0 &&
        this.resolved
          .retrying(() => store.complete(completions, this.resolved.now()))
          .then((lost) => {
            if (lost.length > 0) {
              logger.warn(
                "processed messages were not marked completed: their lease ran out and another worker owns them now",
                { keys: lost },
              );
            }
          })
          .catch((error: unknown) =>
            logger.error(
              "could not mark processed messages completed; a redelivery within their lease would run them again",
              { count: completions.length, error: describeError(error) },
            ),
          ),
      releases.length > 0 &&
        this.resolved
          .retrying(() => store.release(releases))
          .catch((error: unknown) =>
            logger.warn("could not release claims; they will be taken over when their lease ends", {
              count: releases.length,
              error: describeError(error),
            }),
          ),
    ]);
  }

  private decideExisting(record: GuardedRecord, existing: DedupRecord): Admission {
    if (existing.fingerprint && existing.fingerprint !== record.fingerprint)
      return this.mismatch(record, "was processed before");
    if (existing.status === "COMPLETED") return { kind: "skip", reason: "duplicate: already processed" };
    return {
      kind: "retry-later",
      reason: `being processed by another worker until ${new Date(existing.leaseExpiresAt ?? 0).toISOString()}`,
    };
  }

  private mismatch(record: GuardedRecord, when: string): Admission {
    const detail = `message id ${record.messageId} ${when} with different content`;
    return this.options.onPayloadMismatch === "skip"
      ? { kind: "skip", reason: detail, payloadMismatch: true }
      : { kind: "poison", reason: POISON_REASONS.payloadMismatch, detail, payloadMismatch: true };
  }

  private usePrefilter(records: readonly GuardedRecord[]): boolean {
    const prefilter = this.options.prefilter ?? "adaptive";
    if (prefilter !== "adaptive") return prefilter === "always";
    return (
      this.duplicateRate > ADAPTIVE_PREFILTER_THRESHOLD ||
      records.some((record) => record.attempt !== undefined && record.attempt > 1)
    );
  }
}
