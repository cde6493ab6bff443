import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { defaultDynamoDbClient } from "../aws-clients/dynamodb.js";
import { BROKER_ENV } from "../constants.js";
import { positiveInteger } from "../consumers/consumer-options.js";
import type { BatchInfo } from "../consumers/processing-guard.js";
import { ConfigurationError } from "../errors.js";
import { backoffDelay, DEFAULT_RETRY_POLICY, isTransientError, sleep } from "../retry.js";
import type { DedupStore } from "./dedup-store.js";
import { DynamoDbDedupStore } from "./dynamodb-dedup-store.js";

/** Where a guard keeps its records, and its clock. */
export interface GuardStoreOptions {
  /** The dedup table. @default - the BROKER_DEDUP_TABLE_NAME environment variable */
  readonly tableName?: string;
  /** @default - a client from the standard environment */
  readonly client?: DynamoDBClient;
  /** Replaces the DynamoDB table (an InMemoryDedupStore in unit tests). */
  readonly store?: DedupStore;
  /** How long a claim lasts outside Lambda, where no remaining time is known. @default 300000 (5 minutes) */
  readonly leaseWithoutLambdaContextMs?: number;
  /**
   * Caps a claim's lease (ms), for handlers known to finish quickly: a crashed worker's messages are then
   * taken over sooner. A handler still running past its lease may be overtaken (plain mode runs it twice;
   * transactional mode commits one). @default - BROKER_DEDUP_MAX_LEASE_MS, else the invocation's remaining time
   */
  readonly maxLeaseMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Waits (for a held lease to end, between retries of the store). Tests pass one that moves their clock. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface ResolvedStore {
  readonly store: DedupStore;
  readonly tableName: string;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** When a claim taken now ends: when this Lambda invocation would. */
  leaseEnd(batch: BatchInfo, now: number): number;
  /**
   * Until when this invocation may wait for a lease another invocation left behind, keeping time to
   * process: undefined outside Lambda (no remaining time known).
   */
  waitDeadline(batch: BatchInfo, now: number): number | undefined;
  /** Runs a store call, again with backoff while it fails transiently (the retry policy's attempts). */
  retrying<T>(call: () => Promise<T>): Promise<T>;
}

/**
 * Time kept to process a batch after waiting out a held lease. A lease that ends later than the deadline
 * leaves the invocation waiting until then: it returns "retry later" only after using its time, so a
 * stream's finite retries are never spent in quick succession on a lease (the next invocation starts after
 * the held lease has ended, since a lease never outlasts the invocation that took it).
 */
export const LEASE_WAIT_RESERVE_MS = 3_000;

export function resolveStore(guard: string, options: GuardStoreOptions): ResolvedStore {
  const tableName =
    options.tableName ?? process.env[BROKER_ENV.dedupTableName] ?? (options.store ? "in-memory" : undefined);
  if (!tableName) {
    throw new ConfigurationError(
      `${guard} needs the dedup table: pass { tableName } or set ${BROKER_ENV.dedupTableName} ` +
        "(the DedupTable construct sets it for the consumers it is bound to).",
    );
  }
  const fallbackLeaseMs = options.leaseWithoutLambdaContextMs ?? 300_000;
  const maxLeaseMs =
    options.maxLeaseMs ??
    positiveInteger(BROKER_ENV.dedupMaxLeaseMs, process.env[BROKER_ENV.dedupMaxLeaseMs]) ??
    Number.POSITIVE_INFINITY;
  return {
    store: options.store ?? new DynamoDbDedupStore(options.client ?? defaultDynamoDbClient(), tableName),
    tableName,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleep,
    leaseEnd: (batch, now) =>
      now + Math.min(maxLeaseMs, batch.lambdaContext?.getRemainingTimeInMillis() ?? fallbackLeaseMs),
    waitDeadline: (batch, now) =>
      batch.lambdaContext
        ? now + batch.lambdaContext.getRemainingTimeInMillis() - LEASE_WAIT_RESERVE_MS
        : undefined,
    retrying: (call) => retrying(call, options.sleep ?? sleep),
  };
}

async function retrying<T>(call: () => Promise<T>, wait: (ms: number) => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= DEFAULT_RETRY_POLICY.maxAttempts || !isTransientError(error)) throw error;
      await wait(backoffDelay(attempt, DEFAULT_RETRY_POLICY));
    }
  }
}

/** Seconds a completed record is kept: the option, else the environment the DedupTable sets, else 14 days. */
export function retentionSeconds(option: number | undefined): number {
  return (
    option ??
    positiveInteger(BROKER_ENV.dedupRetentionSeconds, process.env[BROKER_ENV.dedupRetentionSeconds]) ??
    14 * 24 * 3600
  );
}
