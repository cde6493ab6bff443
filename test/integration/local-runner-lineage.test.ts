/**
 * Shard lineage, as Lambda reads a resharded Kinesis stream: a child shard only after its parent is read
 * to its end, so that a key's records reach the function in the order they were written.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordCommand,
  SplitShardCommand,
} from "@aws-sdk/client-kinesis";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { runOnKinesis } from "../support/local-functions.js";
import { Cleanup, createStream, kinesis } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

describe("reading a resharded Kinesis stream", () => {
  it("reads a child shard only after its parent is drained, so one key's records stay in order", async () => {
    const stream = await createStream(cleanup, "lineage", 1);
    const put = async (from: number, to: number) => {
      for (let value = from; value <= to; value++)
        await kinesis.send(
          new PutRecordCommand({
            StreamName: stream.streamName,
            PartitionKey: "k",
            Data: Buffer.from(String(value)),
          }),
        );
    };
    await put(1, 20);
    // Split the only shard: it closes, and two children take the key ranges.
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream.streamName,
        ShardToSplit: stream.shardIds[0],
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await eventually("the split to finish", async () => {
      const { StreamDescriptionSummary } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: stream.streamName }),
      );
      return StreamDescriptionSummary?.StreamStatus === "ACTIVE" ? true : undefined;
    });
    await put(21, 30);
    const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream.streamName }));
    expect(Shards.filter((shard) => shard.ParentShardId === stream.shardIds[0])).toHaveLength(2);

    // A function that writes each record down, slowly, so that an unordered reader would interleave.
    const dir = mkdtempSync(join(tmpdir(), "lineage-"));
    const out = join(dir, "seen.txt");
    writeFileSync(out, "");
    writeFileSync(
      join(dir, "index.js"),
      `const { appendFileSync } = require("node:fs");
exports.handler = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const record of event.Records) appendFileSync(process.env.OUT, Buffer.from(record.kinesis.data, "base64").toString() + "\\n");
};`,
    );
    writeFileSync(join(dir, "package.json"), '{ "type": "commonjs" }\n');
    await runOnKinesis(
      cleanup,
      { name: "Lineage", dir, environment: { OUT: out }, timeoutMs: 10_000, maxEnvironments: 10 },
      stream.streamArn,
      { BatchSize: 5, StartingPosition: "TRIM_HORIZON" },
    );

    const seen = await eventually(
      "all 30 records",
      async () => {
        const lines = readFileSync(out, "utf8").split("\n").filter(Boolean);
        return lines.length >= 30 ? lines : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(seen.map(Number)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
  });
});
