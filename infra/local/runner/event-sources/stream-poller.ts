import { createHash } from "node:crypto";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { filterView, passesFilters } from "../event-filter.js";
import type { FunctionHost } from "../function-host.js";
import { sendToOnFailure } from "./on-failure.js";
import { type EventSourceSettings, reportedFailures } from "./settings.js";
import type { ShardRecord, ShardSource } from "./shard-source.js";
import type { PollerStats } from "./sqs-poller.js";

const IDLE_POLL_MS = 200;
const SHARD_DISCOVERY_MS = 5_000;

/** What one invocation of part of a batch came to. */
interface BatchOutcome {
  /** Index in the batch of the first record not done, or undefined when all are. */
  readonly failedFrom: number | undefined;
  /** Set when the function failed as a whole (threw, timed out, answered nonsense). */
  readonly functionError?: string;
}

/**
 * Plays a Kinesis or DynamoDB Streams event source mapping: one poller per shard reads in order and
 * invokes the function; Lambda's checkpoint goes before the lowest failed record (partial batch
 * responses) and the batch is retried from there, bisected on a function error if asked. After
 * MaximumRetryAttempts, or past MaximumRecordAgeInSeconds, the records go to the on-failure destination
 * as AWS sends them (batch metadata) and the shard moves on. With a ParallelizationFactor above 1, a
 * shard's batch is split into lanes by key hash, each lane in order.
 */
