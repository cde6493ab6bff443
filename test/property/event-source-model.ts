/**
 * A small model of what Lambda and the services do around a consumer function, to drive the real wrappers
 * and guards through adversarial schedules: SQS standard, fair and FIFO queues (visibility timeout,
 * maxReceiveCount redrive, partial batch responses, messages that arrive later, invocations that overlap
 * when one stalls), and Kinesis or DynamoDB Streams shards (retry from the lowest reported failure, bisect
 * on function error, finite retries, max record age, on-failure destination; the parallelization factor is
 * several shard runs side by side). Time is a fake clock: leases run out when the model says so, and a
 * crashed invocation is one that never returns.
 */
import type { Context, DynamoDBRecord, KinesisStreamRecord, SQSEvent } from "aws-lambda";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import type { FakeClock } from "../support/fake-clock.js";
import { kinesisRecord, sqsRecord } from "../support/lambda-events.js";

type Signal = "crashed" | "stalled";

/**
 * What a handler may do to its own invocation, reached through its Lambda context: die (the invocation
 * never returns, as on a timeout or an out-of-memory kill), or stall until the model lets it go on while
 * the model delivers other batches (a handler running past its dedup lease).
 */
export class InvocationControl {
  private signal: (kind: Signal) => void = () => undefined;
  private readonly stalledHandlers: Array<() => void> = [];
  crashed = false;
  /** Resolves when a handler crashes or stalls; re-armed when a stalled invocation goes on. */
  next = this.arm();

  private arm(): Promise<Signal> {
    return new Promise<Signal>((resolve) => (this.signal = resolve));
  }
  crash(): Promise<never> {
    this.crashed = true;
    this.signal("crashed");
    return new Promise<never>(() => undefined);
  }
  stall(): Promise<void> {
    const resumed = new Promise<void>((resolve) => this.stalledHandlers.push(resolve));
    this.signal("stalled");
    return resumed;
  }
  /**
   * Lets every stalled handler of the invocation go on; the returned promise settles on its next crash or
   * stall (at once if another handler of the batch crashed meanwhile).
   */
  proceed(): Promise<Signal> {
    if (this.crashed) return Promise.resolve("crashed");
    this.next = this.arm();
    for (const resume of this.stalledHandlers.splice(0)) resume();
    return this.next;
  }
}

/** The control of the invocation a handler runs in. */
export function controlOf(context: Context | undefined): InvocationControl {
  const control = (context as { control?: InvocationControl } | undefined)?.control;
  if (!control) throw new Error("the handler runs outside the event-source model");
  return control;
}

function invocationContext(clock: FakeClock, timeoutMs: number, control: InvocationControl): Context {
  return Object.assign(clock.invocation(timeoutMs), { control });
}

type BatchResponse = { batchItemFailures: Array<{ itemIdentifier: string }> };

export interface QueueMessage {
  readonly sqsId: string;
  readonly body: string;
  readonly groupId?: string;
  /** Sent this long after the start (a producer's retry arrives later). @default 0 */
  readonly delayMs?: number;
}

export interface QueueOutcome {
  /** Messages the source's redrive moved to its DLQ (no reason attached): only after a crash on the last receive. */
  readonly redriven: string[];
  readonly invocations: number;
}

/**
 * SQS: receives batches of visible messages, deletes what the response does not name (a late response
 * deletes only what was not received again since: its receipt handles are stale), redrives after
 * maxReceiveCount. A stalled invocation keeps its messages in flight while later batches run, and goes on
 * `stallMs` later.
 */
