/** How failed calls or batch entries are retried: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 25, maxDelayMs: 2_000 };

/** Delay before attempt `attempt + 1`: uniform in [0, min(max, base * 2^(attempt-1))] ("full jitter"). */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

const TRANSIENT_ERROR_NAMES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "KMSThrottlingException",
  "LimitExceededException",
  "InternalFailure",
  "InternalError",
  "InternalServerError",
  "ServiceUnavailable",
  "TransactionInProgressException",
]);

/** True for errors worth retrying: throttling, server faults, and network failures with no response. */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const sdkError = error as Error & {
    $fault?: "client" | "server";
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (sdkError.$retryable || TRANSIENT_ERROR_NAMES.has(error.name)) return true;
  if (sdkError.$fault === "server") return true;
  const status = sdkError.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  // No service response at all: a connection reset, refused, or timed out.
  return sdkError.$fault === undefined;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
