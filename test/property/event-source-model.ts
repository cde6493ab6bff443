/**
 * A small model of what Lambda and the services do around a consumer function, to drive the real wrappers
 * and guards through adversarial schedules: SQS standard, fair and FIFO queues (visibility timeout,
 * maxReceiveCount redrive, partial batch responses) and Kinesis shards (retry from the lowest reported
 * failure, bisect on function error, finite retries, max record age, on-failure destination). Time is a
 * fake clock: leases run out when the model says so, and a crashed invocation is one that never returns.
 */
import type { KinesisStreamEvent, SQSEvent } from "aws-lambda";
import type { FakeClock } from "../support/fake-clock.js";
import { kinesisRecord, sqsRecord } from "../support/lambda-events.js";

/** Set by a handler that "dies" mid-invocation: the model stops waiting for that invocation. */
export class Crash {
  private resolve: () => void = () => undefined;
  readonly signal = new Promise<void>((resolve) => (this.resolve = resolve));
  crashed = false;
  crash(): Promise<never> {
    this.crashed = true;
    this.resolve();
    return new Promise<never>(() => undefined);
  }
}

type BatchResponse = { batchItemFailures: Array<{ itemIdentifier: string }> };

export interface QueueMessage {
  readonly sqsId: string;
  readonly body: string;
  readonly groupId?: string;
}

export interface QueueOutcome {
  /** Messages the source's redrive moved to its DLQ (no reason attached): only after a crash on the last receive. */
  readonly redriven: string[];
  readonly invocations: number;
}

/** SQS: receives batches of visible messages, deletes what the response does not name, redrives after maxReceiveCount. */
export async function runQueue(
  messages: readonly QueueMessage[],
  options: {
    fifo: boolean;
    batchSize: number;
    maxReceiveCount: number;
    visibilityMs: number;
    timeoutMs: number;
  },
  clock: FakeClock,
  invoke: (
    event: SQSEvent,
    crash: Crash,
    context: ReturnType<FakeClock["invocation"]>,
  ) => Promise<BatchResponse>,
): Promise<QueueOutcome> {
  const queueArn = options.fifo
    ? "arn:aws:sqs:us-east-1:000000000000:model.fifo"
    : "arn:aws:sqs:us-east-1:000000000000:model";
  const state = messages.map((message) => ({ ...message, receives: 0, visibleAt: 0, done: false }));
  const redriven: string[] = [];
  let invocations = 0;
  for (let round = 0; round < 400 && state.some((message) => !message.done); round++) {
    const batch: typeof state = [];
    const blockedGroups = new Set<string>();
    for (const message of state) {
      if (message.done) continue;
      const visible = message.visibleAt <= clock.ms;
      // FIFO: a group is served in order; an invisible message holds back the rest of its group.
      if (options.fifo && message.groupId !== undefined) {
        if (blockedGroups.has(message.groupId)) continue;
        if (!visible) {
          blockedGroups.add(message.groupId);
          continue;
        }
      } else if (!visible) continue;
      if (batch.length < options.batchSize) batch.push(message);
      else if (options.fifo && message.groupId !== undefined) blockedGroups.add(message.groupId);
    }
    if (batch.length === 0) {
      clock.advance(options.visibilityMs);
      continue;
    }
    for (const message of batch) {
      message.receives++;
      message.visibleAt = clock.ms + options.visibilityMs;
    }
    const event: SQSEvent = {
      Records: batch.map((message) => ({
        ...sqsRecord({
          messageId: message.sqsId,
          body: message.body,
          receiveCount: message.receives,
          queueArn,
          ...(message.groupId ? { groupId: message.groupId } : {}),
        }),
      })),
    };
    const crash = new Crash();
    invocations++;
    const response = await Promise.race([
      invoke(event, crash, clock.invocation(options.timeoutMs)),
      crash.signal,
    ]);
    if (response === undefined) {
      clock.advance(options.timeoutMs);
    } else {
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      for (const message of batch) if (!failed.has(message.sqsId)) message.done = true;
    }
    for (const message of batch) {
      if (!message.done && message.receives >= options.maxReceiveCount) {
        message.done = true;
        redriven.push(message.sqsId);
      }
    }
    clock.advance(1_000);
  }
  return { redriven, invocations };
}

export interface ShardRecord {
  readonly sequenceNumber: number;
  readonly partitionKey: string;
  readonly data: string;
}

export interface ShardOutcome {
  /** Sequence numbers Lambda gave up on (retries or record age ran out): only metadata reaches the destination. */
  readonly onFailure: number[];
  readonly invocations: number;
}

/**
 * Kinesis (one shard, parallelization factor 1): batches from Lambda's position, retried from the lowest
 * reported failure; a function error (a crash) retries the batch, halved when bisect is on; after
 * `retryAttempts` failed retries, or past `maxRecordAgeMs`, the batch's records go to the on-failure
 * destination and the shard moves on.
 */
export async function runShard(
  records: readonly ShardRecord[],
  options: {
    batchSize: number;
    retryAttempts: number;
    bisect: boolean;
    timeoutMs: number;
    maxRecordAgeMs: number;
  },
  clock: FakeClock,
  invoke: (
    event: KinesisStreamEvent,
    crash: Crash,
    context: ReturnType<FakeClock["invocation"]>,
  ) => Promise<BatchResponse>,
): Promise<ShardOutcome> {
  const arrivedAt = clock.ms;
  const onFailure: number[] = [];
  let position = 0;
  let retries = 0;
  let size = options.batchSize;
  let invocations = 0;
  while (position < records.length && invocations < 500) {
    const batch = records.slice(position, position + size);
    const event: KinesisStreamEvent = {
      Records: batch.map((record) =>
        kinesisRecord({
          sequenceNumber: String(record.sequenceNumber),
          partitionKey: record.partitionKey,
          data: record.data,
        }),
      ),
    };
    const crash = new Crash();
    invocations++;
    const response = await Promise.race([
      invoke(event, crash, clock.invocation(options.timeoutMs)),
      crash.signal,
    ]);
    let failedAt: number | undefined;
    if (response === undefined) {
      clock.advance(options.timeoutMs);
      failedAt = 0;
      if (options.bisect && size > 1) size = Math.ceil(size / 2);
    } else if (response.batchItemFailures.length > 0) {
      const lowest = Math.min(...response.batchItemFailures.map((failure) => Number(failure.itemIdentifier)));
      failedAt = batch.findIndex((record) => record.sequenceNumber === lowest);
    }
    clock.advance(500);
    if (failedAt === undefined) {
      position += batch.length;
      retries = 0;
      size = options.batchSize;
      continue;
    }
    position += failedAt;
    retries = failedAt > 0 ? 0 : retries + 1;
    const tooOld = clock.ms - arrivedAt > options.maxRecordAgeMs;
    if (retries > options.retryAttempts || tooOld) {
      const dropped = records.slice(position, position + size);
      onFailure.push(...dropped.map((record) => record.sequenceNumber));
      position += dropped.length;
      retries = 0;
      size = options.batchSize;
    }
  }
  return { onFailure, invocations };
}
