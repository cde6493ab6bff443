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
  /** When the claim being completed ends (epoch ms): past it, another worker may own the record. */
  readonly leaseExpiresAt: number;
}

/** A Kinesis shard's progress for one consumer group. */
export interface Checkpoint {
  /** The last sequence number committed, if any. */
  readonly sequenceNumber?: string;
  /** Hashes of the most recently processed message ids, oldest first (bounded): producer retries. */
  readonly recentIds: readonly string[];
  /**
   * Hashes of the ids of records that finished PAST the checkpoint (ordering by key lets other keys finish
   * after a failure), kept until the checkpoint passes them, so that Lambda's replay skips them. At most
   * one batch's worth (10,000 records, 12 bytes each): the item stays far below DynamoDB's 400 KB.
   */
  readonly pastIds?: readonly string[];
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
  /**
   * Marks records completed, only where this worker still holds the claim: a claim whose lease is still
   * running cannot have been taken over, so those go in batches of 25; one whose lease ran out is completed
   * by a conditional write on its token. Returns the keys not completed because another worker owns them.
   */
  complete(completions: readonly CompletionRequest[], now: number): Promise<string[]>;
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

/**
 * A claim whose lease ends later than this is completed without a condition: no other worker can have
 * taken it over yet, unless its clock ran this far ahead. Lambda hosts keep time by NTP (milliseconds).
 */
export const COMPLETION_CLOCK_MARGIN_MS = 2_000;
