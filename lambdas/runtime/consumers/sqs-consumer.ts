import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { BROKER_ENV, MESSAGE_ATTRIBUTES } from "../constants.js";
import type { Transaction } from "../dedup/transaction.js";
import type { MessageEnvelope } from "../envelope.js";
import { type BatchHandler, batchHandler } from "./batch-engine.js";
import { type EnvelopeConsumerOptions, positiveInteger, resolveConsumer } from "./consumer-options.js";
import { decodeEnvelope, envelopeDecoding } from "./decode-envelope.js";
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
  const toEngineRecord = (record: SQSRecord): EngineRecord<MessageEnvelope<TPayload>> => {
    const groupId = record.attributes.MessageGroupId;
    const type = record.messageAttributes?.[MESSAGE_ATTRIBUTES.type]?.stringValue;
    // The queue type decides the failure semantics, not the MessageGroupId: on a fair queue (a standard
    // queue whose messages carry a tenant's group id) messages are independent, started fairly per tenant.
    const fifo = record.eventSourceARN.endsWith(".fifo");
    return {
      itemIdentifier: record.messageId,
      lane: fifo ? groupId : undefined,
      ...(!fifo && groupId ? { fairnessKey: groupId } : {}),
      attempt: Number(record.attributes.ApproximateReceiveCount) || undefined,
      source: record.eventSourceARN,
      ...(groupId ? { messageGroupId: groupId } : {}),
      original: { body: record.body },
      decode: () =>
        decodeEnvelope(record.body, decoding, {
          id: record.messageId,
          // Read only for the json format: most records never pay for the date.
          get occurredAt() {
            return new Date(Number(record.attributes.SentTimestamp) || Date.now()).toISOString();
          },
          ...(groupId ? { key: groupId } : {}),
          ...(type ? { type } : {}),
        }),
    };
  };
  return batchHandler<SQSEvent, SQSRecord, MessageEnvelope<TPayload>>(config, toEngineRecord);
}
