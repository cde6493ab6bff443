/**
 * The runtime end to end through a real endpoint: producers publish, the plain SDK receives as Lambda's
 * event sources would, the consumer wrappers process, and poison lands on a real dead-letter queue.
 */
import { GetRecordsCommand, GetShardIteratorCommand } from "@aws-sdk/client-kinesis";
import { PublishCommand } from "@aws-sdk/client-sns";
import { ChangeMessageVisibilityCommand, type Message } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { toKinesisRecord, toSqsRecord } from "../../infra/local/runner/lambda-event-shapes.js";
import { DEAD_LETTER_ATTRIBUTES } from "../../lambdas/runtime/constants.js";
import { kinesisConsumer } from "../../lambdas/runtime/consumers/kinesis-consumer.js";
import { sqsConsumer } from "../../lambdas/runtime/consumers/sqs-consumer.js";
import type { MessageEnvelope } from "../../lambdas/runtime/envelope.js";
import { StreamPublisher } from "../../lambdas/runtime/producers/stream-publisher.js";
import { TopicPublisher } from "../../lambdas/runtime/producers/topic-publisher.js";
import { RecordingObserver } from "../support/recording.js";
import {
  Cleanup,
  createQueue,
  createStream,
  createTopic,
  deleteMessages,
  drain,
  kinesis,
  receive,
  sns,
  sqs,
  subscribeQueue,
} from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

type Order = { orderId: string; customer: string; step: number };

const orders = (count: number, customers: number): Array<{ type: string; key: string; payload: Order }> =>
  Array.from({ length: count }, (_, index) => {
    const customer = `customer-${index % customers}`;
    return {
      type: index % 3 === 0 ? "order.shipped" : "order.placed",
      key: customer,
      payload: { orderId: `o-${index}`, customer, step: Math.floor(index / customers) },
    };
  });

const asSqsEvent = (messages: readonly Message[], queueArn: string) => ({
  Records: messages.map((message) => toSqsRecord(message, queueArn, "us-east-1")),
});

describe("TopicPublisher and sqsConsumer", () => {
  it("fans out to consumer groups, filters by type, and dead-letters poison with its reason", async () => {
    const topicArn = await createTopic(cleanup, "rt-orders");
    const billing = await createQueue(cleanup, "rt-billing");
    const shipping = await createQueue(cleanup, "rt-shipping");
    const billingDlq = await createQueue(cleanup, "rt-billing-dlq");
    await subscribeQueue(topicArn, billing, { RawMessageDelivery: "true" });
    await subscribeQueue(topicArn, shipping, {
      RawMessageDelivery: "true",
      FilterPolicy: JSON.stringify({ type: ["order.shipped"] }),
    });

    const published = orders(30, 5);
    const report = await new TopicPublisher({ topicArn }).publish(published);
    expect(report.failed).toEqual([]);
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: "<order>not json</order>" }));

    const billed: string[] = [];
    const handler = sqsConsumer<Order>({
      group: "billing",
      deadLetterQueueUrl: billingDlq.url,
      observer: new RecordingObserver(),
      handler: (message: MessageEnvelope<Order>) => {
        billed.push(message.payload.orderId);
      },
    });
    const billingMessages = await drain(billing.url, 31);
    for (let start = 0; start < billingMessages.length; start += 10) {
      const response = await handler(asSqsEvent(billingMessages.slice(start, start + 10), billing.arn));
      expect(response.batchItemFailures).toEqual([]);
    }
    expect(billed.sort()).toEqual(published.map((order) => order.payload.orderId).sort());

    const shipped = await drain(shipping.url, 10);
    expect(shipped.map((message) => JSON.parse(message.Body ?? "{}").type)).toEqual(
      Array(10).fill("order.shipped"),
    );

    const [deadLetter] = await drain(billingDlq.url, 1);
    expect(deadLetter?.Body).toBe("<order>not json</order>");
    expect(deadLetter?.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.reason]?.StringValue).toBe("not-json");
    expect(deadLetter?.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.consumerGroup]?.StringValue).toBe(
      "billing",
    );
    expect(deadLetter?.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.source]?.StringValue).toBe(billing.arn);
  });

  it("keeps each customer's orders in order through a FIFO topic and queue, retrying after a failure", async () => {
    const topicArn = await createTopic(cleanup, "rt-ordered", true);
    const queue = await createQueue(cleanup, "rt-ordered", { FifoQueue: "true" });
    await subscribeQueue(topicArn, queue, { RawMessageDelivery: "true" });
    const published = orders(12, 3);
    await new TopicPublisher({ topicArn }).publish(published);

    const processed: Order[] = [];
    let failOnce = "o-4";
    const handler = sqsConsumer<Order>({
      group: "ordered",
      observer: new RecordingObserver(),
      handler: (message: MessageEnvelope<Order>) => {
        if (message.payload.orderId === failOnce) {
          failOnce = "";
          throw new Error("inventory locked");
        }
        processed.push(message.payload);
      },
    });
    // Deliver as Lambda does: a batch, then delete what succeeded and leave the failures for redelivery.
    const deadline = Date.now() + 30_000;
    while (processed.length < published.length && Date.now() < deadline) {
      const messages = await receive(queue.url, { waitSeconds: 1 });
      if (messages.length === 0) continue;
      const { batchItemFailures } = await handler(asSqsEvent(messages, queue.arn));
      const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
      await deleteMessages(
        queue.url,
        messages.filter((message) => !failed.has(message.MessageId ?? "")),
      );
      if (failed.size > 0) {
        await Promise.all(
          messages
            .filter((message) => failed.has(message.MessageId ?? ""))
            .map((message) =>
              sqs.send(
                new ChangeMessageVisibilityCommand({
                  QueueUrl: queue.url,
                  ReceiptHandle: message.ReceiptHandle,
                  VisibilityTimeout: 0,
                }),
              ),
            ),
        );
      }
    }

    expect(processed).toHaveLength(published.length);
    for (const customer of ["customer-0", "customer-1", "customer-2"]) {
      const steps = processed.filter((order) => order.customer === customer).map((order) => order.step);
      expect(steps, customer).toEqual([0, 1, 2, 3]);
    }
  });
});

