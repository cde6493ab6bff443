import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Context, KinesisStreamEvent, KinesisStreamRecord, SQSEvent, SQSRecord } from "aws-lambda";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import type { ConsumerObserver } from "../../lambdas/runtime/consumers/observability.js";
import type { ProcessingGuard } from "../../lambdas/runtime/consumers/processing-guard.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../lambdas/runtime/dedup/dedup-guard.js";
import { envelopeBody, kinesisRecord, sqsRecord } from "../support/lambda-events.js";
import { countRequests, total } from "../support/resources.js";
import { type CapacityMeter, dollarsPerMillionMessages, meterCapacity } from "./capacity.js";
import { median, perSecond, timeRuns } from "./measure.js";
import type { BenchResources } from "./resources.js";

/** What the wrapper reports goes nowhere: the benchmark measures processing, not logging. */
const quiet: ConsumerObserver = {
  recordFailed: () => undefined,
  recordDeadLettered: () => undefined,
  deadLetterFailed: () => undefined,
  batchCompleted: () => undefined,
};
const context = (id: string) =>
  ({ awsRequestId: id, functionName: "bench", getRemainingTimeInMillis: () => 30_000 }) as unknown as Context;
const body = (index: number) =>
  envelopeBody({
    id: `msg-${index}-${Math.random().toString(36).slice(2)}`,
    key: `k${index % 50}`,
    payload: { orderId: `o-${index}`, total: 42 },
  });

export interface OverheadRow {
  readonly wrapper: string;
  readonly recordsPerBatch: number;
  readonly microsecondsPerRecord: number;
}

/** The consumer wrappers' own cost per record: a no-op handler on 1,000-record batches, median of 30. */
export async function benchmarkOverhead(): Promise<OverheadRow[]> {
  const sqsEvent: SQSEvent = {
    Records: Array.from({ length: 1000 }, (_, index) => sqsRecord({ body: body(index) })),
  };
  const kinesisEvent: KinesisStreamEvent = {
    Records: Array.from({ length: 1000 }, (_, index) =>
      kinesisRecord({ partitionKey: `k${index % 50}`, data: body(index) }),
    ),
  };
  const ours = sqsConsumer({ group: "bench", observer: quiet, handler: () => undefined });
  const oursKinesis = kinesisConsumer({ group: "bench", observer: quiet, handler: () => undefined });
  const powertools = new BatchProcessor(EventType.SQS);
  const rows: OverheadRow[] = [];
  const measure = async (wrapper: string, invoke: () => Promise<unknown>) => {
    for (let warmup = 0; warmup < 10; warmup++) await invoke();
    const times = await timeRuns(30, async () => {
      await invoke();
    });
    rows.push({ wrapper, recordsPerBatch: 1000, microsecondsPerRecord: (median(times) * 1000) / 1000 });
  };
  await measure("sqsConsumer (parses and checks each envelope)", () => ours(sqsEvent, context("a")));
  await measure("kinesisConsumer, shard order (decodes, parses, checks)", () =>
    oursKinesis(kinesisEvent, context("b")),
  );
  await measure("Powertools BatchProcessor, record handler parsing JSON", () =>
    processPartialResponse(sqsEvent, async (record: SQSRecord) => JSON.parse(record.body), powertools, {
      context: context("c"),
    }),
  );
  return rows;
}

export interface DedupRow {
  readonly channel: "SQS" | "Kinesis";
  readonly implementation: string;
  readonly pass: "new messages" | "all duplicates";
  readonly messages: number;
  readonly msgsPerSecond: number;
  /** Round trips: a latency figure, never a cost. */
  readonly requestsPerMessage: number;
  /** What AWS bills (see capacity.ts). */
  readonly writeUnitsPerMessage: number;
  readonly readUnitsPerMessage: number;
  readonly dollarsPerMillionMessages: number;
}

