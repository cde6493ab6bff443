import { randomUUID } from "node:crypto";
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as KinesisRecord,
} from "@aws-sdk/client-kinesis";
import { REPLAY_MARKER } from "../../lambdas/runtime/constants.js";
import type { BatchSummary } from "../../lambdas/runtime/consumers/observability.js";
import { toKinesisRecord } from "../local/runner/lambda-event-shapes.js";
import type { Broker } from "./broker.js";
import { OpsError } from "./errors.js";
import { openFunctionInvoker } from "./function-invoker.js";
import { listShardIds } from "./shards.js";
import { findGroup, type GroupNode } from "./topology.js";

/** A position in a stream: an arrival time, or a sequence number (compared within each shard). */
export type StreamPosition = { readonly time: Date } | { readonly sequence: string };

export type ReplayMode = "missing" | "all";

export interface ReplayOptions {
  /** The stream: its logical id in the app, or its physical name. */
  readonly stream: string;
  readonly group: string;
  readonly from: StreamPosition;
  /** @default - the time the replay starts: records arriving after it are the live consumer's */
  readonly to?: StreamPosition;
  /**
   * "missing": delivered as they are, so the group's own guard skips what it completed. "all": marked as a
   * replay (REPLAY_MARKER), so the guard keeps its state apart and every record runs once more.
   */
  readonly mode: ReplayMode;
  /** Read and count what would be delivered; invoke nothing. */
  readonly dryRun?: boolean;
  /** Resume a `--mode all` replay: records it already completed are skipped. @default - a new id */
  readonly replayId?: string;
  /** Invocations of one batch after its first, as Lambda's MaximumRetryAttempts. @default the mapping's, at most 3 */
  readonly maxRetries?: number;
  readonly onBatch?: (progress: ReplayProgress) => void;
  /** Replaces the function (tests). @default - the local runner, or Lambda Invoke on AWS */
  readonly invoker?: FunctionInvoker;
}

export interface ReplayProgress {
  readonly shardId: string;
  readonly read: number;
  readonly sent: number;
  readonly skipped: number;
  readonly failed: number;
  /** The last sequence number of the shard that the function acknowledged. */
  readonly lastDelivered?: string;
}

export interface ReplayReport {
  readonly stream: string;
  readonly group: string;
  readonly function: string;
  readonly mode: ReplayMode;
  /** The scope `all` keeps its dedup rows and checkpoints under; pass it as --replay-id to resume. */
  readonly replayId?: string;
  readonly dryRun: boolean;
  /** Records in the range. */
  readonly read: number;
  /** Acknowledged by the function, and run by it. */
  readonly sent: number;
  /** Acknowledged without running (the guard's duplicates or checkpointed records); -1 where unknown. */
  readonly skipped: number;
  /** Still failing after the retries; the shard stopped there. */
  readonly failed: number;
  /** Per shard: the last sequence number acknowledged (restart with --from-sequence after it). */
  readonly lastDelivered: Readonly<Record<string, string>>;
  /** Per shard that stopped on a failure: where, and why. */
  readonly stopped: ReadonlyArray<{ shardId: string; sequenceNumber: string; why: string }>;
}

/** What replay invokes: the group's function, with an event, as Lambda's event source mapping does. */
export interface FunctionInvoker {
  invoke(
    event: unknown,
  ): Promise<
    | { ok: true; response: unknown; summary?: BatchSummary }
    | { ok: false; error: string; summary?: BatchSummary }
  >;
  close(): Promise<void>;
}

/** Lambda's default Kinesis batch size. https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html */
const DEFAULT_BATCH_SIZE = 100;
const MAX_RETRIES = 3;
/**
 * GetRecords: 5 calls a second per shard, so a replay on AWS waits 200 ms between a shard's pages.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
 */
const GET_RECORDS_INTERVAL_MS = 200;
/**
 * A synchronous invocation's payload is at most 6 MB, which is also what Lambda's event source puts in one
 * batch: a batch ends before the records' JSON would pass it (base64 data plus the record's other fields).
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
const MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024 - 64 * 1024;
const RECORD_ENVELOPE_BYTES = 600;

function payloadBytes(record: KinesisRecord): number {
  return (
    Math.ceil((record.Data?.length ?? 0) / 3) * 4 + (record.PartitionKey?.length ?? 0) + RECORD_ENVELOPE_BYTES
  );
}

/**
 * Delivers a stream's records from a position to a group's function with its batch semantics: the mapping's
 * batch size, in order per shard, a partial batch response (or an error) retried from the first failed
 * record, up to the retries; a shard still failing then stops, and the report says where.
 */
