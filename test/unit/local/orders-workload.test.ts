/**
 * The demo's producer retries land where a producer's would: right after the send they repeat. The ledger
 * group deduplicates with kinesisCheckpoints, which recognises a retry while fewer than its window of 100
 * records of the shard came between; retries published after the whole workload (as the demo once did)
 * were hundreds of records away, so the demo counted the window's documented limit as "processed twice".
 */
import type { KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import type { PublishBatchCommand, SNSClient } from "@aws-sdk/client-sns";
import { describe, expect, it } from "vitest";
import { publishOrders } from "../../../infra/local/demo/orders-workload.js";

/** Clients that accept every entry and keep the ids in the order the channel stored them. */
function recordingClients() {
  const stream: string[] = [];
  const topics = new Map<string, string[]>();
  const idOf = (json: string) => (JSON.parse(json) as { id: string }).id;
  const sns = {
    send: async (command: PublishBatchCommand | { input: { TopicArn: string } }) => {
      const input = command.input as PublishBatchCommand["input"];
      const entries = input.PublishBatchRequestEntries ?? [];
      const ids = topics.get(input.TopicArn as string) ?? [];
      for (const entry of entries) ids.push(idOf(entry.Message as string));
      topics.set(input.TopicArn as string, ids);
      return { Successful: entries.map((entry) => ({ Id: entry.Id, MessageId: "m" })), Failed: [] };
    },
  } as unknown as SNSClient;
  let sequence = 0;
  const kinesis = {
    send: async (command: PutRecordsCommand) => {
      const records = command.input.Records ?? [];
      for (const record of records) {
        const data = Buffer.from(record.Data as Uint8Array).toString("utf8");
        if (data.startsWith("{")) stream.push(idOf(data));
      }
      return {
        FailedRecordCount: 0,
        Records: records.map(() => ({ SequenceNumber: String(++sequence), ShardId: "shardId-0" })),
      };
    },
  } as unknown as KinesisClient;
  return { sns, kinesis, stream, topics };
}

const channels = {
  orderEventsTopicArn: "arn:aws:sns:us-east-1:000000000000:OrderEvents",
  orderLifecycleTopicArn: "arn:aws:sns:us-east-1:000000000000:OrderLifecycle.fifo",
  ledgerStreamName: "Ledger",
};

describe("the demo's producer retries", () => {
  it.each([
    { messages: 1000, customers: 50 },
    { messages: 4000, customers: 50 },
  ])(
    "follow their first send closely, on every channel ($messages orders)",
    async ({ messages, customers }) => {
      const clients = recordingClients();
      const published = await publishOrders(
        channels,
        { messages, customers, duplicateRate: 0.05, poisonRate: 0, seed: 42 },
        clients,
      );

      expect(published.orders.size).toBe(messages);
      expect(published.duplicatesPublished).toBeGreaterThan(messages * 0.03);
      const retried = new Map<string, number>();
      clients.stream.forEach((id, position) => {
        const first = retried.get(id);
        if (first === undefined) retried.set(id, position);
        // Fewer than the ledger's window (100 ids per shard) between the two sends, on the whole stream.
        else expect(position - first, id).toBeLessThan(100);
      });
      expect(clients.stream.length).toBe(messages + published.duplicatesPublished);
      for (const ids of clients.topics.values())
        expect(ids.length).toBe(messages + published.duplicatesPublished);
    },
  );
});
