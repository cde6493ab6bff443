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
  /** The outbox relay's destination refused the message for good (too large, a sender fault). */
  rejectedByDestination: "rejected-by-destination",
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

/** Why DynamoDB cancelled one action of a transaction. */
export interface CancellationReason {
  /** Position in the transaction: 0 is the dedup completion, then the handler's writes, then outbox rows. */
  readonly index: number;
  /** What the action was, e.g. `Put orders#o-1` or `dedup completion of billing#<id>`. */
  readonly action: string;
  /** ConditionalCheckFailed, TransactionConflict, ValidationError, … */
  readonly code: string;
  readonly message?: string;
}

/**
 * DynamoDB cancelled the transaction that would have committed a message's writes with its completion:
 * nothing was written, and the message will be retried. `reasons` names each cancelled action.
 */
export class TransactionCancelledError extends BrokerError {
  override name = "TransactionCancelledError";
  constructor(
    readonly messageKey: string,
    readonly reasons: readonly CancellationReason[],
    options?: ErrorOptions,
  ) {
    super(
      `The transaction of ${messageKey} was cancelled, nothing was written: ` +
        reasons
          .map(
            (reason) =>
              `action ${reason.index} (${reason.action}): ${reason.code}${reason.message ? ` (${reason.message})` : ""}`,
          )
          .join("; "),
      options,
    );
  }

  /** True when this worker's claim was taken over (its lease ran out): another worker owns the message now. */
  get claimLost(): boolean {
    return this.reasons.some((reason) => reason.index === 0 && reason.code === "ConditionalCheckFailed");
  }
}

/** A handler's transaction cannot be committed as built: too many actions, or too many bytes. Never retried. */
export class TransactionTooLargeError extends PoisonMessageError {
  override name = "TransactionTooLargeError";
  constructor(message: string) {
    super(message, POISON_REASONS.rejectedByHandler);
  }
}