export async function replayStream(broker: Broker, options: ReplayOptions): Promise<ReplayReport> {
  // Kinesis refuses an AT_TIMESTAMP iterator later than now (InvalidArgumentException).
  if ("time" in options.from && options.from.time.getTime() > Date.now())
    throw new OpsError(
      `--from ${options.from.time.toISOString()} is in the future: there is nothing to replay from there.`,
      "Pass a time in the past (records arriving later are the live consumer's).",
    );
  const group = findGroup(broker.topology, options.group);
  const streamLogicalId = streamOf(group);
  if (options.mode === "missing" && !group.dedupTable)
    throw new OpsError(
      `The group ${group.name} has no dedup table, so nothing tells which records it completed: --mode missing would run every record again.`,
      "Pass --mode all to reprocess the range on purpose.",
    );
  const streamName = await broker.physicalId(group.stackName, streamLogicalId);
  if (options.stream !== streamLogicalId && options.stream !== streamName)
    throw new OpsError(
      `The group ${group.name} reads the stream ${streamLogicalId} (${streamName}), not ${options.stream}.`,
      `Pass ${streamLogicalId}; \`serverless-broker topology\` shows which group reads which stream.`,
    );
  const kinesis = broker.clients.kinesis;
  const { StreamDescriptionSummary } = await kinesis.send(
    new DescribeStreamSummaryCommand({ StreamName: streamName }),
  );
  const streamArn = StreamDescriptionSummary?.StreamARN as string;
  const replayId = options.mode === "all" ? (options.replayId ?? randomUUID().slice(0, 8)) : undefined;
  const sourceArn = replayId === undefined ? streamArn : `${streamArn}${REPLAY_MARKER}${replayId}`;
  const to = options.to ?? { time: new Date() };
  const batchSize = group.batch.batchSize ?? DEFAULT_BATCH_SIZE;
  const maxRetries = options.maxRetries ?? Math.min(MAX_RETRIES, nonNegative(group.batch.maxRetryAttempts));

  const invoker =
    options.dryRun === true ? undefined : (options.invoker ?? (await openFunctionInvoker(broker, group)));
  const totals = { read: 0, sent: 0, skipped: 0, failed: 0, summaries: true };
  const lastDelivered: Record<string, string> = {};
  const stopped: Array<{ shardId: string; sequenceNumber: string; why: string }> = [];
  try {
    for (const shardId of await listShardIds(kinesis, streamName)) {
      const progress = { shardId, read: 0, sent: 0, skipped: 0, failed: 0 } as {
        -readonly [K in keyof ReplayProgress]: ReplayProgress[K];
      };
      let pending: KinesisRecord[] = [];
      let pendingBytes = 0;
      let halted = false;
      const deliver = async (batch: KinesisRecord[]) => {
        if (!invoker) {
          progress.sent += batch.length;
          return;
        }
        const outcome = await deliverBatch(invoker, batch, {
          shardId,
          sourceArn,
          region: broker.region,
          maxRetries,
        });
        progress.sent += outcome.acknowledged - outcome.skipped;
        progress.skipped += outcome.skipped;
        if (!outcome.summaries) totals.summaries = false;
        if (outcome.lastAcknowledged) progress.lastDelivered = outcome.lastAcknowledged;
        if (outcome.failedAt) {
          progress.failed += batch.length - outcome.acknowledged;
          stopped.push({ shardId, sequenceNumber: outcome.failedAt, why: outcome.why ?? "failed" });
          halted = true;
        }
      };
      const flush = async () => {
        await deliver(pending);
        pending = [];
        pendingBytes = 0;
        options.onBatch?.({ ...progress });
      };
      for await (const record of readShard(broker, streamName, shardId, options.from, to)) {
        progress.read += 1;
        const bytes = payloadBytes(record);
        if (pending.length > 0 && pendingBytes + bytes > MAX_BATCH_PAYLOAD_BYTES) {
          await flush();
          if (halted) break;
        }
        pending.push(record);
        pendingBytes += bytes;
        if (pending.length >= batchSize) {
          await flush();
          if (halted) break;
        }
      }
      if (!halted && pending.length > 0) await flush();
      totals.read += progress.read;
      totals.sent += progress.sent;
      totals.skipped += progress.skipped;
      totals.failed += progress.failed;
      if (progress.lastDelivered) lastDelivered[shardId] = progress.lastDelivered;
    }
  } finally {
    await invoker?.close();
  }
  return {
    stream: streamName,
    group: group.name,
    function: group.function,
    mode: options.mode,
    ...(replayId === undefined ? {} : { replayId }),
    dryRun: options.dryRun === true,
    read: totals.read,
    sent: totals.sent,
    skipped: totals.summaries || options.dryRun ? totals.skipped : -1,
    failed: totals.failed,
    lastDelivered,
    stopped,
  };
}