interface DedupImplementation {
  readonly channel: DedupRow["channel"];
  readonly name: string;
  readonly batches: ReadonlyArray<ReadonlyArray<SQSRecord | KinesisStreamRecord>>;
  /** Batches in flight at once. */
  readonly concurrency: number;
  /** A handler for a new consumer group (whose messages are all new to it). */
  readonly build: (
    client: DynamoDBClient,
    group: string,
  ) => (event: { Records: Array<SQSRecord | KinesisStreamRecord> }, context: Context) => Promise<unknown>;
}

const PASSES = ["new messages", "all duplicates"] as const;

/**
 * This project's dedup against Powertools batch + idempotency on identical batches: SQS batches of 10
 * (5 in flight, as Lambda's pollers would run them) and Kinesis batches of 100 (one shard, in order), a
 * pass of new messages then the same messages again. DynamoDB requests counted by an SDK middleware, and the
 * request units AWS would bill for them metered by another (capacity.ts).
 *
 * The implementations take turns, round after round, and the first round is not counted: DynamoDB Local's
 * JVM and the SDK's connections warm up for minutes, and whichever ran first would pay for it. Each
 * figure is the median of `runs` rounds.
 */
export async function benchmarkDedup(
  resources: BenchResources,
  messages: number,
  runs: number,
): Promise<DedupRow[]> {
  const sqsBatches = chunk(
    Array.from({ length: messages }, (_, index) => sqsRecord({ messageId: `m-${index}`, body: body(index) })),
    10,
  );
  const kinesisBatches = chunk(
    Array.from({ length: messages }, (_, index) =>
      kinesisRecord({
        partitionKey: `k${index % 50}`,
        sequenceNumber: String(10_000_000 + index),
        data: body(index),
      }),
    ),
    100,
  );
  const ourSqs = (dedup: (client: DynamoDBClient) => ProcessingGuard): DedupImplementation["build"] => {
    return (client, group) => {
      const handler = sqsConsumer({ group, observer: quiet, dedup: dedup(client), handler: () => undefined });
      return (event, lambdaContext) => handler(event as SQSEvent, lambdaContext);
    };
  };
  const ourKinesis = (dedup: (client: DynamoDBClient) => ProcessingGuard): DedupImplementation["build"] => {
    return (client, group) => {
      const handler = kinesisConsumer({
        group,
        observer: quiet,
        dedup: dedup(client),
        handler: () => undefined,
      });
      return (event, lambdaContext) => handler(event as KinesisStreamEvent, lambdaContext);
    };
  };
  // The default, adaptive prefilter: off for new messages, on once a batch of duplicates was seen.
  const perMessage = (client: DynamoDBClient) => dynamoDbDedup({ tableName: resources.dedupTable, client });
  const implementations: DedupImplementation[] = [
    {
      channel: "SQS",
      name: "sqsConsumer + dynamoDbDedup",
      batches: sqsBatches,
      concurrency: 5,
      build: ourSqs(perMessage),
    },
    {
      channel: "SQS",
      name: "sqsConsumer + dynamoDbDedup, transactional",
      batches: sqsBatches,
      concurrency: 5,
      build: ourSqs((client) =>
        dynamoDbDedup({ tableName: resources.dedupTable, client, mode: "transactional" }),
      ),
    },
    {
      channel: "SQS",
      name: "Powertools BatchProcessor + makeIdempotent",
      batches: sqsBatches,
      concurrency: 5,
      build: (client, group) =>
        powertoolsHandler(
          EventType.SQS,
          "powertools_json(body).id",
          resources.powertoolsTable,
          client,
          group,
        ),
    },
    {
      channel: "Kinesis",
      name: "kinesisConsumer + kinesisCheckpoints",
      batches: kinesisBatches,
      concurrency: 1,
      build: ourKinesis((client) => kinesisCheckpoints({ tableName: resources.dedupTable, client })),
    },
    {
      channel: "Kinesis",
      name: "kinesisConsumer + dynamoDbDedup",
      batches: kinesisBatches,
      concurrency: 1,
      build: ourKinesis(perMessage),
    },
    {
      channel: "Kinesis",
      name: "Powertools BatchProcessor + makeIdempotent",
      batches: kinesisBatches,
      concurrency: 1,
      build: (client, group) =>
        powertoolsHandler(
          EventType.KinesisDataStreams,
          "powertools_json(powertools_base64(kinesis.data)).id",
          resources.powertoolsTable,
          client,
          group,
        ),
    },
  ];

  const client = new DynamoDBClient({});
  const requests = countRequests(client);
  const capacity = meterCapacity(client);
  const samples = () => ({ ms: [] as number[], requests: [] as number[], units: [] as CapacityMeter[] });
  const measured = implementations.map(() => ({ "new messages": samples(), "all duplicates": samples() }));
  let groups = 0;
  for (let round = 0; round <= runs; round++) {
    for (const [index, implementation] of implementations.entries()) {
      const handler = implementation.build(client, `bench-${Date.now().toString(36)}-${++groups}`);
      for (const pass of PASSES) {
        const before = total(requests);
        const unitsBefore = { ...capacity };
        const [ms] = await timeRuns(1, () =>
          inFlight(implementation.batches, implementation.concurrency, (batch, batchIndex) =>
            handler({ Records: [...batch] }, context(`${pass}-${batchIndex}`)),
          ),
        );
        if (round === 0) continue; // the warm-up round
        measured[index]?.[pass].ms.push(ms as number);
        measured[index]?.[pass].requests.push(total(requests) - before);
        measured[index]?.[pass].units.push({
          writeUnits: capacity.writeUnits - unitsBefore.writeUnits,
          readUnits: capacity.readUnits - unitsBefore.readUnits,
        });
      }
    }
  }
  client.destroy();

  return implementations.flatMap((implementation, index) =>
    PASSES.map((pass) => {
      const { ms, requests: counted, units } = measured[index]?.[pass] ?? samples();
      const billed = {
        writeUnits: median(units.map((unit) => unit.writeUnits)),
        readUnits: median(units.map((unit) => unit.readUnits)),
      };
      return {
        channel: implementation.channel,
        implementation: implementation.name,
        pass,
        messages,
        msgsPerSecond: perSecond(messages, median(ms)),
        requestsPerMessage: median(counted) / messages,
        writeUnitsPerMessage: billed.writeUnits / messages,
        readUnitsPerMessage: billed.readUnits / messages,
        dollarsPerMillionMessages: dollarsPerMillionMessages(billed, messages),
      };
    }),
  );
}

