import type { PublishReport } from "./producers/publish-report.js";

/** Base class of every error this runtime raises. */
export class BrokerError extends Error {
  override name = "BrokerError";
}

/**
 * A handler throws this for a transient failure: the message is reported failed and redelivered later.
 * Any other error a handler throws is treated the same way; this one just says so explicitly.
 */
export class RetryLaterError extends BrokerError {
  override name = "RetryLaterError";
}

export const POISON_REASONS = {
  notJson: "not-json",
  notAnEnvelope: "not-an-envelope",
  schemaMismatch: "schema-mismatch",
  tooLarge: "too-large",
  rejectedByHandler: "rejected-by-handler",
  payloadMismatch: "payload-mismatch",
  retriesExhausted: "retries-exhausted",
} as const;
export type PoisonReason = (typeof POISON_REASONS)[keyof typeof POISON_REASONS];

/**
 * A message that can never be processed: it is sent to the group's dead-letter queue with `reason` and
 * `message` attached, and the batch carries on. Handlers throw it for input they reject for good.
 */
export class PoisonMessageError extends BrokerError {
  override name = "PoisonMessageError";
  constructor(
    message: string,
    readonly reason: PoisonReason = POISON_REASONS.rejectedByHandler,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Some messages could not be published after every retry; `report` has a result for each message. */
export class PublishError extends BrokerError {
  override name = "PublishError";
  constructor(readonly report: PublishReport) {
    const first = report.failed[0];
    super(
      `${report.failed.length} of ${report.results.length} messages were not published to ${report.destination}` +
        (first ? `; first: ${first.id}: ${first.error?.code}: ${first.error?.message}` : ""),
    );
  }
}

/** Wrong or missing configuration, found before anything is sent or processed. */
export class ConfigurationError extends BrokerError {
  override name = "ConfigurationError";
}
