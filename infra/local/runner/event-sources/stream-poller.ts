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

  private async discoverShards(): Promise<void> {
    for (const shardId of await this.source.listShards()) {
      if (!this.shards.has(shardId) && !this.stopped) this.shards.set(shardId, this.pollShard(shardId));
    }
  }

  private async pollShard(shardId: string): Promise<void> {
    let iterator: string | undefined;
    // The last record done: after an error (an emulator restart, an expired iterator) reading resumes there.
    let committed: string | undefined;
    const resume = () =>
      this.source.iterator(
        shardId,
        committed
          ? { type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: committed }
          : { type: this.settings.startingPosition },
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
          if (!next) return;
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
        const outcome = batch.length > 0 ? await this.invoke(batch) : { failedFrom: undefined };

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
        this.onError(error);
        iterator = undefined;
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
