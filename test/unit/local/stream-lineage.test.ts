/**
 * Shard lineage on a DynamoDB stream, as Lambda reads it: DynamoDB rotates a stream's shards (about every
 * four hours) and a child shard holds the item's later changes, so it is read only after its parent is
 * read to its end. DynamoDB Local does not rotate shards, so a scripted source plays the rotation.
 */
import { describe, expect, it } from "vitest";
import { settingsOf } from "../../../infra/local/runner/event-sources/settings.js";
import type {
  ShardInfo,
  ShardRecord,
  ShardSource,
} from "../../../infra/local/runner/event-sources/shard-source.js";
import { StreamPoller } from "../../../infra/local/runner/event-sources/stream-poller.js";
import type { FunctionHost } from "../../../infra/local/runner/function-host.js";
import { eventually } from "../../support/eventually.js";

const streamArn = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-12-05T00:00:00.000";

const change = (sequenceNumber: string): ShardRecord => ({
  sequenceNumber,
  arrival: new Date(),
  orderingKey: "pk=order-1",
  lambdaRecord: {
    eventID: sequenceNumber,
    eventName: "MODIFY",
    dynamodb: { SequenceNumber: sequenceNumber },
  },
});

/** A parent shard (closed, its reads held back until `release`) and its child, listed child first. */
function rotatedStream() {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const pages: Record<string, { records: ShardRecord[]; next: string | undefined }> = {
    "parent:0": { records: [change("100"), change("101"), change("102")], next: "parent:1" },
    "parent:1": { records: [], next: undefined }, // closed and read to its end
    "child:0": { records: [change("200"), change("201")], next: "child:1" },
    "child:1": { records: [], next: "child:1" }, // open
  };
  const shards: ShardInfo[] = [
    { shardId: "child", parentShardId: "parent" },
    { shardId: "parent", parentShardId: undefined },
  ];
  const source: ShardSource = {
    arn: streamArn,
    batchInfoName: "DDBStreamBatchInfo",
    listShards: async () => shards,
    iterator: async (shardId) => `${shardId}:0`,
    read: async (shardId, iterator) => {
      if (shardId === "parent") await released;
      return pages[iterator] ?? { records: [], next: undefined };
    },
  };
  return { source, release };
}

describe("a DynamoDB stream whose shard was rotated", () => {
  it("delivers the child shard's changes only after every change of its parent", async () => {
    const { source, release } = rotatedStream();
    const delivered: string[] = [];
    const host = {
      spec: {
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:projector",
        logicalId: "Projector",
      },
      invoke: async (event: { Records: Array<{ eventID: string }> }) => {
        delivered.push(...event.Records.map((record) => record.eventID));
        return { ok: true, response: undefined, durationMs: 1 };
      },
    } as unknown as FunctionHost;
    const poller = new StreamPoller(
      settingsOf(
        "ProjectorMapping",
        { BatchSize: 10, StartingPosition: "TRIM_HORIZON" },
        "stream",
        undefined,
      ),
      source,
      host,
      { sqs: undefined as never, sns: undefined as never },
      (error) => {
        throw error;
      },
    );
    await poller.start();
    // Give an unordered reader every chance to read the child while the parent's read is held back.
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    release();

    await eventually("all five changes", async () => (delivered.length >= 5 ? true : undefined));
    await poller.stop();
    expect(delivered).toEqual(["100", "101", "102", "200", "201"]);
  });
});
