import { createEnvelope, type MessageEnvelope, type NewMessage } from "../envelope.js";
import { PublishError } from "../errors.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../retry.js";
import { type BatchLimits, type EntryOutcome, type OutgoingEntry, sendInBatches } from "./batch-sender.js";
import type { PublishReport, PublishResult } from "./publish-report.js";

export type Publishable<TPayload = unknown> = NewMessage<TPayload> | MessageEnvelope<TPayload>;

/** A message turned into its API entry once, with its size: what the buffered publisher queues. */
export type PreparedMessage = OutgoingEntry<unknown>;

/** What the buffered publisher (and tests) need of any publisher. */
export interface Publisher {
  /** The topic ARN or stream name. */
  readonly destination: string;
  /** Entries one API call carries at most. */
  readonly batchEntries: number;
  /** Bytes one API call carries at most. */
  readonly batchBytes: number;
  /** Whether messages of one key must be sent in order (FIFO topics, per-key streams). */
  readonly ordered: boolean;
  publish(messages: readonly Publishable[]): Promise<PublishReport>;
  publishSettled(messages: readonly Publishable[]): Promise<PublishReport>;
  /** Throws ConfigurationError for a message that can never be sent. */
  prepare(message: Publishable): PreparedMessage;
  publishPrepared(prepared: readonly PreparedMessage[]): Promise<PublishReport>;
}

/** A publisher over one batch API: subclasses say how a message becomes an entry and how a batch is sent. */
export abstract class BatchPublisher<TEntry, TReceipt extends PublishResult["receipt"]> implements Publisher {
  abstract readonly destination: string;
  abstract readonly ordered: boolean;
  protected readonly retry: RetryPolicy;

  protected constructor(
    protected readonly limits: BatchLimits,
    retry: Partial<RetryPolicy> | undefined,
  ) {
    this.retry = { ...DEFAULT_RETRY_POLICY, ...retry };
  }

  get batchEntries(): number {
    return this.limits.maxEntries;
  }

  get batchBytes(): number {
    return this.limits.maxBytes;
  }

  /** Publishes every message or throws PublishError, whose report says what happened to each. */
  async publish(messages: readonly Publishable[]): Promise<PublishReport> {
    const report = await this.publishSettled(messages);
    if (report.failed.length > 0) throw new PublishError(report);
    return report;
  }

  /** Like `publish`, but reports failures in the returned report instead of throwing. */
  publishSettled(messages: readonly Publishable[]): Promise<PublishReport> {
    return this.publishPrepared(messages.map((message) => this.prepare(message)));
  }

  prepare(message: Publishable): OutgoingEntry<TEntry> {
    return this.toEntry(createEnvelope(message));
  }

  async publishPrepared(prepared: readonly PreparedMessage[]): Promise<PublishReport> {
    const entries = prepared as readonly OutgoingEntry<TEntry>[];
    const outcomes = await sendInBatches(entries, this.limits, (batch) => this.sendBatch(batch), this.retry);
    const results = outcomes.map(
      (outcome, index): PublishResult => ({
        id: (entries[index] as OutgoingEntry<TEntry>).id,
        status: outcome.ok ? "published" : "failed",
        attempts: outcome.attempts,
        ...(outcome.ok
          ? { receipt: outcome.receipt }
          : {
              error: {
                code: outcome.code,
                message: outcome.message,
                ...(outcome.retryable ? {} : { retryable: false }),
              },
            }),
      }),
    );
    return {
      destination: this.destination,
      results,
      failed: results.filter((result) => result.status === "failed"),
    };
  }

  /** Throws ConfigurationError for a message that can never be sent (e.g. no key for a FIFO topic). */
  protected abstract toEntry(envelope: MessageEnvelope): OutgoingEntry<TEntry>;

  /** One API call; an outcome per entry, in order. */
  protected abstract sendBatch(batch: readonly OutgoingEntry<TEntry>[]): Promise<EntryOutcome<TReceipt>[]>;
}
