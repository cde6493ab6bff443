import { KinesisClient, PutRecordCommand } from "@aws-sdk/client-kinesis";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { createEnvelope, type MessageEnvelope } from "../../lambdas/runtime/envelope.js";
import { BufferedPublisher } from "../../lambdas/runtime/producers/buffered-publisher.js";
import { StreamPublisher } from "../../lambdas/runtime/producers/stream-publisher.js";
import { TopicPublisher } from "../../lambdas/runtime/producers/topic-publisher.js";
import { Cleanup, createStream } from "../support/resources.js";
import { median, perSecond, timeRuns } from "./measure.js";
import type { BenchResources } from "./resources.js";

export interface ProducerRow {
  readonly channel: "SNS" | "Kinesis";
  readonly method: string;
  readonly messages: number;
  readonly msgsPerSecond: number;
}

/** ~300-byte orders over many keys, as producers of the orders topology send them. */
function orders(count: number, keys: number): MessageEnvelope[] {
  return Array.from({ length: count }, (_, index) =>
    createEnvelope({
      type: "order.placed",
      key: `customer-${index % keys}`,
      payload: {
        orderId: `order-${index}`,
        customerId: `customer-${index % keys}`,
        sequence: Math.floor(index / keys) + 1,
        total: 42.5,
        note: "x".repeat(120),
      },
    }),
  );
}

/**
 * Batched publishers against the plain SDK loop a producer would otherwise write: one awaited
 * Publish / PutRecord per message. Same endpoint, same kind of messages, median of `runs`.
 */
export async function benchmarkProducers(
  resources: BenchResources,
  sizes: { batched: number; kinesisBatched: number; plain: number; runs: number },
): Promise<ProducerRow[]> {
  const sns = new SNSClient({});
  const kinesis = new KinesisClient({});
  const rows: ProducerRow[] = [];
  const measure = async (
    channel: ProducerRow["channel"],
    method: string,
    count: number,
    send: (messages: MessageEnvelope[], streamName: string) => Promise<void>,
  ) => {
    const times: number[] = [];
    for (let run = 0; run < sizes.runs; run++) {
      // kinesis-mock's writes slow down as a stream fills (5,800 msgs/s empty, 2,000 at 4,000 records):
      // every run, of every method, starts on an empty stream so that each measures the same thing.
      // kinesis-mock, like an account, allows 50 shards: each run's stream is deleted after it.
      const cleanup = new Cleanup();
      const streamName =
        channel === "Kinesis" ? (await createStream(cleanup, "bench-producers", 4)).streamName : "";
      const messages = orders(count, 500);
      const [ms] = await timeRuns(1, () => send(messages, streamName));
      times.push(ms as number);
      await cleanup.run();
    }
    rows.push({ channel, method, messages: count, msgsPerSecond: perSecond(count, median(times)) });
  };

  await measure("SNS", "plain SDK: Publish per message", sizes.plain, async (messages) => {
    for (const message of messages) {
      await sns.send(
        new PublishCommand({
          TopicArn: resources.topicArn,
          Message: JSON.stringify(message),
          MessageAttributes: { type: { DataType: "String", StringValue: message.type } },
        }),
      );
    }
  });
  const topicPublisher = new TopicPublisher({ topicArn: resources.topicArn, client: sns });
  await measure("SNS", "TopicPublisher.publish (PublishBatch)", sizes.batched, async (messages) => {
    await topicPublisher.publish(messages);
  });
  await measure("SNS", "BufferedPublisher.send per message", sizes.batched, async (messages) => {
    const buffered = new BufferedPublisher(topicPublisher);
    await Promise.all(messages.map((message) => buffered.send(message)));
  });

  await measure("Kinesis", "plain SDK: PutRecord per message", sizes.plain, async (messages, streamName) => {
    for (const message of messages) {
      await kinesis.send(
        new PutRecordCommand({
          StreamName: streamName,
          PartitionKey: message.key ?? message.id,
          Data: Buffer.from(JSON.stringify(message)),
        }),
      );
    }
  });
  const streamPublisher = (streamName: string) => new StreamPublisher({ streamName, client: kinesis });
  await measure(
    "Kinesis",
    "StreamPublisher.publish (PutRecords, per-key order)",
    sizes.kinesisBatched,
    async (messages, streamName) => {
      await streamPublisher(streamName).publish(messages);
    },
  );
  await measure(
    "Kinesis",
    "BufferedPublisher.send per message",
    sizes.kinesisBatched,
    async (messages, streamName) => {
      const buffered = new BufferedPublisher(streamPublisher(streamName));
      await Promise.all(messages.map((message) => buffered.send(message)));
    },
  );
  sns.destroy();
  kinesis.destroy();
  return rows;
}
