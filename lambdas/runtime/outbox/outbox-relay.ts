import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { SNSClient } from "@aws-sdk/client-sns";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { BROKER_ENV } from "../constants.js";
import { type DeadLetterSink, SqsDeadLetterSink } from "../consumers/dead-letter.js";
import {
  type ConsumerObserver,
  consumerLogger,
  describeError,
  PowertoolsObserver,
} from "../consumers/observability.js";
import { POISON_REASONS, PoisonMessageError, type PoisonReason } from "../errors.js";
import type { PreparedMessage, Publisher } from "../producers/batch-publisher.js";
import { PRECEDING_MESSAGE_FAILED } from "../producers/batch-sender.js";
import { StreamPublisher } from "../producers/stream-publisher.js";
import { TopicPublisher } from "../producers/topic-publisher.js";
import type { RetryPolicy } from "../retry.js";
import { type OutboxRow, outboxRowOf } from "./outbox-row.js";

export interface OutboxRelayOptions {
  /** @default "outbox-relay" */
  readonly group?: string;
  readonly snsClient?: SNSClient;
  readonly kinesisClient?: KinesisClient;
  readonly observer?: ConsumerObserver;
  /** Where rows that can never be published go. @default - the BROKER_DLQ_URL environment variable */
  readonly deadLetterQueueUrl?: string;
  /** Replaces the SQS dead-letter queue (tests, other destinations). */
  readonly deadLetterSink?: DeadLetterSink;
  /**
   * How the publishers retry a batch's transient failures within the invocation before the rows come back
   * to Lambda (from the first failed one). @default - 8 attempts in all, full-jitter backoff from 25 ms up to 2 s
   */
  readonly retry?: Partial<RetryPolicy>;
}

interface PendingRow {
  readonly position: number;
  readonly row: OutboxRow;
  prepared?: PreparedMessage;
}

/**
 * The outbox relay: a DynamoDB Streams handler that publishes the outbox rows committed by
 * transactional handlers to their topics and streams, keeping each message's id, in batches per
 * destination. Relaying is at-least-once (a retried batch publishes again); downstream dedup on the
 * unchanged ids makes the whole path exactly-once. A row no retry can publish (unreadable, too large, refused
 * by its destination for good) is dead-lettered with its reason and the stream moves on. On a transient
 * failure, that record and every later one are reported, so Lambda retries from there and rows of one key
 * are never published out of order.
 */
