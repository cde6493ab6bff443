import {
  DescribeStreamCommand as DescribeTableStreamCommand,
  type DynamoDBStreamsClient,
  GetShardIteratorCommand as GetTableStreamIteratorCommand,
  GetRecordsCommand as GetTableStreamRecordsCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { toDynamoDbRecord, toKinesisRecord } from "../lambda-event-shapes.js";

/** Where a stream poller reads: TRIM_HORIZON, LATEST, or just after/at a sequence number. */
export type ShardPosition =
  | { readonly type: "TRIM_HORIZON" | "LATEST" }
  | { readonly type: "AFTER_SEQUENCE_NUMBER" | "AT_SEQUENCE_NUMBER"; readonly sequenceNumber: string };

/** One record, already in the shape Lambda gives the function. */
export interface ShardRecord {
  readonly sequenceNumber: string;
  readonly arrival: Date;
  /** Kinesis partition key, or the DynamoDB item's keys: what parallelization keeps in order. */
  readonly orderingKey: string;
  readonly lambdaRecord: Record<string, unknown>;
}

export interface ShardInfo {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  /** Kinesis: the other parent of a merged shard. */
  readonly adjacentParentShardId?: string | undefined;
}

/** A sharded stream as Lambda's pollers see it: Kinesis, or a DynamoDB table's stream. */
export interface ShardSource {
  readonly arn: string;
  /** The name of the batch-info block in on-failure messages. */
  readonly batchInfoName: "KinesisBatchInfo" | "DDBStreamBatchInfo";
  /** Every shard with its parent (after a reshard, or DynamoDB's rotation of a stream's shards). */
  listShards(): Promise<ShardInfo[]>;
  iterator(shardId: string, position: ShardPosition): Promise<string | undefined>;
  read(
    shardId: string,
    iterator: string,
    limit: number,
  ): Promise<{ records: ShardRecord[]; next: string | undefined }>;
}

export class KinesisShardSource implements ShardSource {
  readonly batchInfoName = "KinesisBatchInfo";

  constructor(
    private readonly client: KinesisClient,
    readonly arn: string,
    private readonly region: string,
  ) {}

  async listShards(): Promise<ShardInfo[]> {
    const shards: ShardInfo[] = [];
    let nextToken: string | undefined;
    do {
      // A page after the first names only its token: ListShards rejects a stream name or ARN beside it.
      const page = await this.client.send(
        new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamARN: this.arn }),
      );
      for (const shard of page.Shards ?? [])
        shards.push({
          shardId: shard.ShardId as string,
          parentShardId: shard.ParentShardId,
          adjacentParentShardId: shard.AdjacentParentShardId,
        });
      nextToken = page.NextToken;
    } while (nextToken);
    return shards;
  }

  async iterator(shardId: string, position: ShardPosition): Promise<string | undefined> {
    const { ShardIterator } = await this.client.send(
      new GetShardIteratorCommand({
        StreamARN: this.arn,
        ShardId: shardId,
        ShardIteratorType: position.type,
        ...("sequenceNumber" in position ? { StartingSequenceNumber: position.sequenceNumber } : {}),
      }),
    );
    return ShardIterator;
  }

  async read(
    shardId: string,
    iterator: string,
    limit: number,
  ): Promise<{ records: ShardRecord[]; next: string | undefined }> {
    const { Records = [], NextShardIterator } = await this.client.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }),
    );
    return {
      next: NextShardIterator,
      records: Records.map((record) => ({
        sequenceNumber: record.SequenceNumber as string,
        arrival: record.ApproximateArrivalTimestamp ?? new Date(),
        orderingKey: record.PartitionKey ?? "",
        lambdaRecord: toKinesisRecord(record, this.arn, shardId, this.region) as unknown as Record<
          string,
          unknown
        >,
      })),
    };
  }
}

export class DynamoDbShardSource implements ShardSource {
  readonly batchInfoName = "DDBStreamBatchInfo";

  /**
   * @param arn the stream ARN as the template and the functions see it
   * @param callArn the ARN the emulator answers to (DynamoDB Local names its own region)
   */
  constructor(
    private readonly client: DynamoDBStreamsClient,
    readonly arn: string,
    private readonly region: string,
    private readonly callArn: string = arn,
  ) {}

  async listShards(): Promise<ShardInfo[]> {
    const shards: ShardInfo[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.client.send(
        new DescribeTableStreamCommand({ StreamArn: this.callArn, ExclusiveStartShardId: start }),
      );
      for (const shard of StreamDescription?.Shards ?? [])
        shards.push({ shardId: shard.ShardId as string, parentShardId: shard.ParentShardId });
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  async iterator(shardId: string, position: ShardPosition): Promise<string | undefined> {
    const { ShardIterator } = await this.client.send(
      new GetTableStreamIteratorCommand({
        StreamArn: this.callArn,
        ShardId: shardId,
        ShardIteratorType: position.type,
        ...("sequenceNumber" in position ? { SequenceNumber: position.sequenceNumber } : {}),
      }),
    );
    return ShardIterator;
  }

  async read(
    _shardId: string,
    iterator: string,
    limit: number,
  ): Promise<{ records: ShardRecord[]; next: string | undefined }> {
    const { Records = [], NextShardIterator } = await this.client.send(
      new GetTableStreamRecordsCommand({ ShardIterator: iterator, Limit: Math.min(limit, 1000) }),
    );
    return {
      next: NextShardIterator,
      records: Records.map((record) => ({
        sequenceNumber: record.dynamodb?.SequenceNumber as string,
        arrival: record.dynamodb?.ApproximateCreationDateTime ?? new Date(),
        orderingKey: JSON.stringify(record.dynamodb?.Keys ?? {}),
        lambdaRecord: toDynamoDbRecord(record, this.arn, this.region) as unknown as Record<string, unknown>,
      })),
    };
  }
}