export async function runQueue(
  messages: readonly QueueMessage[],
  options: {
    fifo: boolean;
    batchSize: number;
    maxReceiveCount: number;
    visibilityMs: number;
    timeoutMs: number;
    stallMs?: number;
  },
  clock: FakeClock,
  invoke: (event: SQSEvent, context: Context) => Promise<BatchResponse>,
): Promise<QueueOutcome> {
  const queueArn = options.fifo
    ? "arn:aws:sqs:us-east-1:000000000000:model.fifo"
    : "arn:aws:sqs:us-east-1:000000000000:model";
  const start = clock.ms;
  const state = messages.map((message) => ({
    ...message,
    receives: 0,
    visibleAt: start + (message.delayMs ?? 0),
    done: false,
  }));
  const redriven: string[] = [];
  const stalled: Array<{
    control: InvocationControl;
    response: Promise<BatchResponse>;
    batch: Array<{ message: (typeof state)[number]; receive: number }>;
    resumeAt: number;
  }> = [];
  let invocations = 0;

  const settle = (
    batch: Array<{ message: (typeof state)[number]; receive: number }>,
    response: BatchResponse | undefined,
  ) => {
    if (response !== undefined) {
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      for (const { message, receive } of batch) {
        if (!failed.has(message.sqsId) && message.receives === receive) message.done = true;
      }
    }
    for (const { message, receive } of batch) {
      if (!message.done && message.receives === receive && receive >= options.maxReceiveCount) {
        message.done = true;
        redriven.push(message.sqsId);
      }
    }
  };
  /** Waits for an invocation to return, crash or stall (again). */
  const outcomeOf = (response: Promise<BatchResponse>, signal: Promise<Signal>) =>
    Promise.race([response, signal]);

  for (let round = 0; round < 600; round++) {
    for (const entry of stalled.filter((entry) => entry.resumeAt <= clock.ms)) {
      stalled.splice(stalled.indexOf(entry), 1);
      const outcome = await outcomeOf(entry.response, entry.control.proceed());
      if (outcome === "stalled") stalled.push({ ...entry, resumeAt: clock.ms + (options.stallMs ?? 0) });
      else settle(entry.batch, outcome === "crashed" ? undefined : outcome);
    }
    if (stalled.length === 0 && state.every((message) => message.done)) break;

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
      // Nothing visible: time moves on to the next message that becomes visible or the next stall's end.
      const next = Math.min(
        ...state
          .filter((message) => !message.done && message.visibleAt > clock.ms)
          .map((message) => message.visibleAt),
        ...stalled.map((entry) => entry.resumeAt),
      );
      clock.advance(Math.max(1, Number.isFinite(next) ? next - clock.ms : options.visibilityMs));
      continue;
    }
    for (const message of batch) {
      message.receives++;
      message.visibleAt = clock.ms + options.visibilityMs;
    }
    const received = batch.map((message) => ({ message, receive: message.receives }));
    const event = {
      Records: batch.map((message) =>
        sqsRecord({
          messageId: message.sqsId,
          body: message.body,
          receiveCount: message.receives,
          queueArn,
          ...(message.groupId ? { groupId: message.groupId } : {}),
        }),
      ),
    };
    const control = new InvocationControl();
    invocations++;
    const response = invoke(event, invocationContext(clock, options.timeoutMs, control));
    const outcome = await outcomeOf(response, control.next);
    if (outcome === "stalled") {
      stalled.push({ control, response, batch: received, resumeAt: clock.ms + (options.stallMs ?? 0) });
    } else if (outcome === "crashed") {
      clock.advance(options.timeoutMs);
      settle(received, undefined);
    } else {
      settle(received, outcome);
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
 * How a shard's records look in an event: Kinesis records, DynamoDB Streams changes (the data in a `body`
 * attribute), or the dedup table's outbox rows (the data as the row's envelope, for the outbox relay).
 */
export type StreamEventShape = "kinesis" | "dynamodb" | "outbox";

function streamRecord(
  record: ShardRecord,
  shape: StreamEventShape,
  outboxTopicArn: string,
): KinesisStreamRecord | DynamoDBRecord {
  if (shape === "kinesis") {
    return kinesisRecord({
      sequenceNumber: String(record.sequenceNumber),
      partitionKey: record.partitionKey,
      data: record.data,
    });
  }
  return {
    eventID: `event-${record.sequenceNumber}`,
    eventName: "INSERT",
    eventSource: "aws:dynamodb",
    awsRegion: "us-east-1",
    eventSourceARN: "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-11-22T00:00:00.000",
    dynamodb: {
      SequenceNumber: String(record.sequenceNumber),
      Keys: { pk: { S: record.partitionKey } },
      NewImage:
        shape === "outbox"
          ? {
              pk: { S: `${DEDUP_TABLE.outboxPrefix}${record.sequenceNumber}` },
              topicArn: { S: outboxTopicArn },
              envelope: { S: record.data },
            }
          : { pk: { S: record.partitionKey }, body: { S: record.data } },
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  };
}

/**
 * One shard (or, with a parallelization factor, one of its concurrent batch lanes): batches from Lambda's
 * position, retried from the lowest reported failure; a function error (a crash) retries the batch, halved
 * when bisect is on; after `retryAttempts` failed retries, or past `maxRecordAgeMs`, the batch's records go
 * to the on-failure destination and the shard moves on.
 */
export async function runShard(
  records: readonly ShardRecord[],
  options: {
    shape?: StreamEventShape;
    /** Where the outbox rows go. @default - a standard topic */
    outboxTopicArn?: string;
    batchSize: number;
    retryAttempts: number;
    bisect: boolean;
    timeoutMs: number;
    maxRecordAgeMs: number;
  },
  clock: FakeClock,
  invoke: (event: { Records: unknown[] }, context: Context) => Promise<BatchResponse>,
): Promise<ShardOutcome> {
  const arrivedAt = clock.ms;
  const onFailure: number[] = [];
  let position = 0;
  let retries = 0;
  let size = options.batchSize;
  let invocations = 0;
  while (position < records.length && invocations < 500) {
    const batch = records.slice(position, position + size);
    const event = {
      Records: batch.map((record) =>
        streamRecord(
          record,
          options.shape ?? "kinesis",
          options.outboxTopicArn ?? "arn:aws:sns:us-east-1:000000000000:outbox-model",
        ),
      ),
    };
    const control = new InvocationControl();
    invocations++;
    const outcome = await Promise.race([
      invoke(event, invocationContext(clock, options.timeoutMs, control)),
      control.next,
    ]);
    let failedAt: number | undefined;
    if (outcome === "crashed" || outcome === "stalled") {
      clock.advance(options.timeoutMs);
      failedAt = 0;
      if (options.bisect && size > 1) size = Math.ceil(size / 2);
    } else if (outcome.batchItemFailures.length > 0) {
      const lowest = Math.min(...outcome.batchItemFailures.map((failure) => Number(failure.itemIdentifier)));
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
