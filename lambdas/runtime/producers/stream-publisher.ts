import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from "@aws-sdk/client-kinesis";
import { defaultKinesisClient } from "../aws-clients/kinesis.js";
import type { MessageEnvelope } from "../envelope.js";
import { ConfigurationError } from "../errors.js";
import type { RetryPolicy } from "../retry.js";
import { BatchPublisher } from "./batch-publisher.js";
import type { EntryOutcome, OutgoingEntry } from "./batch-sender.js";

/** Kinesis PutRecords: 500 records and 5 MiB a call; 1 MiB per record (data plus partition key). */
const KINESIS_BATCH_RECORDS = 500;
const KINESIS_BATCH_BYTES = 5 * 1024 * 1024;
const KINESIS_RECORD_BYTES = 1024 * 1024;
const KINESIS_PARTITION_KEY_MAX_LENGTH = 256;
/** Failures that pass with time; anything else (KMS access denied, say) will not. */
const RETRYABLE_RECORD_ERRORS = new Set([
  "ProvisionedThroughputExceededException",
  "InternalFailure",
  "KMSThrottlingException",
]);

export interface StreamPublisherOptions {
  /** The stream, by name or ARN (one of the two). */
  readonly streamName?: string;
  readonly streamArn?: string;
  /** @default - a client from the standard environment */
  readonly client?: KinesisClient;
  /**
   * `per-key`: records of one partition key are never in flight together, so a later record is never
   * written before an earlier one that failed (a hot key then costs one call per record). `none`: pack
   * requests full whatever the keys, for streams whose consumers do not depend on order.
   * @default "per-key"
   */
  readonly ordering?: "per-key" | "none";
  /** Concurrent PutRecords calls. @default 4 */
  readonly concurrency?: number;
  /** Retries of failed records. @default - 8 attempts, backoff from 25 ms to 2 s with full jitter */
  readonly retry?: Partial<RetryPolicy>;
}

type KinesisReceipt = { readonly sequenceNumber?: string; readonly shardId?: string };

/**
 * Writes envelopes to a Kinesis stream with PutRecords (500 records / 5 MiB a call), partitioned by the
 * envelope key (the id when there is none), retrying only the records that failed.
 */
export class StreamPublisher extends BatchPublisher<PutRecordsRequestEntry, KinesisReceipt> {
  readonly destination: string;
  readonly ordered: boolean;
  private readonly target: { StreamName?: string; StreamARN?: string };
  private readonly client: KinesisClient;

  constructor(options: StreamPublisherOptions) {
    super(
      {
        maxEntries: KINESIS_BATCH_RECORDS,
        maxBytes: KINESIS_BATCH_BYTES,
        maxEntryBytes: KINESIS_RECORD_BYTES,
        concurrency: options.concurrency ?? 4,
      },
      options.retry,
    );
    if (!options.streamName === !options.streamArn) {
      throw new ConfigurationError("StreamPublisher needs exactly one of streamName or streamArn.");
    }
    this.destination = (options.streamName ?? options.streamArn) as string;
    this.target = options.streamName ? { StreamName: options.streamName } : { StreamARN: options.streamArn };
    this.client = options.client ?? defaultKinesisClient();
    this.ordered = (options.ordering ?? "per-key") === "per-key";
  }

  protected toEntry(envelope: MessageEnvelope): OutgoingEntry<PutRecordsRequestEntry> {
    const partitionKey = envelope.key ?? envelope.id;
    if (partitionKey.length === 0 || partitionKey.length > KINESIS_PARTITION_KEY_MAX_LENGTH) {
      throw new ConfigurationError(
        `Message ${envelope.id} has a key of ${partitionKey.length} characters; a Kinesis partition key ` +
          `must have 1 to ${KINESIS_PARTITION_KEY_MAX_LENGTH}.`,
      );
    }
    const data = Buffer.from(JSON.stringify(envelope));
    return {
      id: envelope.id,
      orderKey: this.ordered ? partitionKey : undefined,
      bytes: data.length + Buffer.byteLength(partitionKey),
      entry: { Data: data, PartitionKey: partitionKey },
    };
  }

  protected async sendBatch(
    batch: readonly OutgoingEntry<PutRecordsRequestEntry>[],
  ): Promise<EntryOutcome<KinesisReceipt>[]> {
    const response = await this.client.send(
      new PutRecordsCommand({ ...this.target, Records: batch.map(({ entry }) => entry) }),
    );
    return batch.map((_, position): EntryOutcome<KinesisReceipt> => {
      const record = response.Records?.[position];
      if (record?.SequenceNumber) {
        return { ok: true, receipt: { sequenceNumber: record.SequenceNumber, shardId: record.ShardId } };
      }
      const code = record?.ErrorCode ?? "MissingResult";
      return {
        ok: false,
        retryable: code === "MissingResult" || RETRYABLE_RECORD_ERRORS.has(code),
        code,
        message: record?.ErrorMessage ?? "",
      };
    });
  }
}
