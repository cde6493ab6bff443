import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { TransactionCancelledError } from "../errors.js";
import type {
  Checkpoint,
  CheckpointLease,
  ClaimRequest,
  ClaimResult,
  CompletionRequest,
  DedupRecord,
  DedupStore,
} from "./dedup-store.js";
import { COMPLETION_CLOCK_MARGIN_MS } from "./dedup-store.js";

/**
 * The dedup store in memory, with the same conditions as the DynamoDB one: for unit tests, and for
 * processes that need no durability. `committed` keeps what transactional commits wrote, in order.
 */
export class InMemoryDedupStore implements DedupStore {
  readonly records = new Map<string, DedupRecord>();
  readonly committed: TransactWriteItem[][] = [];
  private readonly checkpoints = new Map<string, Checkpoint & { token?: string; leaseExpiresAt?: number }>();
  /** Calls made, by method: to check the middleware's cost. */
  readonly calls = {
    claim: 0,
    read: 0,
    complete: 0,
    release: 0,
    commit: 0,
    acquireCheckpoint: 0,
    commitCheckpoint: 0,
  };

  async claim(claims: readonly ClaimRequest[], now: number): Promise<ClaimResult[]> {
    this.calls.claim += claims.length;
    return claims.map((claim) => {
      const existing = this.records.get(claim.key);
      const free =
        !existing ||
        (existing.status === "IN_PROGRESS" &&
          (existing.leaseExpiresAt ?? 0) < now &&
          existing.fingerprint === claim.fingerprint) ||
        existing.expiresAt < Math.floor(now / 1000);
      if (!free) return { outcome: "exists", record: existing };
      this.records.set(claim.key, { ...claim, status: "IN_PROGRESS" });
      return { outcome: "claimed" };
    });
  }

  async read(keys: readonly string[]): Promise<Map<string, DedupRecord>> {
    this.calls.read += Math.ceil(keys.length / 100);
    return new Map(
      keys.flatMap((key) => (this.records.has(key) ? [[key, this.records.get(key) as DedupRecord]] : [])),
    );
  }

  async complete(completions: readonly CompletionRequest[], now: number): Promise<string[]> {
    const live = completions.filter(
      (completion) => completion.leaseExpiresAt - COMPLETION_CLOCK_MARGIN_MS > now,
    );
    this.calls.complete += Math.ceil(live.length / 25) + (completions.length - live.length);
    const lost: string[] = [];
    for (const completion of completions) {
      const current = this.records.get(completion.key);
      if (current?.status !== "IN_PROGRESS" || current.token !== completion.token) {
        lost.push(completion.key);
        continue;
      }
      this.records.set(completion.key, {
        key: completion.key,
        status: "COMPLETED",
        fingerprint: completion.fingerprint,
        expiresAt: completion.expiresAt,
      });
    }
    return lost;
  }

  async release(claims: ReadonlyArray<{ key: string; token: string }>): Promise<void> {
    this.calls.release += claims.length;
    for (const claim of claims) {
      if (this.records.get(claim.key)?.token === claim.token) this.records.delete(claim.key);
    }
  }

  async commit(completion: CompletionRequest, writes: readonly TransactWriteItem[]): Promise<void> {
    this.calls.commit++;
    const current = this.records.get(completion.key);
    if (current?.status !== "IN_PROGRESS" || current.token !== completion.token) {
      throw new TransactionCancelledError(completion.key, [
        { index: 0, action: `dedup completion of ${completion.key}`, code: "ConditionalCheckFailed" },
      ]);
    }
    this.records.set(completion.key, {
      key: completion.key,
      status: "COMPLETED",
      fingerprint: completion.fingerprint,
      expiresAt: completion.expiresAt,
    });
    this.committed.push([...writes]);
  }

  async acquireCheckpoint(
    key: string,
    token: string,
    leaseExpiresAt: number,
    now: number,
  ): Promise<CheckpointLease> {
    this.calls.acquireCheckpoint++;
    const current = this.checkpoints.get(key) ?? { recentIds: [] };
    if (current.token !== undefined && (current.leaseExpiresAt ?? 0) >= now) {
      return { outcome: "held", leaseExpiresAt: current.leaseExpiresAt ?? 0 };
    }
    this.checkpoints.set(key, { ...current, token, leaseExpiresAt });
    return {
      outcome: "acquired",
      checkpoint: {
        ...(current.sequenceNumber ? { sequenceNumber: current.sequenceNumber } : {}),
        recentIds: current.recentIds,
        pastIds: current.pastIds ?? [],
      },
    };
  }

  async commitCheckpoint(key: string, token: string, checkpoint: Checkpoint): Promise<boolean> {
    this.calls.commitCheckpoint++;
    if (this.checkpoints.get(key)?.token !== token) return false;
    this.checkpoints.set(key, { ...checkpoint });
    return true;
  }

  /** The committed checkpoint of a key, for tests. */
  checkpointOf(key: string): Checkpoint | undefined {
    const current = this.checkpoints.get(key);
    return current
      ? {
          ...(current.sequenceNumber ? { sequenceNumber: current.sequenceNumber } : {}),
          recentIds: current.recentIds,
          pastIds: current.pastIds ?? [],
        }
      : undefined;
  }
}
