import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { CONSUMER_METRICS, METRICS_NAMESPACE, METRICS_SERVICE } from "../constants.js";
import type { PoisonReason } from "../errors.js";

/** What one batch came to. */
export interface BatchSummary {
  readonly group: string;
  readonly source: string;
  readonly received: number;
  readonly processed: number;
  /** Acknowledged without running: duplicates, already-checkpointed records. */
  readonly skipped: number;
  /** Reported back for redelivery because they failed or wait behind a failure of their lane. */
  readonly failed: number;
  /**
   * Reported back for redelivery without running, though nothing failed: in flight elsewhere (an in-flight
   * duplicate, a shard another worker holds). Not counted in `failed`.
   */
  readonly heldBack: number;
  readonly deadLettered: number;
  readonly deadLetterReasons: Readonly<Partial<Record<PoisonReason, number>>>;
  /** Message ids seen again with different content. */
  readonly payloadMismatches: number;
  readonly durationMs: number;
}

export interface RecordEvent {
  readonly group: string;
  readonly sourceRecordId: string;
  readonly messageId?: string;
  readonly attempt?: number;
}

/** Where the consumer wrappers report; the default logs with Powertools Logger and emits EMF metrics. */
export interface ConsumerObserver {
  recordFailed(event: RecordEvent & { readonly error: unknown }): void;
  /** The record was returned for redelivery without running: it is in flight elsewhere. Not a failure. */
  recordHeldBack?(event: RecordEvent & { readonly reason: string }): void;
  recordDeadLettered(event: RecordEvent & { readonly reason: PoisonReason; readonly detail: string }): void;
  /** The record could not be dead-lettered either; it is reported failed so that it is not lost. */
  deadLetterFailed(event: RecordEvent & { readonly reason: PoisonReason; readonly error: unknown }): void;
  batchCompleted(summary: BatchSummary): void;
}

const loggers = new Map<string, Logger>();

/** The group's logger: JSON lines, level from POWERTOOLS_LOG_LEVEL. */
export function consumerLogger(group: string): Logger {
  let logger = loggers.get(group);
  if (!logger) {
    logger = new Logger({ serviceName: METRICS_SERVICE, persistentKeys: { consumerGroup: group } });
    loggers.set(group, logger);
  }
  return logger;
}

/**
 * Logs a line per failure and per dead letter and one per batch, and emits the counts and duration as
 * CloudWatch EMF metrics with a ConsumerGroup dimension. Nothing per successful record: that would cost
 * more than the processing it reports.
 */
export class PowertoolsObserver implements ConsumerObserver {
  private readonly logger: Logger;
  private readonly metrics: Metrics;

  constructor(group: string) {
    this.logger = consumerLogger(group);
    this.metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: METRICS_SERVICE,
      defaultDimensions: { ConsumerGroup: group },
    });
  }

  recordFailed({ error, ...event }: RecordEvent & { error: unknown }): void {
    this.logger.warn("message failed; it will be redelivered", { ...event, error: describeError(error) });
  }

  recordHeldBack(event: RecordEvent & { reason: string }): void {
    this.logger.info("message held back: in flight elsewhere; it will be redelivered", { ...event });
  }

  recordDeadLettered(event: RecordEvent & { reason: PoisonReason; detail: string }): void {
    this.logger.error("message dead-lettered", { ...event });
  }

  deadLetterFailed({ error, ...event }: RecordEvent & { reason: PoisonReason; error: unknown }): void {
    this.logger.error("could not dead-letter a message; reporting it failed so it is redelivered", {
      ...event,
      error: describeError(error),
    });
  }

  batchCompleted(summary: BatchSummary): void {
    this.logger.info("batch processed", { ...summary });
    this.metrics.addMetric(CONSUMER_METRICS.processed, MetricUnit.Count, summary.processed);
    this.metrics.addMetric(CONSUMER_METRICS.failed, MetricUnit.Count, summary.failed);
    this.metrics.addMetric(CONSUMER_METRICS.poison, MetricUnit.Count, summary.deadLettered);
    this.metrics.addMetric(CONSUMER_METRICS.duplicates, MetricUnit.Count, summary.skipped);
    if (summary.heldBack > 0)
      this.metrics.addMetric(CONSUMER_METRICS.heldBack, MetricUnit.Count, summary.heldBack);
    if (summary.payloadMismatches > 0) {
      this.logger.warn("message ids were seen again with different content", {
        count: summary.payloadMismatches,
      });
      this.metrics.addMetric(CONSUMER_METRICS.payloadMismatches, MetricUnit.Count, summary.payloadMismatches);
    }
    this.metrics.addMetric(CONSUMER_METRICS.duration, MetricUnit.Milliseconds, summary.durationMs);
    this.metrics.publishStoredMetrics();
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
