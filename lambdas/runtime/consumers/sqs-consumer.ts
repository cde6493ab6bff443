import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { BROKER_ENV, MESSAGE_ATTRIBUTES } from "../constants.js";
import type { Transaction } from "../dedup/transaction.js";
import type { MessageEnvelope } from "../envelope.js";
import { type BatchHandler, batchHandler } from "./batch-engine.js";
import { type EnvelopeConsumerOptions, positiveInteger, resolveConsumer } from "./consumer-options.js";
import {
  decodeEnvelope,
  type EnvelopeDecoding,
  type EnvelopeFallback,
  envelopeDecoding,
} from "./decode-envelope.js";
import type { EngineRecord } from "./engine-record.js";
import type { MessageHandler } from "./handler-context.js";

export interface SqsConsumerOptions<
  TPayload,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> extends EnvelopeConsumerOptions<TPayload, TTransaction> {
  /** Messages (standard queue) or message groups (FIFO queue) processed at once. @default 10 */
  readonly concurrency?: number;
  /**
   * The queue's redrive maxReceiveCount: a message still failing on that receive is dead-lettered by the
   * wrapper, with the error as its reason. @default - the BROKER_MAX_RECEIVE_COUNT environment variable
   */
  readonly maxReceiveCount?: number;
}

export type SqsConsumer = BatchHandler<SQSEvent, SQSBatchResponse>;

/**
 * A Lambda handler for an SQS event source with ReportBatchItemFailures. Standard queue: messages run
 * concurrently and exactly the failed ones are reported; on a fair queue (messages with a MessageGroupId
 * on a standard queue) they start round-robin across tenants, so one tenant's backlog does not take every
 * slot. FIFO queue (an event source ARN ending in `.fifo`): each message group runs in order, and after a
 * failure every later message of that group in the batch is reported failed without running, while other
 * groups carry on.
 *
 * ```ts
 * export const handler = sqsConsumer({
 *   schema: OrderPlaced,
 *   handler: async (message, { logger }) => { await bill(message.payload); },
 * });
 * ```
 */
export function sqsConsumer<
  TPayload = unknown,
  TTransaction extends Transaction | undefined = Transaction | undefined,
>(options: SqsConsumerOptions<TPayload, TTransaction>): SqsConsumer {
  const resolved = resolveConsumer("sqsConsumer", "sqs", options);
  const decoding = envelopeDecoding(options, 262_144);
  const config = {
    ...resolved,
    handler: options.handler as unknown as MessageHandler<MessageEnvelope<TPayload>>,
    concurrency: options.concurrency ?? 10,
    maxAttempts:
      options.maxReceiveCount ??
      positiveInteger(BROKER_ENV.maxReceiveCount, process.env[BROKER_ENV.maxReceiveCount]),
  };
  const toEngineRecord = (record: SQSRecord) => new SqsEngineRecord(record, decoding);
  return batchHandler<SQSEvent, SQSRecord, MessageEnvelope<TPayload>>(config, toEngineRecord);
}

/**
 * An SQS record as the engine sees it. A class, not an object literal of closures: a batch of a thousand
 * records costs a thousand small objects and no functions.
 */
class SqsEngineRecord<TPayload> implements EngineRecord<MessageEnvelope<TPayload>> {
  readonly itemIdentifier: string;
  readonly lane: string | undefined;
  readonly fairnessKey: string | undefined;
  readonly attempt: number | undefined;
  readonly source: string;
  readonly messageGroupId: string | undefined;
  readonly original: { readonly body: string };

  constructor(
    private readonly record: SQSRecord,
    private readonly decoding: EnvelopeDecoding<TPayload>,
  ) {
    const groupId = record.attributes.MessageGroupId || undefined;
    // The queue type decides the failure semantics, not the MessageGroupId: on a fair queue (a standard
    // queue whose messages carry a tenant's group id) messages are independent, started fairly per tenant.
    const fifo = record.eventSourceARN.endsWith(".fifo");
    this.itemIdentifier = record.messageId;
    this.lane = fifo ? groupId : undefined;
    this.fairnessKey = fifo ? undefined : groupId;
    this.attempt = Number(record.attributes.ApproximateReceiveCount) || undefined;
    this.source = record.eventSourceARN;
    this.messageGroupId = groupId;
    this.original = { body: record.body };
  }

  decode() {
    return decodeEnvelope(this.record.body, this.decoding, new SqsFallback(this.record));
  }
}

/** What the SQS record says of a plain-JSON message; the time is read only for the json format. */
class SqsFallback implements EnvelopeFallback {
  constructor(private readonly record: SQSRecord) {}

  get id() {
    return this.record.messageId;
  }

  get occurredAt() {
    return new Date(Number(this.record.attributes.SentTimestamp) || Date.now()).toISOString();
  }

  get key() {
    return this.record.attributes.MessageGroupId || undefined;
  }

  get type() {
    return this.record.messageAttributes?.[MESSAGE_ATTRIBUTES.type]?.stringValue || undefined;
  }
}
