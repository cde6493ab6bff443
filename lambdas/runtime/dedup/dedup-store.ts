import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";

/** A dedup record as stored: keyed by consumer group and message id. */
export interface DedupRecord {
  readonly key: string;
  readonly status: "IN_PROGRESS" | "COMPLETED";
  readonly fingerprint: string;
  /** The claim's owner while IN_PROGRESS. */
  readonly token?: string;
  /** Epoch ms at which an IN_PROGRESS claim may be taken over. */
  readonly leaseExpiresAt?: number;
  /** Epoch seconds after which the record no longer counts (and DynamoDB TTL deletes it). */
  readonly expiresAt: number;
}

export interface ClaimRequest {
  readonly key: string;
  readonly fingerprint: string;
  readonly token: string;
  readonly leaseExpiresAt: number;
  readonly expiresAt: number;
}

/** `claimed`: this worker may run it. `exists`: someone has; the record says who and how far. */
export type ClaimResult =
  | { readonly outcome: "claimed" }
  | { readonly outcome: "exists"; readonly record: DedupRecord };

export interface CompletionRequest {
  readonly key: string;
  readonly fingerprint: string;
  readonly token: string;
  readonly expiresAt: number;
}

/** A Kinesis shard's progress for one consumer group. */
export interface Checkpoint {
  /** The last sequence number committed, if any. */
  readonly sequenceNumber?: string;
  /** Hashes of the most recently processed message ids, oldest first (bounded). */
  readonly recentIds: readonly string[];
}

export type CheckpointLease =
  | { readonly outcome: "acquired"; readonly checkpoint: Checkpoint }
  | { readonly outcome: "held"; readonly leaseExpiresAt: number };

/**
 * Where the dedup middleware keeps its records: DynamoDB in Lambda, memory in unit tests. Every method
 * is one round trip (requests inside it run in parallel or as one batch).
 */
export interface DedupStore {
  /** One conditional write per claim, in parallel: new, or the previous claim's lease (or TTL) has run out. */
  claim(claims: readonly ClaimRequest[], now: number): Promise<ClaimResult[]>;
  /** Reads records (one BatchGetItem per 100): the optional prefilter for duplicate-heavy traffic. */
  read(keys: readonly string[]): Promise<Map<string, DedupRecord>>;
  /** Marks records completed, in batches of 25, unconditionally. */
  complete(completions: readonly CompletionRequest[], now: number): Promise<void>;
  /** Deletes claims, each only if this worker still holds it. */
  release(claims: ReadonlyArray<{ key: string; token: string }>): Promise<void>;
  /**
   * One transaction: the completion (only if this worker still holds the claim) and `writes`.
   * Throws TransactionCancelledError with a reason per action when DynamoDB cancels it.
   */
  commit(completion: CompletionRequest, writes: readonly TransactWriteItem[], now: number): Promise<void>;
  /** Takes the shard's checkpoint lease (one conditional update) and returns the checkpoint. */
  acquireCheckpoint(
    key: string,
    token: string,
    leaseExpiresAt: number,
    now: number,
  ): Promise<CheckpointLease>;
  /** Writes the checkpoint and drops the lease, only if `token` still holds it; false if it did not. */
  commitCheckpoint(key: string, token: string, checkpoint: Checkpoint): Promise<boolean>;
}