function powertoolsHandler(
  type: (typeof EventType)[keyof typeof EventType],
  keyPath: string,
  tableName: string,
  client: DynamoDBClient,
  group: string,
) {
  const config = new IdempotencyConfig({ eventKeyJmesPath: keyPath });
  const recordHandler = makeIdempotent(async (_record: unknown) => undefined, {
    persistenceStore: new DynamoDBPersistenceLayer({
      tableName,
      awsSdkV3Client: client,
    }),
    config,
    keyPrefix: group,
  });
  const processor = new BatchProcessor(type);
  return (event: { Records: unknown[] }, lambdaContext: Context) => {
    config.registerLambdaContext(lambdaContext);
    return processPartialResponse(event as SQSEvent, recordHandler, processor, { context: lambdaContext });
  };
}

export async function inFlight<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index] as T, index);
      }
    }),
  );
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

// The overhead section alone (it needs no local cloud): `node --import tsx test/bench/consumers.ts`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  process.env.POWERTOOLS_METRICS_DISABLED = "true";
  const { renderTable } = await import("../../infra/local/demo/table.js");
  console.log(
    `## Consumer wrapper overhead on ${cpus().length} cores, Node ${process.version}, load ${loadavg()[0]?.toFixed(2)}: no-op handler, 1,000-record batches (median of 30)`,
  );
  const rows = await benchmarkOverhead();
  console.log(
    renderTable(
      ["wrapper", "records per batch", "µs per record"],
      rows.map((row) => [row.wrapper, row.recordsPerBatch, row.microsecondsPerRecord.toFixed(2)]),
    ),
  );
}
