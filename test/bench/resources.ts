import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
} from "@aws-sdk/client-kinesis";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";

export interface BenchResources {
  readonly topicArn: string;
  readonly dedupTable: string;
  /** Shaped as Powertools idempotency expects: partition key `id`. */
  readonly powertoolsTable: string;
}

const run = Date.now().toString(36);

export async function createTable(name: string, key: string, ttl?: string): Promise<string> {
  const client = new DynamoDBClient({});
  const tableName = `bench-${name}-${run}`;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
      KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: tableName });
  if (ttl)
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttl, Enabled: true },
      }),
    );
  client.destroy();
  return tableName;
}

export async function createStream(name: string, shardCount: number): Promise<string> {
  const kinesis = new KinesisClient({});
  const streamName = `bench-${name}-${run}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    if (StreamDescriptionSummary?.StreamStatus === "ACTIVE") break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  kinesis.destroy();
  return streamName;
}

/** Frees the stream's shards (kinesis-mock, like an account, allows 50). */
export async function deleteStream(streamName: string): Promise<void> {
  const kinesis = new KinesisClient({});
  await kinesis.send(new DeleteStreamCommand({ StreamName: streamName, EnforceConsumerDeletion: true }));
  kinesis.destroy();
}

export async function createBenchResources(): Promise<BenchResources> {
  const sns = new SNSClient({});
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `bench-orders-${run}` }));
  sns.destroy();
  return {
    topicArn: TopicArn as string,
    dedupTable: await createTable("dedup", DEDUP_TABLE.partitionKey, DEDUP_TABLE.timeToLiveAttribute),
    powertoolsTable: await createTable("powertools", "id", "expiration"),
  };
}
