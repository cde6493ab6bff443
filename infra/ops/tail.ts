import { randomBytes } from "node:crypto";
import { GetRecordsCommand, GetShardIteratorCommand } from "@aws-sdk/client-kinesis";
import { SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import type { Broker } from "./broker.js";
import { OpsError } from "./errors.js";
import { listShardIds } from "./shards.js";

/** One message seen going by. */
export interface TailedMessage {
  /** The topic's or stream's logical id. */
  readonly source: string;
  readonly type?: string;
  readonly key?: string;
  readonly id?: string;
  /** Bytes of the message as published (the envelope). */
  readonly size: number;
  /** Kinesis: the shard and sequence number. */
  readonly position?: string;
}

export interface TailOptions {
  readonly signal: AbortSignal;
  readonly onMessage: (message: TailedMessage) => void;
  /** Once listening: what it listens with (a temporary queue, shard iterators at LATEST). */
  readonly onReady?: (description: string) => void;
}

export interface TailReport {
  readonly source: string;
  readonly seen: number;
  /** What it created to listen and removed again. */
  readonly cleanedUp: readonly string[];
}

/**
 * Shows a topic's, a stream's or a group's messages as they flow, until `signal` aborts. A topic (or a
 * queue group's topic) is listened to through a temporary SQS queue subscribed to it, removed afterwards:
 * the group's own queue is never read, so no message is taken from it. A stream (or a stream group's
 * stream) is read from LATEST on every shard, which creates nothing.
 */
export async function tail(broker: Broker, target: string, options: TailOptions): Promise<TailReport> {
  const { topology } = broker;
  const group = topology.groups.find((candidate) => candidate.name === target);
  let topic = topology.topics.find((candidate) => candidate.logicalId === target);
  let stream = topology.streams.find((candidate) => candidate.logicalId === target);
  if (group) {
    if (group.source.kind === "queue" && group.source.topic)
      topic = topology.topics.find(
        (candidate) =>
          candidate.stackName === group.stackName &&
          candidate.logicalId === (group.source as { topic?: string }).topic,
      );
    else if (group.source.kind === "stream")
      stream = topology.streams.find(
        (candidate) =>
          candidate.stackName === group.stackName &&
          candidate.logicalId === (group.source as { stream: string }).stream,
      );
    else
      throw new OpsError(
        `The group ${group.name} reads ${group.source.kind === "queue" ? "a queue no topic feeds" : "a DynamoDB table's stream"}, which tail cannot listen to without taking its messages.`,
        "Tail a topic or a Kinesis stream (`serverless-broker topology` lists them).",
      );
  }
  if (topic) return tailTopic(broker, topic, options);
  if (stream) return tailStream(broker, stream, options);
  const names = [
    ...topology.topics.map((node) => node.logicalId),
    ...topology.streams.map((node) => node.logicalId),
    ...topology.groups.map((node) => node.name),
  ];
  throw new OpsError(
    `No topic, stream or consumer group "${target}" in ${topology.stacks.join(", ")}.`,
    `There are: ${names.join(", ") || "(none)"}.`,
  );
}

async function tailTopic(
  broker: Broker,
  topic: { stackName: string; logicalId: string; fifo: boolean },
  options: TailOptions,
): Promise<TailReport> {
  const { sqs, sns } = broker.clients;
  const topicArn = await broker.physicalId(topic.stackName, topic.logicalId);
  // A FIFO topic delivers to FIFO queues only. Queue names: 80 characters, .fifo included.
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
  const queueName = `sb-tail-${randomBytes(4).toString("hex")}${topic.fifo ? ".fifo" : ""}`;
  const cleanedUp: string[] = [];
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: queueName,
      Attributes: {
        ...(topic.fifo ? { FifoQueue: "true" } : {}),
        // SQS's shortest retention: should tail be killed before it cleans up (SIGKILL, a lost machine),
        // what the queue holds expires within a minute; the queue and its subscription stay until removed.
        MessageRetentionPeriod: "60",
      },
    }),
  );
  const queueUrl = QueueUrl as string;
  let subscriptionArn: string | undefined;
  let seen = 0;
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    const queueArn = Attributes?.QueueArn as string;
    if (broker.target === "aws") {
      await sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: queueUrl,
          Attributes: {
            Policy: JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                {
                  Effect: "Allow",
                  Principal: { Service: "sns.amazonaws.com" },
                  Action: "sqs:SendMessage",
                  Resource: queueArn,
                  Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
                },
              ],
            }),
          },
        }),
      );
    }
    ({ SubscriptionArn: subscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: "sqs",
        Endpoint: queueArn,
        ReturnSubscriptionArn: true,
      }),
    ));
    options.onReady?.(`listening to ${topic.logicalId} through the temporary queue ${queueName}`);
    while (!options.signal.aborted) {
      let messages: Awaited<ReturnType<typeof receive>>;
      try {
        messages = await receive();
      } catch (error) {
        if (options.signal.aborted) break;
        throw error;
      }
      for (const message of messages) {
        seen += 1;
        options.onMessage(describeNotification(topic.logicalId, message.Body ?? ""));
      }
      if (messages.length > 0)
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle as string,
            })),
          }),
        );
    }
  } finally {
    if (subscriptionArn) {
      await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
      cleanedUp.push(`subscription ${subscriptionArn}`);
    }
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    cleanedUp.push(`queue ${queueName}`);
  }
  return { source: topic.logicalId, seen, cleanedUp };

  async function receive() {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }),
      { abortSignal: options.signal },
    );
    return Messages;
  }
}

