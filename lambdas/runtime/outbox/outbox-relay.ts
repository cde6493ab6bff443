import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { SNSClient } from "@aws-sdk/client-sns";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { BROKER_ENV } from "../constants.js";
import { SqsDeadLetterSink } from "../consumers/dead-letter.js";
import {
  type ConsumerObserver,
  consumerLogger,
  describeError,
  PowertoolsObserver,
} from "../consumers/observability.js";
import { POISON_REASONS } from "../errors.js";
import type { PreparedMessage, Publisher } from "../producers/batch-publisher.js";
import { StreamPublisher } from "../producers/stream-publisher.js";
import { TopicPublisher } from "../producers/topic-publisher.js";
import { type OutboxRow, outboxRowOf } from "./outbox-row.js";

export interface OutboxRelayOptions {
  /** @default "outbox-relay" */
  readonly group?: string;
  readonly snsClient?: SNSClient;
  readonly kinesisClient?: KinesisClient;
  readonly observer?: ConsumerObserver;
  /** Where rows that can never be published go. @default - the BROKER_DLQ_URL environment variable */
  readonly deadLetterQueueUrl?: string;
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
 * unchanged ids makes the whole path exactly-once. On a failure, that record and every later one are
 * reported, so Lambda retries from there and rows of one key are never published out of order.
 */
export function outboxRelay(
  options: OutboxRelayOptions = {},
): (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse> {
  const group = options.group ?? process.env[BROKER_ENV.consumerGroup] ?? "outbox-relay";
  const observer = options.observer ?? new PowertoolsObserver(group);
  const logger = consumerLogger(group);
  const queueUrl = options.deadLetterQueueUrl ?? process.env[BROKER_ENV.deadLetterQueueUrl];
  const deadLetters = queueUrl ? new SqsDeadLetterSink(queueUrl) : undefined;
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
            })
          : new StreamPublisher({
              streamName: row.destination.streamName,
              ...(options.kinesisClient ? { client: options.kinesisClient } : {}),
            });
      publishers.set(name, publisher);
    }
    return publisher;
  };

  return async (event) => {
    const started = performance.now();
    const records = event.Records;
    const failed = new Array<boolean>(records.length).fill(false);
    let deadLettered = 0;
    const byDestination = new Map<Publisher, PendingRow[]>();

    for (const [position, record] of records.entries()) {
      const row = rowOf(record);
      if (!row) continue;
      const publisher = publisherFor(row);
      const pending: PendingRow = { position, row };
      try {
        pending.prepared = publisher.prepare(row.envelope);
      } catch (error) {
        // A row that can never be published (a FIFO topic and no key, say): dead-letter it, keep going.
        if (await deadLetter(record, row, error)) deadLettered++;
        else failed[position] = true;
        continue;
      }
      const rows = byDestination.get(publisher);
      if (rows) rows.push(pending);
      else byDestination.set(publisher, [pending]);
    }

    await Promise.all(
      [...byDestination].map(async ([publisher, rows]) => {
        try {
          const report = await publisher.publishPrepared(
            rows.map((pending) => pending.prepared as PreparedMessage),
          );
          report.results.forEach((result, index) => {
            if (result.status === "failed") failed[(rows[index] as PendingRow).position] = true;
          });
        } catch (error) {
          logger.error("could not publish outbox rows", {
            destination: publisher.destination,
            error: describeError(error),
          });
          for (const pending of rows) failed[pending.position] = true;
        }
      }),
    );

    const firstFailure = failed.indexOf(true);
    const batchItemFailures =
      firstFailure < 0
        ? []
        : records
            .slice(firstFailure)
            .map((record) => ({ itemIdentifier: record.dynamodb?.SequenceNumber ?? "" }));
    const relayed =
      [...byDestination.values()].reduce((sum, rows) => sum + rows.length, 0) - failed.filter(Boolean).length;
    observer.batchCompleted({
      group,
      source: records[0]?.eventSourceARN ?? "",
      received: records.length,
      processed: Math.max(0, relayed),
      skipped: records.length - Math.max(0, relayed) - batchItemFailures.length - deadLettered,
      failed: batchItemFailures.length,
      deadLettered,
      deadLetterReasons: deadLettered > 0 ? { [POISON_REASONS.rejectedByHandler]: deadLettered } : {},
      payloadMismatches: 0,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    });
    return { batchItemFailures };
  };

  async function deadLetter(record: DynamoDBRecord, row: OutboxRow, error: unknown): Promise<boolean> {
    if (!deadLetters) {
      logger.error("an outbox row cannot be published and no dead-letter queue is configured", {
        messageId: row.envelope.id,
        error: describeError(error),
      });
      return false;
    }
    try {
      await deadLetters.send({
        body: JSON.stringify(row),
        reason: POISON_REASONS.rejectedByHandler,
        detail: describeError(error),
        consumerGroup: group,
        messageId: row.envelope.id,
        source: record.eventSourceARN ?? "",
        sourceRecordId: record.dynamodb?.SequenceNumber ?? "",
      });
      return true;
    } catch (sendError) {
      logger.error("could not dead-letter an outbox row", {
        messageId: row.envelope.id,
        error: describeError(sendError),
      });
      return false;
    }
  }
}

function rowOf(record: DynamoDBRecord): OutboxRow | undefined {
  if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return undefined;
  return outboxRowOf(unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>));
}
