import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { BROKER_ENV } from "../constants.js";
import type { Transaction } from "../dedup/transaction.js";
import type { MessageEnvelope } from "../envelope.js";
import { ConfigurationError } from "../errors.js";
import type { StandardSchemaV1 } from "../schema.js";
import { type DeadLetterSink, SqsDeadLetterSink } from "./dead-letter.js";
import type { MessageHandler } from "./handler-context.js";
import { type ConsumerObserver, consumerLogger, PowertoolsObserver } from "./observability.js";
import type { ConsumerSource, ProcessingGuard } from "./processing-guard.js";

/** Options every consumer wrapper takes. */
export interface ConsumerOptions<
  TMessage,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> {
  readonly handler: MessageHandler<TMessage, TTransaction>;
  /** The consumer group this function serves. @default - the BROKER_CONSUMER_GROUP environment variable */
  readonly group?: string;
  /**
   * Where poison goes, with its reason: the group's SQS dead-letter queue (or Kinesis on-failure queue).
   * Without one, poison is reported failed and left to the queue's own redrive.
   * @default - the BROKER_DLQ_URL environment variable
   */
  readonly deadLetterQueueUrl?: string;
  /** Replaces the SQS dead-letter queue (tests, other destinations). */
  readonly deadLetterSink?: DeadLetterSink;
  /** Exactly-once processing: a dedup guard from `dynamoDbDedup` (or your own ProcessingGuard). */
  readonly dedup?: ProcessingGuard<TTransaction>;
  /** @default - Powertools Logger lines and EMF metrics */
  readonly observer?: ConsumerObserver;
  /** For the dead-letter queue. @default - a client from the standard environment */
  readonly sqsClient?: SQSClient;
}

/** Options of the wrappers whose records carry message envelopes (SQS, Kinesis). */
export interface EnvelopeConsumerOptions<
  TPayload,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> extends ConsumerOptions<MessageEnvelope<TPayload>, TTransaction> {
  /** Validates each payload (zod, valibot, … any Standard Schema); a mismatch is poison. */
  readonly schema?: StandardSchemaV1<unknown, TPayload>;
  /** `envelope` (what this library's producers write) or `json` (any JSON payload). @default "envelope" */
  readonly format?: "envelope" | "json";
  /** A larger body is poison (`too-large`). @default 262144 for SQS, 1048576 for Kinesis */
  readonly maxBodyBytes?: number;
}

export interface ResolvedConsumer {
  readonly group: string;
  readonly deadLetter: DeadLetterSink | undefined;
  readonly guard: ProcessingGuard | undefined;
  readonly observer: ConsumerObserver;
  readonly logger: Logger;
}

/** Fills in defaults from the environment the constructs set; fails at cold start on what is missing. */
export function resolveConsumer<TMessage, TTransaction extends Transaction | undefined>(
  wrapper: string,
  source: ConsumerSource,
  options: ConsumerOptions<TMessage, TTransaction>,
): ResolvedConsumer {
  const sources = options.dedup?.sources;
  if (sources && !sources.includes(source)) {
    throw new ConfigurationError(
      `${options.dedup?.name ?? "This dedup guard"} cannot guard ${wrapper}: it supports ${sources.join(", ")} ` +
        `event sources only. Use dynamoDbDedup() (per-message dedup, any source) for this consumer.`,
    );
  }
  const group = options.group ?? process.env[BROKER_ENV.consumerGroup];
  if (!group) {
    throw new ConfigurationError(
      `${wrapper} needs a consumer group: pass { group: "billing" } or set ${BROKER_ENV.consumerGroup} ` +
        "(the serverless-broker constructs set it for the functions they attach).",
    );
  }
  const queueUrl = options.deadLetterQueueUrl ?? process.env[BROKER_ENV.deadLetterQueueUrl];
  return {
    group,
    deadLetter:
      options.deadLetterSink ?? (queueUrl ? new SqsDeadLetterSink(queueUrl, options.sqsClient) : undefined),
    guard: options.dedup as ProcessingGuard | undefined,
    observer: options.observer ?? new PowertoolsObserver(group),
    logger: consumerLogger(group),
  };
}

export function positiveInteger(name: string, value: number | string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new ConfigurationError(
      `${name} must be a whole number of 1 or more, but ${JSON.stringify(value)} was given.`,
    );
  }
  return number;
}
