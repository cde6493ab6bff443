import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { filterView, passesFilters } from "../event-filter.js";
import type { FunctionHost } from "../function-host.js";
import { toSqsRecord } from "../lambda-event-shapes.js";
import { type EventSourceSettings, reportedFailures } from "./settings.js";
import { changeVisibility, chunks, VisibilityHeartbeat } from "./visibility-heartbeat.js";

export interface SqsSource {
  readonly queueUrl: string;
  readonly queueArn: string;
  /** The queue's visibility timeout, in seconds. */
  readonly visibilityTimeoutSeconds: number;
  /**
   * How soon a message the function failed is visible again (seconds): the local cloud retries in seconds
   * what AWS retries when the visibility timeout ends. Defaults to the visibility timeout.
   */
  readonly retryDelaySeconds?: number;
}

export interface PollerStats {
  received: number;
  batches: number;
  /** Records the function reported failed, or whose batch failed as a whole. */
  failed: number;
  filteredOut: number;
}

/**
 * Plays an SQS event source mapping: up to `maxConcurrency` pollers each receive a batch (gathering up to
 * BatchSize within the batching window), invoke the function, and delete what succeeded: everything, or
 * with ReportBatchItemFailures everything but the reported ids. A failed batch is left alone: the queue's
 * visibility timeout brings it back (locally after the retry delay) and its redrive policy moves it to the
 * dead-letter queue. From its receipt until the function returns, a message's visibility is extended (a
 * heartbeat), so that a slow invocation or a slow machine never redrives a message still held.
 */
export class SqsPoller {
  readonly stats: PollerStats = { received: 0, batches: 0, failed: 0, filteredOut: 0 };
  private stopped = false;
  /** Ends the pollers' long polls at stop (up to 20 s each), not what they already hold. */
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly settings: EventSourceSettings,
    private readonly source: SqsSource,
    private readonly fn: FunctionHost,
    private readonly sqs: SQSClient,
    private readonly region: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.loops = Array.from({ length: this.settings.maxConcurrency }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const heartbeat = new VisibilityHeartbeat(
        this.sqs,
        this.source.queueUrl,
        this.source.visibilityTimeoutSeconds,
        this.onError,
      );
      try {
        const batch = await this.collect(heartbeat);
        if (batch.length > 0) await this.deliver(batch, heartbeat);
        await heartbeat.stop();
      } catch (error) {
        // Stopped while gathering: what it held comes back when its visibility timeout ends, as when one of
        // Lambda's pollers goes away. (Made visible at once, a long poll the stop abandoned could still take it.)
        await heartbeat.stop();
        if (!this.stopped) {
          this.onError(error);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    }
  }

  private async collect(heartbeat: VisibilityHeartbeat): Promise<Message[]> {
    const messages: Message[] = [];
    const deadline = Date.now() + this.settings.maxBatchingWindowMs;
    while (!this.stopped && messages.length < this.settings.batchSize) {
      const remaining = deadline - Date.now();
      const wait =
        this.settings.maxBatchingWindowMs > 0
          ? Math.max(0, Math.min(20, Math.ceil(remaining / 1000)))
          : messages.length > 0
            ? 0
            : 1;
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.source.queueUrl,
          MaxNumberOfMessages: Math.min(10, this.settings.batchSize - messages.length),
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
        { abortSignal: this.stopping.signal },
      );
      for (const message of Messages) {
        // Received again while held (the machine stalled past the visibility timeout): one record, with
        // the newest receipt handle, the only one SQS still honours.
        const earlier = messages.findIndex((held) => held.MessageId === message.MessageId);
        if (earlier >= 0) messages[earlier] = message;
        else messages.push(message);
      }
      heartbeat.hold(Messages.flatMap((message) => (message.ReceiptHandle ? [message.ReceiptHandle] : [])));
      if (Messages.length === 0 || Date.now() >= deadline) break;
    }
    return messages;
  }

  private async deliver(messages: Message[], heartbeat: VisibilityHeartbeat): Promise<void> {
    this.stats.received += messages.length;
    const records = messages.map((message) => toSqsRecord(message, this.source.queueArn, this.region));
    // Lambda deletes messages its filters reject, without invoking the function.
    const passing: typeof records = [];
    const filteredOut: typeof records = [];
    for (const record of records) {
      const passes = passesFilters(
        filterView(record as unknown as Record<string, unknown>),
        this.settings.filters,
      );
      (passes ? passing : filteredOut).push(record);
    }
    this.stats.filteredOut += filteredOut.length;
    let toDelete = filteredOut;
    if (passing.length > 0) {
      this.stats.batches++;
      const result = await this.fn.invoke({ Records: passing });
      if (!result.ok) {
        this.stats.failed += passing.length;
      } else if (!this.settings.reportBatchItemFailures) {
        toDelete = [...toDelete, ...passing];
      } else {
        const failed = reportedFailures(result.response, new Set(passing.map((record) => record.messageId)));
        if (failed === undefined) {
          this.stats.failed += passing.length;
        } else {
          this.stats.failed += failed.length;
          const failedIds = new Set(failed);
          toDelete = [...toDelete, ...passing.filter((record) => !failedIds.has(record.messageId))];
        }
      }
    }
    // Ended before the deletes, so that no extension lands on a deleted message.
    await heartbeat.stop();
    const deleting = new Set(toDelete);
    await this.retrySoon(records.filter((record) => !deleting.has(record)));
    for (const chunk of chunks(toDelete, 10)) {
      // DeleteMessageBatch takes at most 10 entries
      // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html).
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.source.queueUrl,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
    }
  }

  /** What the function failed becomes visible after the retry delay, not the whole visibility timeout. */
  private async retrySoon(records: readonly SQSRecord[]): Promise<void> {
    const delay = this.source.retryDelaySeconds;
    if (delay === undefined || delay >= this.source.visibilityTimeoutSeconds) return;
    await Promise.all(
      chunks(records, 10).map((chunk) =>
        changeVisibility(
          this.sqs,
          this.source.queueUrl,
          chunk.map((record) => record.receiptHandle),
          delay,
        ).catch(this.onError),
      ),
    );
  }
}
