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
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { settingsOf } from "../../infra/local/runner/event-sources/settings.js";
import { KinesisShardSource } from "../../infra/local/runner/event-sources/shard-source.js";
import { StreamPoller } from "../../infra/local/runner/event-sources/stream-poller.js";
import { FunctionHost } from "../../infra/local/runner/function-host.js";
import { eventually } from "../support/eventually.js";
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
    const host = new FunctionHost(
      {
        logicalId: "Lineage",
        functionName: "lineage",
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:lineage",
        runtime: "nodejs22.x",
        handler: "index.handler",
        codeDir: dir,
        timeoutMs: 10_000,
        memoryMb: 128,
        endpoint: process.env.AWS_ENDPOINT_URL ?? "",
        maxEnvironments: 10,
        environment: { PATH: process.env.PATH ?? "", OUT: out },
      },
      join(dir, "logs"),
    );
    await host.start();
    const pollErrors: unknown[] = [];
    const sqs = new SQSClient({});
    const sns = new SNSClient({});
    const poller = new StreamPoller(
      settingsOf("LineageMapping", { BatchSize: 5, StartingPosition: "TRIM_HORIZON" }, "stream", undefined),
      new KinesisShardSource(kinesis, stream.streamArn, process.env.AWS_REGION ?? "us-east-1"),
      host,
      { sqs, sns },
      (error) => pollErrors.push(error),
    );
    cleanup.add(async () => {
      await poller.stop();
      await host.stop();
      sqs.destroy();
      sns.destroy();
    });
    await poller.start();

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
