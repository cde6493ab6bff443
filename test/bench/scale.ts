import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import type { KinesisStreamEvent, SQSEvent } from "aws-lambda";
import { toKinesisRecord } from "../../infra/local/runner/lambda-event-shapes.js";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import { kinesisCheckpoints } from "../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../lambdas/runtime/dedup/dedup-guard.js";
import { createEnvelope } from "../../lambdas/runtime/envelope.js";
import { StreamPublisher } from "../../lambdas/runtime/producers/stream-publisher.js";
import { envelopeBody, sqsRecord } from "../support/lambda-events.js";
import { Cleanup, countRequests, createDedupTable, createStream, total } from "../support/resources.js";
import { meterCapacity } from "./capacity.js";
import { chunk, inFlight } from "./consumers.js";
import { perSecond } from "./measure.js";

export interface ScaleRow {
  readonly dimension: "SQS messages (dynamoDbDedup)" | "Kinesis shards (kinesisCheckpoints)";
  readonly size: number;
  readonly messages: number;
  readonly seconds: number;
  readonly msgsPerSecond: number;
  readonly requestsPerMessage: number;
  /** Write request units AWS would bill per message (capacity.ts). */
  readonly writeUnitsPerMessage: number;
}

const noop = () => undefined;
const quiet = { recordFailed: noop, recordDeadLettered: noop, deadLetterFailed: noop, batchCompleted: noop };
const context = { getRemainingTimeInMillis: () => 30_000, awsRequestId: "scale" } as never;

/** How time and DynamoDB requests per message grow with the number of messages (SQS, batches of 10). */
export async function scaleMessages(sizes: readonly number[]): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  for (const size of sizes) {
    const cleanup = new Cleanup();
    const { tableName } = await createDedupTable(cleanup, `bench-scale-${size}`);
    const client = new DynamoDBClient({});
    const requests = countRequests(client);
    const capacity = meterCapacity(client);
    const handler = sqsConsumer({
      group: "scale",
      observer: quiet,
      dedup: dynamoDbDedup({ tableName, client, prefilter: "never" }),
      handler: noop,
    });
    const batches = chunk(
      Array.from({ length: size }, (_, index) => index),
      10,
    );
    const started = performance.now();
    await inFlight(batches, 8, (batch) =>
      handler(
        {
          Records: batch.map((index) =>
            sqsRecord({
              messageId: `m${index}`,
              body: envelopeBody({ id: `scale-${size}-${index}`, payload: { index } }),
            }),
          ),
        } as SQSEvent,
        context,
      ),
    );
    const ms = performance.now() - started;
    rows.push({
      dimension: "SQS messages (dynamoDbDedup)",
      size,
      messages: size,
      seconds: ms / 1000,
      msgsPerSecond: perSecond(size, ms),
      requestsPerMessage: total(requests) / size,
      writeUnitsPerMessage: capacity.writeUnits / size,
    });
    client.destroy();
    await cleanup.run();
  }
  return rows;
}

/**
 * How time and requests per record change with the number of shards: the same records written to
 * streams of 1 to 8 shards, read shard by shard (all shards at once) as Lambda's pollers do, batches of 100.
 */
export async function scaleShards(shardCounts: readonly number[], records: number): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  const kinesis = new KinesisClient({});
  const tables = new Cleanup();
  const { tableName } = await createDedupTable(tables, "bench-scale-shards");
  for (const shards of shardCounts) {
    // kinesis-mock, like an account, allows 50 shards: each stream is deleted after its run.
    const streams = new Cleanup();
    const { streamName } = await createStream(streams, `bench-scale-${shards}-shards`, shards);
    await new StreamPublisher({ streamName, client: kinesis, ordering: "none" }).publish(
      Array.from({ length: records }, (_, index) =>
        createEnvelope({ type: "click", key: `page-${index % 1000}`, payload: { index } }),
      ),
    );
    const client = new DynamoDBClient({});
    const requests = countRequests(client);
    const capacity = meterCapacity(client);
    const handler = kinesisConsumer({
      group: `scale-${shards}`,
      observer: quiet,
      dedup: kinesisCheckpoints({ tableName, client }),
      handler: noop,
    });
    const { Shards = [], StreamARN } = {
      ...(await kinesis.send(new ListShardsCommand({ StreamName: streamName }))),
      StreamARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`,
    };
    const started = performance.now();
    await Promise.all(
      Shards.map(async (shard) => {
        let { ShardIterator } = await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shard.ShardId,
            ShardIteratorType: "TRIM_HORIZON",
          }),
        );
        while (ShardIterator) {
          const page = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 100 }));
          if (!page.Records?.length) break;
          const event: KinesisStreamEvent = {
            Records: page.Records.map((record) =>
              toKinesisRecord(record, StreamARN, shard.ShardId as string, "us-east-1"),
            ),
          };
          await handler(event, context);
          ShardIterator = page.NextShardIterator;
        }
      }),
    );
    const ms = performance.now() - started;
    rows.push({
      dimension: "Kinesis shards (kinesisCheckpoints)",
      size: shards,
      messages: records,
      seconds: ms / 1000,
      msgsPerSecond: perSecond(records, ms),
      requestsPerMessage: total(requests) / records,
      writeUnitsPerMessage: capacity.writeUnits / records,
    });
    client.destroy();
    await streams.run();
  }
  kinesis.destroy();
  await tables.run();
  return rows;
}