function nonNegative(value: number | undefined): number {
  return value === undefined || value < 0 ? Number.POSITIVE_INFINITY : value;
}

function streamOf(group: GroupNode): string {
  if (group.source.kind !== "stream")
    throw new OpsError(
      `The group ${group.name} does not read a Kinesis stream (it reads ${group.source.kind === "queue" ? "a queue" : "a DynamoDB table's stream"}).`,
      "Replay takes a Kinesis stream and one of its groups, or an SNS FIFO topic with an archive (on AWS).",
    );
  return group.source.stream;
}

const before = (a: string, b: string) => BigInt(a) < BigInt(b);

function inRange(record: KinesisRecord, from: StreamPosition, to: StreamPosition): "before" | "in" | "after" {
  const sequence = record.SequenceNumber ?? "0";
  const arrival = record.ApproximateArrivalTimestamp?.getTime() ?? 0;
  if ("sequence" in from && before(sequence, from.sequence)) return "before";
  if ("time" in from && arrival < from.time.getTime()) return "before";
  if ("sequence" in to && before(to.sequence, sequence)) return "after";
  if ("time" in to && arrival > to.time.getTime()) return "after";
  return "in";
}

/** A shard's records in the range, in order; ends at the range's end or where the shard is caught up. */
async function* readShard(
  broker: Broker,
  streamName: string,
  shardId: string,
  from: StreamPosition,
  to: StreamPosition,
): AsyncGenerator<KinesisRecord> {
  const kinesis = broker.clients.kinesis;
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({
      StreamName: streamName,
      ShardId: shardId,
      // A sequence number belongs to one shard: the others are read from their start and filtered.
      ...("time" in from
        ? { ShardIteratorType: "AT_TIMESTAMP", Timestamp: from.time }
        : { ShardIteratorType: "TRIM_HORIZON" }),
    }),
  );
  let iterator = ShardIterator;
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    for (const record of page.Records ?? []) {
      const where = inRange(record, from, to);
      if (where === "after") return;
      if (where === "in") yield record;
    }
    if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) return;
    iterator = page.NextShardIterator;
    if (broker.target === "aws") await new Promise((done) => setTimeout(done, GET_RECORDS_INTERVAL_MS));
  }
}

interface BatchOutcome {
  acknowledged: number;
  skipped: number;
  summaries: boolean;
  lastAcknowledged?: string;
  failedAt?: string;
  why?: string;
}

/**
 * One batch as Lambda's Kinesis event source delivers it: on an error the whole batch again, on a partial
 * batch response from the first failed record on, up to `maxRetries` times after the first.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 */
async function deliverBatch(
  invoker: FunctionInvoker,
  batch: readonly KinesisRecord[],
  where: { shardId: string; sourceArn: string; region: string; maxRetries: number },
): Promise<BatchOutcome> {
  let pending = [...batch];
  let acknowledged = 0;
  let skipped = 0;
  let summaries = true;
  let lastAcknowledged: string | undefined;
  let why = "";
  for (let attempt = 0; attempt <= where.maxRetries && pending.length > 0; attempt++) {
    const event = {
      Records: pending.map((record) => toKinesisRecord(record, where.sourceArn, where.shardId, where.region)),
    };
    const result = await invoker.invoke(event);
    if (!result.ok) {
      // The whole batch comes again: what this attempt skipped is counted by the attempt that succeeds.
      why = result.error;
      continue;
    }
    if (result.summary) skipped += result.summary.skipped;
    else summaries = false;
    const failures = (
      (result.response as { batchItemFailures?: Array<{ itemIdentifier?: string }> } | null)
        ?.batchItemFailures ?? []
    ).map((failure) => failure.itemIdentifier);
    const firstFailed = failures.length
      ? pending.findIndex((record) => failures.includes(record.SequenceNumber))
      : -1;
    const done = firstFailed < 0 ? pending.length : firstFailed;
    if (done > 0) lastAcknowledged = pending[done - 1]?.SequenceNumber;
    acknowledged += done;
    pending = pending.slice(done);
    if (pending.length > 0) why = `the function reported ${pending[0]?.SequenceNumber} as failed`;
  }
  return {
    acknowledged,
    // A record skipped past a reported failure is skipped again on the retry: never more than were acknowledged.
    skipped: Math.min(skipped, acknowledged),
    summaries,
    ...(lastAcknowledged ? { lastAcknowledged } : {}),
    ...(pending.length > 0 ? { failedAt: pending[0]?.SequenceNumber as string, why } : {}),
  };
}