export class StreamPoller {
  readonly stats: PollerStats & { sentToOnFailure: number } = {
    received: 0,
    batches: 0,
    failed: 0,
    filteredOut: 0,
    sentToOnFailure: 0,
  };
  private stopped = false;
  private readonly shards = new Map<string, Promise<void>>();
  /** Shards read to their end (closed): their children may be read. */
  private readonly drained = new Set<string>();
  /** Tumbling windows: the open window of each shard and the state the function returned in it. */
  private readonly windows = new Map<string, { start: number; end: number; state: unknown }>();
  private discovery: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: EventSourceSettings,
    private readonly source: ShardSource,
    private readonly fn: FunctionHost,
    private readonly clients: { sqs: SQSClient; sns: SNSClient },
    private readonly onError: (error: unknown) => void,
  ) {}

  async start(): Promise<void> {
    await this.discoverShards();
    this.discovery = setInterval(() => void this.discoverShards().catch(this.onError), SHARD_DISCOVERY_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.discovery) clearInterval(this.discovery);
    await Promise.all(this.shards.values());
  }

  /**
   * Starts a poller for each shard not polled yet whose parents are drained: Lambda reads a child shard
   * only after its parent (a reshard, or DynamoDB's rotation of stream shards), so that a key's records
   * stay in order. A parent that has aged out of the stream no longer holds its child back.
   */
  private async discoverShards(): Promise<void> {
    const shards = await this.source.listShards();
    const listed = new Set(shards.map((shard) => shard.shardId));
    for (const shard of shards) {
      if (this.shards.has(shard.shardId) || this.stopped) continue;
      const parents = [shard.parentShardId, shard.adjacentParentShardId].filter(
        (parent): parent is string => parent !== undefined && listed.has(parent),
      );
      if (parents.some((parent) => !this.drained.has(parent))) continue;
      const poll = this.pollShard(shard.shardId, parents.length > 0).then(() => {
        this.drained.add(shard.shardId);
        // Its children may start now, without waiting for the next discovery.
        if (!this.stopped) void this.discoverShards().catch(this.onError);
      });
      this.shards.set(shard.shardId, poll);
    }
  }

  private async pollShard(shardId: string, isChild: boolean): Promise<void> {
    let iterator: string | undefined;
    // The last record done: after an error (an emulator restart, an expired iterator) reading resumes there.
    let committed: string | undefined;
    const resume = () =>
      this.source.iterator(
        shardId,
        committed
          ? { type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: committed }
          : // A child shard is read from its start: its parent was read to its end.
            { type: isChild ? "TRIM_HORIZON" : this.settings.startingPosition },
      );
    let limit = this.settings.batchSize;
    let attempts = 0;
    let head: string | undefined;
    while (!this.stopped) {
      try {
        iterator ??= await resume();
        if (!iterator) return; // a closed shard, read to its end
        const { records, next } = await this.readBatch(shardId, iterator, limit);
        if (records.length === 0) {
          iterator = next;
          const windowClosed = await this.closeWindowIfDue(shardId, !next);
          if (!next && windowClosed) return;
          await sleep(IDLE_POLL_MS);
          continue;
        }
        this.stats.received += records.length;

        const passing = records.filter((record) =>
          passesFilters(filterView(record.lambdaRecord), this.settings.filters),
        );
        this.stats.filteredOut += records.length - passing.length;
        const maxAgeMs = this.settings.maxRecordAgeSeconds * 1000;
        const tooOld =
          this.settings.maxRecordAgeSeconds >= 0
            ? passing.filter((record) => Date.now() - record.arrival.getTime() > maxAgeMs)
            : [];
        if (tooOld.length > 0) await this.giveUp(shardId, tooOld, "RecordAgeExceeded", attempts, undefined);
        const batch = passing.filter((record) => !tooOld.includes(record));
        const outcome =
          batch.length === 0
            ? { failedFrom: undefined }
            : this.settings.tumblingWindowSeconds > 0
              ? await this.invokeInWindows(shardId, batch)
              : await this.invoke(batch);

        if (outcome.failedFrom === undefined) {
          committed = records[records.length - 1]?.sequenceNumber ?? committed;
          iterator = next;
          limit = this.settings.batchSize;
          attempts = 0;
          continue;
        }
        const failing = batch.slice(outcome.failedFrom);
        const failedHead = failing[0] as ShardRecord;
        const beforeFailure = records[records.indexOf(failedHead) - 1];
        if (beforeFailure) committed = beforeFailure.sequenceNumber;
        if (failedHead.sequenceNumber !== head) {
          // Progress past the last failing record: a new head gets full batches and fresh retries.
          head = failedHead.sequenceNumber;
          attempts = 0;
          limit = this.settings.batchSize;
        }
        if (outcome.functionError && this.settings.bisectOnError && failing.length > 1) {
          // Split the batch and retry the halves: splitting does not count as a retry.
          limit = Math.ceil(failing.length / 2);
        } else {
          attempts++;
          if (this.settings.maxRetryAttempts >= 0 && attempts > this.settings.maxRetryAttempts) {
            await this.giveUp(shardId, failing, "RetryAttemptsExhausted", attempts, outcome.functionError);
            committed = records[records.length - 1]?.sequenceNumber ?? committed;
            iterator = next;
            limit = this.settings.batchSize;
            attempts = 0;
            continue;
          }
        }
        iterator = await this.source.iterator(shardId, {
          type: "AT_SEQUENCE_NUMBER",
          sequenceNumber: failedHead.sequenceNumber,
        });
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(attempts, 6)));
      } catch (error) {
        if (this.stopped) return;
        iterator = undefined;
        // Reading at a position the stream has trimmed: Lambda starts again from the oldest record
        // there is, without an error (DynamoDB Local answers so for a new stream's first iterator).
        if ((error as Error).name === "TrimmedDataAccessException" && !committed) {
          await sleep(IDLE_POLL_MS);
          continue;
        }
        this.onError(error);
        await sleep(1_000);
      }
    }
  }

  private async readBatch(
    shardId: string,
    iterator: string,
    limit: number,
  ): Promise<{ records: ShardRecord[]; next: string | undefined }> {
    const deadline = Date.now() + this.settings.maxBatchingWindowMs;
    const records: ShardRecord[] = [];
    let next: string | undefined = iterator;
    while (next && records.length < limit) {
      const read = await this.source.read(shardId, next, limit - records.length);
      records.push(...read.records);
      next = read.next;
      if (Date.now() >= deadline) break;
      if (read.records.length === 0) await sleep(IDLE_POLL_MS);
    }
    const fitting = recordsWithinPayload(records);
    if (fitting < records.length) {
      // What did not fit is read again, from its first record, for the next batch.
      const first = records[fitting] as ShardRecord;
      next = await this.source.iterator(shardId, {
        type: "AT_SEQUENCE_NUMBER",
        sequenceNumber: first.sequenceNumber,
      });
      records.length = fitting;
    }
    return { records, next };
  }

  /** Invokes the function with the batch (in lanes when parallelized); where the batch stopped. */
  private async invoke(batch: ShardRecord[]): Promise<BatchOutcome> {
    const factor = Math.max(1, this.settings.parallelizationFactor);
    const lanes: ShardRecord[][] = Array.from({ length: factor }, () => []);
    for (const record of batch)
      (lanes[factor === 1 ? 0 : laneOf(record.orderingKey, factor)] as ShardRecord[]).push(record);
    const outcomes = await Promise.all(
      lanes.filter((lane) => lane.length > 0).map((lane) => this.invokeLane(lane)),
    );
    let failedFrom: number | undefined;
    let functionError: string | undefined;
    for (const outcome of outcomes) {
      if (!outcome.failed) continue;
      const index = batch.indexOf(outcome.failed);
      if (failedFrom === undefined || index < failedFrom) {
        failedFrom = index;
        functionError = outcome.functionError;
      }
    }
    return failedFrom === undefined
      ? { failedFrom }
      : { failedFrom, ...(functionError ? { functionError } : {}) };
  }

  /**
   * Tumbling windows: the batch is cut at window boundaries (by arrival time), each part invoked with
   * the window and the state returned by the previous invocation in it; when a new window begins, the
   * old one gets a final invocation (`isFinalInvokeForWindow`) with its state and no records.
   */
  private async invokeInWindows(shardId: string, batch: ShardRecord[]): Promise<BatchOutcome> {
    const size = this.settings.tumblingWindowSeconds * 1000;
    let offset = 0;
    while (offset < batch.length) {
      const first = batch[offset] as ShardRecord;
      const start = Math.floor(first.arrival.getTime() / size) * size;
      let endIndex = offset;
      while (endIndex < batch.length && (batch[endIndex] as ShardRecord).arrival.getTime() < start + size)
        endIndex++;
      const part = batch.slice(offset, endIndex);
      const open = this.windows.get(shardId);
      if (open && open.start !== start) {
        const closed = await this.finalInvoke(shardId, open);
        if (closed.failedFrom !== undefined) return { ...closed, failedFrom: offset };
      }
      const window = this.windows.get(shardId) ?? { start, end: start + size, state: {} };
      this.windows.set(shardId, window);
      const outcome = await this.invokeWindow(shardId, part, window, false);
      if (outcome.failedFrom !== undefined) return { ...outcome, failedFrom: offset + outcome.failedFrom };
      offset = endIndex;
    }
    return { failedFrom: undefined };
  }

  /** Closes the shard's window when its time is up (or the shard ends); false while its final invoke fails. */
  private async closeWindowIfDue(shardId: string, shardClosed: boolean): Promise<boolean> {
    const open = this.windows.get(shardId);
    if (!open || !(shardClosed || Date.now() >= open.end)) return true;
    return (await this.finalInvoke(shardId, open)).failedFrom === undefined;
  }

  /**
   * The window's final invoke. "If the invocation fails, your Lambda function suspends further processing
   * until a successful invocation" (AWS, Kinesis windows): the window stays open and is closed again first.
   */
  private async finalInvoke(
    shardId: string,
    window: { start: number; end: number; state: unknown },
  ): Promise<BatchOutcome> {
    const outcome = await this.invokeWindow(shardId, [], window, true);
    if (outcome.failedFrom === undefined) this.windows.delete(shardId);
    return outcome;
  }

  private async invokeWindow(
    shardId: string,
    part: ShardRecord[],
    window: { start: number; end: number; state: unknown },
    final: boolean,
  ): Promise<BatchOutcome> {
    this.stats.batches++;
    const result = await this.fn.invoke({
      Records: part.map((record) => record.lambdaRecord),
      window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
      state: window.state,
      shardId,
      eventSourceARN: this.source.arn,
      isFinalInvokeForWindow: final,
      isWindowTerminatedEarly: false,
    });
    if (!result.ok) {
      this.stats.failed += part.length;
      return {
        failedFrom: 0,
        functionError: result.errorType === "Sandbox.Timedout" ? "Timeout" : "Unhandled",
      };
    }
    const response = result.response as { state?: unknown } | undefined;
    // "If the response doesn't contain a state property, Lambda considers it a failed invocation"
    // (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html).
    if (!response || typeof response !== "object" || !("state" in response)) {
      this.stats.failed += part.length;
      return { failedFrom: 0, functionError: "InvalidResponse" };
    }
    if (!final) window.state = response.state ?? {};
    if (!this.settings.reportBatchItemFailures || final) return { failedFrom: undefined };
    const failed = reportedFailures(result.response, new Set(part.map((record) => record.sequenceNumber)));
    if (failed === undefined) return { failedFrom: 0, functionError: "InvalidResponse" };
    if (failed.length === 0) return { failedFrom: undefined };
    const first = part.findIndex((record) => failed.includes(record.sequenceNumber));
    this.stats.failed += part.length - first;
    return { failedFrom: first };
  }

  private async invokeLane(lane: ShardRecord[]): Promise<{ failed?: ShardRecord; functionError?: string }> {
    this.stats.batches++;
    const result = await this.fn.invoke({ Records: lane.map((record) => record.lambdaRecord) });
    if (!result.ok) {
      this.stats.failed += lane.length;
      return {
        failed: lane[0] as ShardRecord,
        functionError: result.errorType === "Sandbox.Timedout" ? "Timeout" : "Unhandled",
      };
    }
    if (!this.settings.reportBatchItemFailures) return {};
    const failed = reportedFailures(result.response, new Set(lane.map((record) => record.sequenceNumber)));
    if (failed === undefined) {
      this.stats.failed += lane.length;
      return { failed: lane[0] as ShardRecord, functionError: "InvalidResponse" };
    }
    if (failed.length === 0) return {};
    // Lambda resumes from the lowest sequence number reported.
    const first = lane.findIndex((record) => failed.includes(record.sequenceNumber));
    this.stats.failed += lane.length - first;
    return { failed: lane[first] as ShardRecord };
  }

  private async giveUp(
    shardId: string,
    records: readonly ShardRecord[],
    condition: "RetryAttemptsExhausted" | "RecordAgeExceeded",
    attempts: number,
    functionError: string | undefined,
  ): Promise<void> {
    this.stats.sentToOnFailure += records.length;
    if (!this.settings.onFailure) return;
    await sendToOnFailure(this.settings.onFailure, this.clients, {
      functionArn: this.fn.spec.functionArn,
      condition,
      invokeCount: attempts,
      functionError,
      batchInfoName: this.source.batchInfoName,
      shardId,
      streamArn: this.source.arn,
      records,
    });
  }
}

function laneOf(key: string, lanes: number): number {
  return createHash("md5").update(key).digest().readUInt32BE(0) % lanes;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Lambda puts at most 6 MB of records in one invocation, whatever the batch size (the invocation payload
 * limit): https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html. At least one record goes.
 */
const MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024 - 64 * 1024;

function recordsWithinPayload(records: readonly ShardRecord[]): number {
  let bytes = 0;
  for (let index = 0; index < records.length; index++) {
    bytes += Buffer.byteLength(JSON.stringify((records[index] as ShardRecord).lambdaRecord)) + 1;
    if (bytes > MAX_BATCH_PAYLOAD_BYTES) return Math.max(1, index);
  }
  return records.length;
}