describe("StreamPublisher and kinesisConsumer", () => {
  it("writes keys across shards and, after a failure, resumes from the failed record without reordering", async () => {
    const { streamName, streamArn, shardIds } = await createStream(cleanup, "rt-ledger", 2);
    const published = orders(60, 6);
    const report = await new StreamPublisher({ streamName }).publish(published);
    expect(report.failed).toEqual([]);
    expect(new Set(report.results.map((result) => result.receipt?.shardId)).size).toBe(2);

    const processed: Order[] = [];
    let failOnce = "o-13";
    const handler = kinesisConsumer<Order>({
      group: "ledger",
      observer: new RecordingObserver(),
      handler: (message: MessageEnvelope<Order>) => {
        if (message.payload.orderId === failOnce) {
          failOnce = "";
          throw new Error("ledger locked");
        }
        processed.push(message.payload);
      },
    });

    for (const shardId of shardIds) {
      // Lambda's poller: read from the checkpoint, and after a partial failure read again from the
      // lowest failed sequence number.
      let resumeAt: string | undefined;
      for (let round = 0; round < 5; round++) {
        const iterator = await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shardId,
            ...(resumeAt
              ? { ShardIteratorType: "AT_SEQUENCE_NUMBER", StartingSequenceNumber: resumeAt }
              : { ShardIteratorType: "TRIM_HORIZON" }),
          }),
        );
        const batch = await kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator.ShardIterator, Limit: 100 }),
        );
        const records = batch.Records ?? [];
        if (records.length === 0) break;
        const response = await handler({
          Records: records.map((record) => toKinesisRecord(record, streamArn, shardId, "us-east-1")),
        });
        resumeAt = response.batchItemFailures[0]?.itemIdentifier;
        if (!resumeAt) break;
      }
    }

    expect(processed.map((order) => order.orderId).sort()).toEqual(
      published.map((order) => order.payload.orderId).sort(),
    );
    for (let customer = 0; customer < 6; customer++) {
      const steps = processed
        .filter((order) => order.customer === `customer-${customer}`)
        .map((order) => order.step);
      expect(steps).toEqual([...Array(10).keys()]);
    }
  });
});
