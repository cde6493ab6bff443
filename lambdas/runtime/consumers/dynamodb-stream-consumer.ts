import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { Transaction } from "../dedup/transaction.js";
import { type BatchHandler, batchHandler } from "./batch-engine.js";
import { type ConsumerOptions, resolveConsumer } from "./consumer-options.js";
import { fingerprintOf } from "./decode-envelope.js";
import type { EngineRecord } from "./engine-record.js";
import type { MessageHandler } from "./handler-context.js";
import { refusingWindows, type WindowOptions, windowed } from "./tumbling-window.js";

/** One item-level change, with its images unmarshalled to plain objects. */
export interface StreamChange<TItem = Record<string, unknown>> {
  readonly eventName: "INSERT" | "MODIFY" | "REMOVE";
  readonly eventId: string;
  readonly sequenceNumber: string;
  readonly keys: Record<string, unknown>;
  readonly newImage?: TItem;
  readonly oldImage?: TItem;
  /** Epoch seconds. */
  readonly approximateCreationTime?: number;
}

export interface DynamoDbStreamConsumerOptions<
  TItem,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> extends ConsumerOptions<StreamChange<TItem>, TTransaction> {
  /** As for Kinesis: `shard` stops the batch at the first failure; `key` stops only that item's key. @default "shard" */
  readonly ordering?: "shard" | "key";
  /** Keys processed at once with `ordering: "key"`. @default 10 */
  readonly concurrency?: number;
  /**
   * Tumbling windows (TumblingWindowInSeconds on the event source mapping): folds each processed record
   * into a state Lambda carries to the next invoke, and calls `onWindowEnd` when the window is complete.
   * Each record is folded once across Lambda's retry from the first failure: ahead of it without dedup,
   * every processed record with dedup (the retry skips those as duplicates).
   */
  readonly window?: WindowOptions<StreamChange<TItem>, unknown>;
}

export type DynamoDbStreamConsumer = BatchHandler<
  DynamoDBStreamEvent,
  DynamoDBBatchResponse & { state?: unknown }
>;

type Image = Record<string, AttributeValue>;

/**
 * A Lambda handler for a DynamoDB Streams event source with ReportBatchItemFailures, with the same
 * in-order, stop-at-first-failure semantics as the Kinesis wrapper. The outbox relay is built on it.
 */
export function dynamoDbStreamConsumer<
  TItem = Record<string, unknown>,
  TTransaction extends Transaction | undefined = Transaction | undefined,
>(options: DynamoDbStreamConsumerOptions<TItem, TTransaction>): DynamoDbStreamConsumer {
  const resolved = resolveConsumer("dynamoDbStreamConsumer", "dynamodb-streams", options);
  const ordering = options.ordering ?? "shard";
  const config = {
    ...resolved,
    handler: options.handler as unknown as MessageHandler<StreamChange<TItem>>,
    concurrency: options.concurrency ?? 10,
    maxAttempts: undefined,
  };

  const toEngineRecord = (record: DynamoDBRecord): EngineRecord<StreamChange<TItem>> => {
    const change = record.dynamodb ?? {};
    const sequenceNumber = change.SequenceNumber ?? record.eventID ?? "";
    const keys = (change.Keys ?? {}) as Image;
    const body = JSON.stringify(record);
    return {
      itemIdentifier: sequenceNumber,
      // A Lambda batch comes from one shard; the event does not name it.
      lane: ordering === "shard" ? "shard" : JSON.stringify(keys),
      attempt: undefined,
      source: record.eventSourceARN ?? "",
      sequenceNumber,
      original: { body },
      decode: () => ({
        ok: true,
        messageId: record.eventID ?? sequenceNumber,
        fingerprint: () => fingerprintOf(body),
        message: {
          eventName: record.eventName ?? "MODIFY",
          eventId: record.eventID ?? sequenceNumber,
          sequenceNumber,
          keys: unmarshall(keys),
          ...(change.NewImage ? { newImage: unmarshall(change.NewImage as Image) as TItem } : {}),
          ...(change.OldImage ? { oldImage: unmarshall(change.OldImage as Image) as TItem } : {}),
          ...(change.ApproximateCreationDateTime
            ? { approximateCreationTime: change.ApproximateCreationDateTime }
            : {}),
        },
      }),
    };
  };
  const base = batchHandler<DynamoDBStreamEvent, DynamoDBRecord, StreamChange<TItem>>(config, toEngineRecord);
  return options.window
    ? windowed(base, toEngineRecord, options.window, resolved.guard !== undefined)
    : refusingWindows(base, "dynamoDbStreamConsumer");
}
