import { type KinesisClient, ListShardsCommand } from "@aws-sdk/client-kinesis";

/**
 * Every shard of a stream, open and closed, parents before their children. ListShards answers at most
 * 1,000 shards a page (then a NextToken, sent without the stream's name).
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_ListShards.html
 */
export async function listShardIds(kinesis: KinesisClient, streamName: string): Promise<string[]> {
  const shards: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of page.Shards ?? []) if (shard.ShardId) shards.push(shard.ShardId);
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}
