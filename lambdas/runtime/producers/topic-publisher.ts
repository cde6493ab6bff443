import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from "@aws-sdk/client-sns";
import { defaultSnsClient } from "../aws-clients/sns.js";
import { MESSAGE_ATTRIBUTES } from "../constants.js";
import type { MessageEnvelope } from "../envelope.js";
import { ConfigurationError } from "../errors.js";
import type { RetryPolicy } from "../retry.js";
import { BatchPublisher } from "./batch-publisher.js";
import type { EntryOutcome, OutgoingEntry } from "./batch-sender.js";

/** SNS PublishBatch: at most 10 entries, and 256 KiB for the whole request unless the topic allows more. */
const SNS_BATCH_ENTRIES = 10;
const SNS_DEFAULT_MAX_BYTES = 262_144;

export interface TopicPublisherOptions {
  readonly topicArn: string;
  /** @default - a client from the standard environment */
  readonly client?: SNSClient;
  /** Concurrent PublishBatch calls. @default 8 */
  readonly concurrency?: number;
  /** The topic's MaximumMessageSize (up to 1 MiB). @default 262144 */
  readonly maxMessageBytes?: number;
  /** Retries of failed entries. @default - 8 attempts, backoff from 25 ms to 2 s with full jitter */
  readonly retry?: Partial<RetryPolicy>;
}

type SnsReceipt = { readonly messageId?: string; readonly sequenceNumber?: string };

/**
 * Publishes envelopes to an SNS topic with PublishBatch (10 per call, size-limited), setting the `type`
 * message attribute for filter policies. On a FIFO topic the envelope key is the MessageGroupId and the
 * envelope id the MessageDeduplicationId, and messages of one group are never in flight together, so a
 * failed message is never overtaken by a later one of its group. Only failed entries are retried.
 */
export class TopicPublisher extends BatchPublisher<PublishBatchRequestEntry, SnsReceipt> {
  readonly destination: string;
  readonly ordered: boolean;
  private readonly client: SNSClient;

  constructor(options: TopicPublisherOptions) {
    const maxBytes = options.maxMessageBytes ?? SNS_DEFAULT_MAX_BYTES;
    super(
      {
        maxEntries: SNS_BATCH_ENTRIES,
        maxBytes,
        maxEntryBytes: maxBytes,
        concurrency: options.concurrency ?? 8,
      },
      options.retry,
    );
    this.destination = options.topicArn;
    this.ordered = options.topicArn.endsWith(".fifo");
    this.client = options.client ?? defaultSnsClient();
  }

  get topicArn(): string {
    return this.destination;
  }

  protected toEntry(envelope: MessageEnvelope): OutgoingEntry<PublishBatchRequestEntry> {
    if (this.ordered && !envelope.key) {
      throw new ConfigurationError(
        `Message ${envelope.id} (${envelope.type}) has no key, but ${this.destination} is a FIFO topic: ` +
          "give every message a key; it becomes the MessageGroupId that orders it.",
      );
    }
    const body = JSON.stringify(envelope);
    const entry: PublishBatchRequestEntry = {
      Id: "0",
      Message: body,
      MessageAttributes: { [MESSAGE_ATTRIBUTES.type]: { DataType: "String", StringValue: envelope.type } },
      ...(this.ordered ? { MessageGroupId: envelope.key, MessageDeduplicationId: envelope.id } : {}),
    };
    // SNS counts the body and each attribute's name, type and value.
    const bytes =
      Buffer.byteLength(body) +
      MESSAGE_ATTRIBUTES.type.length +
      "String".length +
      Buffer.byteLength(envelope.type);
    return { id: envelope.id, orderKey: this.ordered ? envelope.key : undefined, bytes, entry };
  }

  protected async sendBatch(
    batch: readonly OutgoingEntry<PublishBatchRequestEntry>[],
  ): Promise<EntryOutcome<SnsReceipt>[]> {
    const response = await this.client.send(
      new PublishBatchCommand({
        TopicArn: this.destination,
        PublishBatchRequestEntries: batch.map(({ entry }, position) => ({ ...entry, Id: String(position) })),
      }),
    );
    const outcomes = new Array<EntryOutcome<SnsReceipt>>(batch.length);
    for (const success of response.Successful ?? []) {
      outcomes[Number(success.Id)] = {
        ok: true,
        receipt: {
          messageId: success.MessageId,
          ...(success.SequenceNumber ? { sequenceNumber: success.SequenceNumber } : {}),
        },
      };
    }
    for (const failure of response.Failed ?? []) {
      outcomes[Number(failure.Id)] = {
        ok: false,
        retryable: !failure.SenderFault,
        code: failure.Code ?? "Unknown",
        message: failure.Message ?? "",
      };
    }
    return outcomes;
  }
}