function describeNotification(source: string, body: string): TailedMessage {
  let message = body;
  let attributeType: string | undefined;
  try {
    const notification = JSON.parse(body) as {
      Message?: string;
      MessageAttributes?: Record<string, { Value?: string }>;
    };
    if (typeof notification.Message === "string") message = notification.Message;
    attributeType = notification.MessageAttributes?.type?.Value;
  } catch {}
  return { source, ...envelopeFields(message), ...(attributeType ? { type: attributeType } : {}) };
}

function envelopeFields(text: string): Omit<TailedMessage, "source"> {
  const size = Buffer.byteLength(text);
  try {
    const envelope = JSON.parse(text) as { id?: unknown; type?: unknown; key?: unknown };
    return {
      size,
      ...(typeof envelope.id === "string" ? { id: envelope.id } : {}),
      ...(typeof envelope.type === "string" ? { type: envelope.type } : {}),
      ...(typeof envelope.key === "string" ? { key: envelope.key } : {}),
    };
  } catch {
    return { size };
  }
}

/**
 * GetRecords: 5 calls a second per shard; tail polls each shard once a second.
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
 */
const STREAM_POLL_MS = 1000;

async function tailStream(
  broker: Broker,
  stream: { stackName: string; logicalId: string },
  options: TailOptions,
): Promise<TailReport> {
  const { kinesis } = broker.clients;
  const streamName = await broker.physicalId(stream.stackName, stream.logicalId);
  const iterators = new Map<string, string | undefined>();
  for (const shardId of await listShardIds(kinesis, streamName)) {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: "LATEST" }),
    );
    iterators.set(shardId, ShardIterator);
  }
  options.onReady?.(`listening to ${stream.logicalId} from LATEST on ${iterators.size} shard(s)`);
  let seen = 0;
  while (!options.signal.aborted) {
    for (const [shardId, iterator] of iterators) {
      if (!iterator || options.signal.aborted) continue;
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      iterators.set(shardId, page.NextShardIterator);
      for (const record of page.Records ?? []) {
        seen += 1;
        const fields = envelopeFields(Buffer.from(record.Data ?? []).toString("utf8"));
        options.onMessage({
          source: stream.logicalId,
          ...fields,
          ...(record.PartitionKey ? { key: record.PartitionKey } : {}),
          position: `${shardId}:${record.SequenceNumber}`,
        });
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STREAM_POLL_MS);
      options.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  return { source: stream.logicalId, seen, cleanedUp: [] };
}
