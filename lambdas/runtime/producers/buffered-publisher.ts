import { BrokerError, PublishError } from "../errors.js";
import type { PreparedMessage, Publishable, Publisher } from "./batch-publisher.js";
import type { PublishResult } from "./publish-report.js";

export interface BufferedPublisherOptions {
  /** Flush once this many messages are buffered. @default - what one API call carries (10 SNS, 500 Kinesis) */
  readonly maxBatchMessages?: number;
  /** Flush once the buffered messages reach this many bytes. @default - what one API call carries */
  readonly maxBatchBytes?: number;
  /** Longest a message waits for its batch to fill. @default 20 */
  readonly lingerMs?: number;
  /** `whenWritable()` waits while this many messages are buffered or in flight. @default 10000 */
  readonly maxPendingMessages?: number;
  /**
   * Flushes in flight at once. An ordered publisher (FIFO topic, per-key stream) always uses 1, so that
   * batches of one key are written one after the other. @default 4
   */
  readonly maxConcurrentFlushes?: number;
}

interface Buffered {
  readonly prepared: PreparedMessage;
  readonly resolve: (result: PublishResult) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Batches single sends into full API calls: by count, bytes and linger time. `send` resolves when its
 * message is published and rejects with a PublishError when it is not; `whenWritable` applies
 * backpressure; `flush` publishes what is buffered now; `close` flushes and refuses later sends.
 *
 * ```ts
 * const events = new BufferedPublisher(new TopicPublisher({ topicArn }));
 * for (const order of orders) {
 *   await events.whenWritable();
 *   events.send({ type: "order.placed", key: order.customerId, payload: order }).catch(report);
 * }
 * await events.close();
 * ```
 */
export class BufferedPublisher {
  private readonly maxBatchMessages: number;
  private readonly maxBatchBytes: number;
  private readonly lingerMs: number;
  private readonly maxPendingMessages: number;
  private readonly maxConcurrentFlushes: number;
  private buffer: Buffered[] = [];
  private bufferedBytes = 0;
  private inFlightMessages = 0;
  private inFlightFlushes = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private writableWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly publisher: Publisher,
    options: BufferedPublisherOptions = {},
  ) {
    this.maxBatchMessages = options.maxBatchMessages ?? publisher.batchEntries;
    this.maxBatchBytes = options.maxBatchBytes ?? publisher.batchBytes;
    this.lingerMs = options.lingerMs ?? 20;
    this.maxPendingMessages = options.maxPendingMessages ?? 10_000;
    this.maxConcurrentFlushes = publisher.ordered ? 1 : (options.maxConcurrentFlushes ?? 4);
  }

  /** Messages buffered or in flight. */
  get pending(): number {
    return this.buffer.length + this.inFlightMessages;
  }

  /** Queues a message; resolves with its result once published, rejects with PublishError if it was not. */
  send(message: Publishable): Promise<PublishResult> {
    if (this.closed)
      return Promise.reject(new BrokerError(`The publisher to ${this.publisher.destination} is closed.`));
    let prepared: PreparedMessage;
    try {
      prepared = this.publisher.prepare(message);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<PublishResult>((resolve, reject) => {
      this.buffer.push({ prepared, resolve, reject });
      this.bufferedBytes += prepared.bytes;
      if (this.buffer.length >= this.maxBatchMessages || this.bufferedBytes >= this.maxBatchBytes) {
        this.drain(false);
      } else {
        this.lingerTimer ??= setTimeout(() => this.drain(true), this.lingerMs);
      }
    });
  }

  /** Resolves once fewer than `maxPendingMessages` are buffered or in flight. */
  whenWritable(): Promise<void> {
    if (this.pending < this.maxPendingMessages) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** Publishes everything buffered now; resolves when nothing is buffered or in flight. */
  flush(): Promise<void> {
    this.drain(true);
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes, then refuses further sends. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** Starts flushes while there is room: full batches always; a partial one only when `partial`. */
  private drain(partial: boolean): void {
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    while (this.buffer.length > 0 && this.inFlightFlushes < this.maxConcurrentFlushes) {
      const { count, full } = this.nextBatch();
      if (!full && !partial) break;
      const batch = this.buffer.splice(0, count);
      this.bufferedBytes -= batch.reduce((sum, item) => sum + item.prepared.bytes, 0);
      void this.flushBatch(batch);
    }
    if (this.buffer.length > 0 && this.inFlightFlushes < this.maxConcurrentFlushes) {
      this.lingerTimer = setTimeout(() => this.drain(true), this.lingerMs);
    }
  }

  /** How many buffered messages the next batch takes, and whether that fills it (by count or bytes). */
  private nextBatch(): { count: number; full: boolean } {
    let bytes = 0;
    let count = 0;
    while (count < this.buffer.length && count < this.maxBatchMessages) {
      const next = (this.buffer[count] as Buffered).prepared.bytes;
      if (count > 0 && bytes + next > this.maxBatchBytes) return { count, full: true };
      bytes += next;
      count++;
    }
    return { count, full: count === this.maxBatchMessages || bytes >= this.maxBatchBytes };
  }

  private async flushBatch(batch: Buffered[]): Promise<void> {
    this.inFlightFlushes++;
    this.inFlightMessages += batch.length;
    try {
      const report = await this.publisher.publishPrepared(batch.map((item) => item.prepared));
      const failedKeys = new Set<string>();
      report.results.forEach((result, index) => {
        const item = batch[index] as Buffered;
        if (result.status === "published") {
          item.resolve(result);
        } else {
          if (this.publisher.ordered && item.prepared.orderKey !== undefined)
            failedKeys.add(item.prepared.orderKey);
          item.reject(
            new PublishError({ destination: report.destination, results: [result], failed: [result] }),
          );
        }
      });
      this.failBufferedBehind(failedKeys);
    } catch (error) {
      for (const item of batch) item.reject(error as Error);
    } finally {
      this.inFlightFlushes--;
      this.inFlightMessages -= batch.length;
      this.afterFlush();
    }
  }

  /** Messages still buffered behind a failed one of the same key are not sent: they would overtake it. */
  private failBufferedBehind(failedKeys: ReadonlySet<string>): void {
    if (failedKeys.size === 0) return;
    this.buffer = this.buffer.filter((item) => {
      const key = item.prepared.orderKey;
      if (key === undefined || !failedKeys.has(key)) return true;
      this.bufferedBytes -= item.prepared.bytes;
      const result: PublishResult = {
        id: item.prepared.id,
        status: "failed",
        attempts: 0,
        error: {
          code: "PrecedingMessageFailed",
          message: `an earlier message with key "${key}" failed, so this one was not sent (to keep their order)`,
        },
      };
      item.reject(
        new PublishError({ destination: this.publisher.destination, results: [result], failed: [result] }),
      );
      return false;
    });
  }

  private afterFlush(): void {
    if (this.pending < this.maxPendingMessages) {
      for (const wake of this.writableWaiters.splice(0)) wake();
    }
    if (this.buffer.length > 0) {
      // Whatever gathered while the last flush was in flight goes out now, full or not.
      this.drain(true);
    } else if (this.pending === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
