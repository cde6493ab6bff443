import { type FilterPattern, parseFilterCriteria } from "../event-filter.js";
import type { OnFailureDestination } from "./on-failure.js";

/** An event source mapping's settings, with AWS's defaults where the template says nothing. */
export interface EventSourceSettings {
  readonly logicalId: string;
  readonly batchSize: number;
  readonly maxBatchingWindowMs: number;
  /** SQS: concurrent batches (ScalingConfig.MaximumConcurrency). */
  readonly maxConcurrency: number;
  readonly startingPosition: "TRIM_HORIZON" | "LATEST";
  readonly bisectOnError: boolean;
  /** -1: retry until the record expires. */
  readonly maxRetryAttempts: number;
  /** -1: never too old. */
  readonly maxRecordAgeSeconds: number;
  readonly parallelizationFactor: number;
  /** Kinesis/DynamoDB Streams: tumbling window length in seconds (0–900); 0 for none. */
  readonly tumblingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  readonly onFailure: OnFailureDestination | undefined;
  readonly filters: readonly FilterPattern[];
}

/** Concurrent SQS batches when the template sets no MaximumConcurrency (AWS scales further). */
export const DEFAULT_SQS_CONCURRENCY = 5;

export function settingsOf(
  logicalId: string,
  properties: Record<string, unknown>,
  kind: "sqs" | "stream",
  onFailure: OnFailureDestination | undefined,
): EventSourceSettings {
  const number = (value: unknown, fallback: number) => (value === undefined ? fallback : Number(value));
  return {
    logicalId,
    batchSize: number(properties.BatchSize, kind === "sqs" ? 10 : 100),
    maxBatchingWindowMs: number(properties.MaximumBatchingWindowInSeconds, 0) * 1000,
    maxConcurrency: number(
      (properties.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency,
      DEFAULT_SQS_CONCURRENCY,
    ),
    startingPosition: properties.StartingPosition === "LATEST" ? "LATEST" : "TRIM_HORIZON",
    bisectOnError:
      properties.BisectBatchOnFunctionError === true || properties.BisectBatchOnFunctionError === "true",
    maxRetryAttempts: number(properties.MaximumRetryAttempts, -1),
    maxRecordAgeSeconds: number(properties.MaximumRecordAgeInSeconds, -1),
    parallelizationFactor: number(properties.ParallelizationFactor, 1),
    tumblingWindowSeconds: number(properties.TumblingWindowInSeconds, 0),
    reportBatchItemFailures: ((properties.FunctionResponseTypes as string[] | undefined) ?? []).includes(
      "ReportBatchItemFailures",
    ),
    onFailure,
    filters: parseFilterCriteria(properties.FilterCriteria),
  };
}

/** The failed item ids a function reported, or undefined if its response is not a valid partial batch response. */
export function reportedFailures(response: unknown, knownIds: ReadonlySet<string>): string[] | undefined {
  if (response === undefined || response === null) return [];
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return [];
  if (!Array.isArray(failures)) return undefined;
  const ids: string[] = [];
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    // Lambda treats an empty, missing or unknown identifier as a failure of the whole batch.
    if (typeof id !== "string" || id === "" || !knownIds.has(id)) return undefined;
    ids.push(id);
  }
  return ids;
}
