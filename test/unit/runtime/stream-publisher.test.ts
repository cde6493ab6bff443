import type { KinesisClient, PutRecordsCommandInput } from "@aws-sdk/client-kinesis";
import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../../../lambdas/runtime/errors.js";
import { StreamPublisher } from "../../../lambdas/runtime/producers/stream-publisher.js";
import { FakeClient } from "../../support/fake-clients.js";

const fast = { baseDelayMs: 1, maxDelayMs: 2 };
const idOf = (record: { Data?: Uint8Array }) =>
  JSON.parse(Buffer.from(record.Data ?? []).toString()).id as string;

/** Kinesis that throttles the records `throttled` picks, and logs what it wrote in order. */
function kinesis(throttled: (id: string, call: number) => boolean) {
  const written: string[] = [];
  const client = new FakeClient<PutRecordsCommandInput>((input, call) => ({
    FailedRecordCount: 0,
    Records: (input.Records ?? []).map((record, index) => {
      const id = idOf(record);
      if (throttled(id, call))
        return {
          ErrorCode: "ProvisionedThroughputExceededException",
          ErrorMessage: "Rate exceeded for shard",
        };
      written.push(id);
      return { SequenceNumber: `${call}-${index}`, ShardId: "shardId-000000000000" };
    }),
  }));
  return { client, written };
}

const records = (count: number, keys: number) =>
  Array.from({ length: count }, (_, index) => ({
    id: `r${index}`,
    type: "ledger.posted",
    key: `account-${index % keys}`,
    payload: { index },
  }));

describe("StreamPublisher", () => {
  it("packs up to 500 records a call, never two of one key in a call in per-key order mode", async () => {
    const { client } = kinesis(() => false);
    const publisher = new StreamPublisher({
      streamName: "ledger",
      client: client as unknown as KinesisClient,
      concurrency: 1,
    });
    await publisher.publish(records(1200, 600));

    expect(client.calls.map((call) => call.Records?.length)).toEqual([500, 500, 200]);
    for (const call of client.calls) {
      const keys = call.Records?.map((record) => record.PartitionKey);
      expect(new Set(keys).size).toBe(keys?.length);
    }
  });

  it("sends a hot key's records one call at a time in per-key order mode", async () => {
    const { client, written } = kinesis(() => false);
    const publisher = new StreamPublisher({
      streamName: "ledger",
      client: client as unknown as KinesisClient,
    });
    await publisher.publish(records(4, 1));

    expect(client.calls.map((call) => call.Records?.length)).toEqual([1, 1, 1, 1]);
    expect(written).toEqual(["r0", "r1", "r2", "r3"]);
  });

  it("packs calls full whatever the keys with ordering: none", async () => {
    const { client } = kinesis(() => false);
    const publisher = new StreamPublisher({
      streamName: "ledger",
      client: client as unknown as KinesisClient,
      ordering: "none",
      concurrency: 1,
    });
    await publisher.publish(records(1200, 2));

    expect(client.calls.map((call) => call.Records?.length)).toEqual([500, 500, 200]);
  });

  it("retries only throttled records, and never writes a later record of a key before an earlier failed one", async () => {
    // The first write of every record of account-1 is throttled.
    const { client, written } = kinesis((id, call) => call <= 3 && Number(id.slice(1)) % 3 === 1);
    const publisher = new StreamPublisher({
      streamName: "ledger",
      client: client as unknown as KinesisClient,
      retry: fast,
      concurrency: 1,
    });
    const report = await publisher.publish(records(30, 3));

    expect(report.failed).toEqual([]);
    for (const key of [0, 1, 2]) {
      const ofKey = records(30, 3)
        .filter((record) => record.key === `account-${key}`)
        .map((record) => record.id);
      expect(written.filter((id) => ofKey.includes(id))).toEqual(ofKey);
    }
  });

  it("uses the message id as partition key when a message has no key", async () => {
    const { client } = kinesis(() => false);
    await new StreamPublisher({ streamName: "s", client: client as unknown as KinesisClient }).publish([
      { id: "only", type: "t", payload: 1 },
    ]);

    expect(client.calls[0]?.Records?.[0]?.PartitionKey).toBe("only");
  });

  it("says what is wrong with a key Kinesis would refuse, before sending", async () => {
    const publisher = new StreamPublisher({
      streamName: "s",
      client: kinesis(() => false).client as unknown as KinesisClient,
    });

    await expect(publisher.publish([{ type: "t", payload: 1, key: "k".repeat(300) }])).rejects.toThrow(
      /has a key of 300 characters; a Kinesis partition key must have 1 to 256/,
    );
  });

  it("needs a stream name or ARN", () => {
    expect(() => new StreamPublisher({})).toThrow(ConfigurationError);
  });
});
