import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from "aws-lambda";
import type { Transaction } from "../dedup/transaction.js";
import type { MessageEnvelope } from "../envelope.js";
import { POISON_REASONS } from "../errors.js";
import { type BatchHandler, batchHandler } from "./batch-engine.js";
import { type EnvelopeConsumerOptions, resolveConsumer } from "./consumer-options.js";
import {
  decodeEnvelope,
  type EnvelopeDecoding,
  type EnvelopeFallback,
  envelopeDecoding,
} from "./decode-envelope.js";
import type { Decoded, EngineRecord } from "./engine-record.js";
import type { MessageHandler } from "./handler-context.js";
import { refusingWindows, type WindowOptions, windowed } from "./tumbling-window.js";

export interface KinesisConsumerOptions<
  TPayload,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> extends EnvelopeConsumerOptions<TPayload, TTransaction> {
  /**
   * `shard`: the batch runs in shard order and stops at the first failure; Lambda resumes from it.
   * `key`: each partition key runs in order and only the failed key stops; other keys finish the batch.
   * Lambda still resumes from the lowest failed record, so their records after it run again: pair `key`
   * with dedup (`dynamoDbDedup`) to skip those replays.
   * @default "shard"
   */
  readonly ordering?: "shard" | "key";
  /** Partition keys processed at once with `ordering: "key"`. @default 10 */
  readonly concurrency?: number;
  /**
   * Tumbling windows (TumblingWindowInSeconds on the event source mapping): folds each processed record
   * into a state Lambda carries to the next invoke, and calls `onWindowEnd` when the window is complete.
   * Each record is folded once across Lambda's retry from the first failure: ahead of it without dedup,
   * every processed record with dedup (the retry skips those as duplicates).
   */
  readonly window?: WindowOptions<MessageEnvelope<TPayload>, unknown>;
}

export type KinesisConsumer = BatchHandler<
  KinesisStreamEvent,
  KinesisStreamBatchResponse & { state?: unknown }
>;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A Lambda handler for a Kinesis event source with ReportBatchItemFailures. Records run in order; at the
 * first failure processing stops (for the shard, or only for that key) and the failed sequence numbers
 * are reported, so Lambda checkpoints before them and nothing after runs out of order. Poison goes to the
 * group's on-failure queue with its reason and the stream flows on.
 */
export function kinesisConsumer<
  TPayload = unknown,
  TTransaction extends Transaction | undefined = Transaction | undefined,
>(options: KinesisConsumerOptions<TPayload, TTransaction>): KinesisConsumer {
  const resolved = resolveConsumer("kinesisConsumer", "kinesis", options);
  const ordering = options.ordering ?? "shard";
  const decoding = envelopeDecoding(options, 1_048_576);
  const config = {
    ...resolved,
    handler: options.handler as unknown as MessageHandler<MessageEnvelope<TPayload>>,
    concurrency: options.concurrency ?? 10,
    maxAttempts: undefined,
  };

  const toEngineRecord = (record: KinesisStreamRecord) => new KinesisEngineRecord(record, ordering, decoding);
  const base = batchHandler<KinesisStreamEvent, KinesisStreamRecord, MessageEnvelope<TPayload>>(
    config,
    toEngineRecord,
  );
  return options.window
    ? windowed(base, toEngineRecord, options.window, resolved.guard !== undefined)
    : refusingWindows(base, "kinesisConsumer");
}

/** A Kinesis record as the engine sees it (a class: no closures made per record). */
class KinesisEngineRecord<TPayload> implements EngineRecord<MessageEnvelope<TPayload>> {
  readonly itemIdentifier: string;
  readonly lane: string;
  readonly attempt = undefined;
  readonly source: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly original: { readonly body: string; readonly encoding?: "base64" };
  /** The data as UTF-8 text; undefined when it is not. */
  private readonly body: string | undefined;

  constructor(
    private readonly record: KinesisStreamRecord,
    ordering: "shard" | "key",
    private readonly decoding: EnvelopeDecoding<TPayload>,
  ) {
    const { sequenceNumber, partitionKey, data } = record.kinesis;
    const shardId = record.eventID.slice(0, record.eventID.indexOf(":")) || record.eventID;
    let body: string | undefined;
    try {
      body = utf8.decode(Buffer.from(data, "base64"));
    } catch {
      body = undefined;
    }
    this.body = body;
    this.itemIdentifier = sequenceNumber;
    this.lane = ordering === "shard" ? shardId : partitionKey;
    this.source = record.eventSourceARN;
    this.shardId = shardId;
    this.sequenceNumber = sequenceNumber;
    this.original = body === undefined ? { body: data, encoding: "base64" } : { body };
  }

  decode(): Decoded<MessageEnvelope<TPayload>> | Promise<Decoded<MessageEnvelope<TPayload>>> {
    if (this.body === undefined)
      return { ok: false, reason: POISON_REASONS.notJson, detail: "the record's data is not UTF-8 text" };
    return decodeEnvelope(this.body, this.decoding, new KinesisFallback(this.record));
  }
}

/** What the Kinesis record says of a plain-JSON message; the time is read only for the json format. */
class KinesisFallback implements EnvelopeFallback {
  constructor(private readonly record: KinesisStreamRecord) {}

  get id() {
    return this.record.eventID;
  }

  get occurredAt() {
    return new Date(this.record.kinesis.approximateArrivalTimestamp * 1000).toISOString();
  }

  get key() {
    return this.record.kinesis.partitionKey;
  }
}
