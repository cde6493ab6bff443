import type { KinesisClient, ListShardsCommand } from "@aws-sdk/client-kinesis";
import { describe, expect, it } from "vitest";
import { KinesisShardSource } from "../../../infra/local/runner/event-sources/shard-source.js";

describe("listing a Kinesis stream's shards", () => {
  it("follows ListShards' pages, so a stream of many shards is read whole", async () => {
    const requests: unknown[] = [];
    const client = {
      send: async (command: ListShardsCommand) => {
        requests.push(command.input);
        return command.input.NextToken === undefined
          ? { Shards: [{ ShardId: "shardId-0" }], NextToken: "page-2" }
          : { Shards: [{ ShardId: "shardId-1", ParentShardId: "shardId-0" }] };
      },
    } as unknown as KinesisClient;
    const arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";

    const shards = await new KinesisShardSource(client, arn, "us-east-1").listShards();

    expect(shards.map((shard) => [shard.shardId, shard.parentShardId])).toEqual([
      ["shardId-0", undefined],
      ["shardId-1", "shardId-0"],
    ]);
    expect(requests).toEqual([{ StreamARN: arn }, { NextToken: "page-2" }]);
  });
});