export function outboxRelay(
  options: OutboxRelayOptions = {},
): (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse> {
  const group = options.group ?? process.env[BROKER_ENV.consumerGroup] ?? "outbox-relay";
  const observer = options.observer ?? new PowertoolsObserver(group);
  const logger = consumerLogger(group);
  const queueUrl = options.deadLetterQueueUrl ?? process.env[BROKER_ENV.deadLetterQueueUrl];
  const deadLetters = options.deadLetterSink ?? (queueUrl ? new SqsDeadLetterSink(queueUrl) : undefined);
  const publishers = new Map<string, Publisher>();
  const publisherFor = (row: OutboxRow): Publisher => {
    const name = "topicArn" in row.destination ? row.destination.topicArn : row.destination.streamName;
    let publisher = publishers.get(name);
    if (!publisher) {
      publisher =
        "topicArn" in row.destination
          ? new TopicPublisher({
              topicArn: row.destination.topicArn,
              ...(options.snsClient ? { client: options.snsClient } : {}),
              ...(options.retry ? { retry: options.retry } : {}),
            })
          : new StreamPublisher({
              streamName: row.destination.streamName,
              ...(options.kinesisClient ? { client: options.kinesisClient } : {}),
              ...(options.retry ? { retry: options.retry } : {}),
            });
      publishers.set(name, publisher);
    }
    return publisher;
  };

  return async (event) => {
    const started = performance.now();
    const records = event.Records;
    const failed = new Array<boolean>(records.length).fill(false);
    const reasons: Partial<Record<PoisonReason, number>> = {};
    let deadLettered = 0;
    let relayed = 0;
    const byDestination = new Map<Publisher, PendingRow[]>();

    /** Rows no retry can publish: dead-lettered with their reason once the batch's first failure is known. */
    const unpublishable: Array<{
      position: number;
      reason: PoisonReason;
      detail: string;
      body: string;
      id?: string;
    }> = [];
    const giveUp = (position: number, reason: PoisonReason, detail: string, body: string, id?: string) => {
      unpublishable.push({ position, reason, detail, body, ...(id ? { id } : {}) });
    };

    for (const [position, record] of records.entries()) {
      let row: OutboxRow | undefined;
      try {
        row = rowOf(record);
      } catch (error) {
        giveUp(
          position,
          error instanceof PoisonMessageError ? error.reason : POISON_REASONS.notJson,
          `unreadable outbox row: ${describeError(error)}`,
          JSON.stringify(record.dynamodb?.NewImage ?? {}),
        );
        continue;
      }
      if (!row) continue;
      let publisher: Publisher;
      const pending: PendingRow = { position, row };
      try {
        publisher = publisherFor(row);
        pending.prepared = publisher.prepare(row.envelope);
      } catch (error) {
        // A row that can never be published (a FIFO topic and no key, say): dead-letter it, keep going.
        giveUp(
          position,
          POISON_REASONS.rejectedByDestination,
          describeError(error),
          JSON.stringify(row),
          row.envelope.id,
        );
        continue;
      }
      const rows = byDestination.get(publisher);
      if (rows) rows.push(pending);
      else byDestination.set(publisher, [pending]);
    }

    await Promise.all(
      [...byDestination].map(async ([publisher, rows]) => {
        // On an ordered destination the rows of a key behind one it refused for good are held back by the
        // publisher; that row is dead-lettered, so they go again, in order, within this invocation.
        for (let sending = rows; sending.length > 0; ) {
          // A publisher reports each entry's outcome, a failed call included: it does not throw.
          const report = await publisher.publishPrepared(
            sending.map((pending) => pending.prepared as PreparedMessage),
          );
          const heldBack: PendingRow[] = [];
          const keysFailed = new Set<string>();
          report.results.forEach((result, index) => {
            const pending = sending[index] as PendingRow;
            if (result.status === "published") {
              relayed++;
            } else if (result.error?.code === PRECEDING_MESSAGE_FAILED) {
              heldBack.push(pending);
            } else if (result.error?.retryable === false) {
              giveUp(
                pending.position,
                result.error.code === "MessageTooLarge"
                  ? POISON_REASONS.tooLarge
                  : POISON_REASONS.rejectedByDestination,
                `${publisher.destination} refused it: ${result.error.code}: ${result.error.message}`,
                JSON.stringify(pending.row),
                pending.row.envelope.id,
              );
            } else {
              failed[pending.position] = true;
              const orderKey = pending.prepared?.orderKey;
              if (orderKey !== undefined) keysFailed.add(orderKey);
            }
          });
          // Held back behind a transient failure: they come back with it (below).
          sending = heldBack.filter((pending) => {
            const behindTransient = keysFailed.has(pending.prepared?.orderKey as string);
            if (behindTransient) failed[pending.position] = true;
            return !behindTransient;
          });
        }
      }),
    );

    // A row past the batch's first transient failure comes back with it (Lambda resumes from the lowest):
    // it is dead-lettered then, in order, rather than now and again on every retry.
    let firstTransient = failed.indexOf(true);
    for (const row of unpublishable.sort((a, b) => a.position - b.position)) {
      // Reported with the first transient failure's tail (below).
      if (firstTransient >= 0 && row.position > firstTransient) continue;
      if (
        await deadLetter(records[row.position] as DynamoDBRecord, row.reason, row.detail, row.body, row.id)
      ) {
        deadLettered++;
        reasons[row.reason] = (reasons[row.reason] ?? 0) + 1;
      } else {
        failed[row.position] = true;
        if (firstTransient < 0) firstTransient = row.position;
      }
    }

    // A transient failure: that row and every later one come back (Lambda resumes from the lowest), so
    // no row of a key is published before an earlier one of the same key.
    const firstFailure = failed.indexOf(true);
    const batchItemFailures =
      firstFailure < 0
        ? []
        : records.slice(firstFailure).map((record) => ({ itemIdentifier: sequenceNumberOf(record) }));
    observer.batchCompleted({
      group,
      source: records[0]?.eventSourceARN ?? "",
      received: records.length,
      processed: relayed,
      skipped: Math.max(0, records.length - relayed - batchItemFailures.length - deadLettered),
      failed: batchItemFailures.length,
      heldBack: 0,
      deadLettered,
      deadLetterReasons: reasons,
      payloadMismatches: 0,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    });
    return { batchItemFailures };
  };

  async function deadLetter(
    record: DynamoDBRecord,
    reason: PoisonReason,
    detail: string,
    body: string,
    messageId: string | undefined,
  ): Promise<boolean> {
    if (!deadLetters) {
      logger.error("an outbox row cannot be published and no dead-letter queue is configured", {
        messageId,
        reason,
        detail,
      });
      return false;
    }
    try {
      await deadLetters.send({
        body,
        reason,
        detail,
        consumerGroup: group,
        ...(messageId ? { messageId } : {}),
        source: record.eventSourceARN ?? "",
        sourceRecordId: sequenceNumberOf(record),
      });
      observer.recordDeadLettered({
        group,
        sourceRecordId: sequenceNumberOf(record),
        ...(messageId ? { messageId } : {}),
        reason,
        detail,
      });
      return true;
    } catch (sendError) {
      logger.error("could not dead-letter an outbox row", { messageId, error: describeError(sendError) });
      return false;
    }
  }
}

function rowOf(record: DynamoDBRecord): OutboxRow | undefined {
  if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return undefined;
  return outboxRowOf(unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>));
}

/** The record's place in the table's stream: what Lambda's batchItemFailures name. */
function sequenceNumberOf(record: DynamoDBRecord): string {
  return record.dynamodb?.SequenceNumber ?? "";
}
