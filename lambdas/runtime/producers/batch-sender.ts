import { backoffDelay, isTransientError, type RetryPolicy, sleep } from "../retry.js";

/** One entry of a batch API call (PublishBatch, PutRecords, SendMessageBatch). */
export interface OutgoingEntry<TEntry> {
  /** The message id, for results and errors. */
  readonly id: string;
  /**
   * Entries sharing a key are sent in order, one at a time: never two in one request or in concurrent
   * requests, so a later entry is never written before an earlier one that failed.
   */
  readonly orderKey: string | undefined;
  readonly bytes: number;
  readonly entry: TEntry;
}

export type EntryOutcome<TReceipt> =
  | { readonly ok: true; readonly receipt: TReceipt }
  | { readonly ok: false; readonly retryable: boolean; readonly code: string; readonly message: string };

export type SentOutcome<TReceipt> = EntryOutcome<TReceipt> & { readonly attempts: number };

export interface BatchLimits {
  /** Entries in one request. */
  readonly maxEntries: number;
  /** Bytes in one request, as the service counts them. */
  readonly maxBytes: number;
  /** Bytes of one entry. */
  readonly maxEntryBytes: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
}

/** Sends one batch; returns an outcome per entry, in the batch's order. */
export type BatchCall<TEntry, TReceipt> = (
  batch: readonly OutgoingEntry<TEntry>[],
) => Promise<EntryOutcome<TReceipt>[]>;

/**
 * Sends entries through a batch API within its limits, in rounds of concurrent requests, retrying only the
 * entries that failed (with backoff) until each succeeds, fails for good, or runs out of attempts.
 * Returns an outcome per entry, in input order.
 */
export async function sendInBatches<TEntry, TReceipt>(
  entries: readonly OutgoingEntry<TEntry>[],
  limits: BatchLimits,
  call: BatchCall<TEntry, TReceipt>,
  retry: RetryPolicy,
): Promise<SentOutcome<TReceipt>[]> {
  const outcomes = new Array<SentOutcome<TReceipt> | undefined>(entries.length);
  const attempts = new Array<number>(entries.length).fill(0);
  /** Per order key, the first of its entries that failed for good: the ones after it are not sent. */
  const blockedFrom = new Map<string, number>();
  let pending: number[] = [];

  const settle = (index: number, outcome: EntryOutcome<TReceipt>) => {
    outcomes[index] = { ...outcome, attempts: attempts[index] ?? 0 };
    const key = entries[index]?.orderKey;
    if (!outcome.ok && key !== undefined)
      blockedFrom.set(key, Math.min(blockedFrom.get(key) ?? index, index));
  };

  for (const [index, entry] of entries.entries()) {
    if (entry.bytes > limits.maxEntryBytes) {
      settle(index, {
        ok: false,
        retryable: false,
        code: "MessageTooLarge",
        message: `${entry.bytes} bytes exceeds the limit of ${limits.maxEntryBytes}`,
      });
    } else {
      pending.push(index);
    }
  }

  while (pending.length > 0) {
    pending = failBehindBlockedKeys(pending, entries, blockedFrom, settle);
    const round = planRound(pending, entries, limits);
    if (round.length === 0) break;
    const results = await Promise.all(
      round.map((batch) =>
        callSafely(
          call,
          batch.map((index) => entries[index] as OutgoingEntry<TEntry>),
        ),
      ),
    );

    let retryAttempt = 0;
    const settled = new Set<number>();
    round.forEach((batch, batchIndex) => {
      batch.forEach((index, position) => {
        attempts[index] = (attempts[index] ?? 0) + 1;
        const outcome = results[batchIndex]?.[position] ?? missingOutcome;
        if (outcome.ok || !outcome.retryable || (attempts[index] ?? 0) >= retry.maxAttempts) {
          settle(index, outcome);
          settled.add(index);
        } else {
          retryAttempt = Math.max(retryAttempt, attempts[index] ?? 0);
        }
      });
    });
    pending = pending.filter((index) => !settled.has(index));
    if (retryAttempt > 0) await sleep(backoffDelay(retryAttempt, retry));
  }
  return outcomes.map((outcome) => outcome ?? missingOutcomeWithAttempts);
}

const missingOutcome: EntryOutcome<never> = {
  ok: false,
  retryable: true,
  code: "MissingResult",
  message: "the service returned no result for this entry",
};
const missingOutcomeWithAttempts: SentOutcome<never> = { ...missingOutcome, retryable: false, attempts: 0 };

/** The code of an entry not sent because an earlier one of its key failed: it can be sent again later. */
export const PRECEDING_MESSAGE_FAILED = "PrecedingMessageFailed";

/** Entries behind a failed entry of the same key are not sent: that would write them out of order. */
function failBehindBlockedKeys<TEntry, TReceipt>(
  pending: number[],
  entries: readonly OutgoingEntry<TEntry>[],
  blockedFrom: ReadonlyMap<string, number>,
  settle: (index: number, outcome: EntryOutcome<TReceipt>) => void,
): number[] {
  if (blockedFrom.size === 0) return pending;
  return pending.filter((index) => {
    const key = entries[index]?.orderKey;
    const failedAt = key === undefined ? undefined : blockedFrom.get(key);
    if (failedAt === undefined || index < failedAt) return true;
    settle(index, {
      ok: false,
      retryable: false,
      code: PRECEDING_MESSAGE_FAILED,
      message: `an earlier message with key "${key}" failed, so this one was not sent (to keep their order)`,
    });
    return false;
  });
}

/** Up to `concurrency` batches from the pending entries, in order, with each order key at most once. */
function planRound<TEntry>(
  pending: readonly number[],
  entries: readonly OutgoingEntry<TEntry>[],
  limits: BatchLimits,
): number[][] {
  const batches: number[][] = [];
  const keysInRound = new Set<string>();
  let current: number[] = [];
  let bytes = 0;
  for (const index of pending) {
    const entry = entries[index] as OutgoingEntry<TEntry>;
    if (entry.orderKey !== undefined && keysInRound.has(entry.orderKey)) continue;
    if (current.length === limits.maxEntries || bytes + entry.bytes > limits.maxBytes) {
      batches.push(current);
      if (batches.length === limits.concurrency) return batches;
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += entry.bytes;
    if (entry.orderKey !== undefined) keysInRound.add(entry.orderKey);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

async function callSafely<TEntry, TReceipt>(
  call: BatchCall<TEntry, TReceipt>,
  batch: readonly OutgoingEntry<TEntry>[],
): Promise<EntryOutcome<TReceipt>[]> {
  try {
    return await call(batch);
  } catch (error) {
    const failure: EntryOutcome<TReceipt> = {
      ok: false,
      retryable: isTransientError(error),
      code: error instanceof Error ? error.name : "Error",
      message: error instanceof Error ? error.message : String(error),
    };
    return batch.map(() => failure);
  }
}
