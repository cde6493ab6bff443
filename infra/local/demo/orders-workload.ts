import { type KinesisClient, PutRecordCommand } from "@aws-sdk/client-kinesis";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { ORDER_EVENTS, type Order } from "../../../lambdas/handlers/order-events.js";
import { createEnvelope, type MessageEnvelope, type NewMessage } from "../../../lambdas/runtime/envelope.js";
import { StreamPublisher } from "../../../lambdas/runtime/producers/stream-publisher.js";
import { TopicPublisher } from "../../../lambdas/runtime/producers/topic-publisher.js";

export interface WorkloadOptions {
  readonly messages: number;
  /** Share of messages published a second time with the same id (a producer retry). */
  readonly duplicateRate: number;
  /** Share of extra, malformed messages (per channel). */
  readonly poisonRate: number;
  readonly customers: number;
  /** Seeded so that a run can be repeated. */
  readonly seed: number;
  /** Publish at this pace (messages a second) instead of all at once. @default - all at once */
  readonly ratePerSecond?: number;
}

export interface Channels {
  readonly orderEventsTopicArn: string;
  readonly orderLifecycleTopicArn: string;
  readonly ledgerStreamName: string;
}

/** What was published: the orders (by id, with when) and how many duplicates and poison messages. */
export interface PublishedWorkload {
  readonly orders: ReadonlyMap<string, { order: Order; publishedAt: number }>;
  readonly duplicatesPublished: number;
  readonly poisonPublished: {
    readonly orderEvents: number;
    readonly orderLifecycle: number;
    readonly ledger: number;
  };
  readonly publishMs: number;
}

/**
 * The demo's producers: N orders over many customers, numbered per customer, each published as
 * `order.placed` to the OrderEvents topic, the OrderLifecycle FIFO topic and the Ledger stream, through
 * the batching publishers. Some are published again with the same id (producer retries), and some
 * malformed messages are mixed in on every channel (poison).
 */
export async function publishOrders(
  channels: Channels,
  options: WorkloadOptions,
  clients: { sns: SNSClient; kinesis: KinesisClient },
): Promise<PublishedWorkload> {
  const random = seededRandom(options.seed);
  const started = performance.now();
  // Ids unique to this run, so that a run against an endpoint used before counts only its own effects.
  const run = Date.now().toString(36);
  const sequenceOf = new Map<string, number>();
  const orders = new Map<string, { order: Order; publishedAt: number }>();
  const envelopes: MessageEnvelope<Order>[] = [];
  for (let index = 0; index < options.messages; index++) {
    const customerId = `customer-${run}-${String(index % options.customers).padStart(3, "0")}`;
    const sequence = (sequenceOf.get(customerId) ?? 0) + 1;
    sequenceOf.set(customerId, sequence);
    const order: Order = {
      orderId: `order-${run}-${String(index).padStart(6, "0")}`,
      customerId,
      sequence,
      total: Math.round(random() * 50_000) / 100,
    };
    envelopes.push(createEnvelope<Order>({ type: ORDER_EVENTS.placed, key: customerId, payload: order }));
  }
  // Producer retries: an order sent again with the same id right after its first send, as a producer does
  // when a send timed out although it had reached the channel. (Kinesis stores a retry as a new record:
  // kinesisCheckpoints recognises it while fewer than its windowSize records of the shard came between.)
  const retried = new Set(envelopes.filter(() => random() < options.duplicateRate));
  const poisonCount = Math.round(options.messages * options.poisonRate);

  const events = new TopicPublisher({ topicArn: channels.orderEventsTopicArn, client: clients.sns });
  const lifecycle = new TopicPublisher({ topicArn: channels.orderLifecycleTopicArn, client: clients.sns });
  const ledger = new StreamPublisher({ streamName: channels.ledgerStreamName, client: clients.kinesis });
  // The publishers keep each customer's orders in sequence (one per key in flight on ordered channels).
  const tick = options.ratePerSecond ? Math.max(1, Math.round(options.ratePerSecond / 10)) : envelopes.length;
  for (let start = 0; start < envelopes.length; start += tick) {
    const publishedAt = Date.now();
    const part = envelopes.slice(start, start + tick).flatMap((envelope) => {
      orders.set(envelope.payload.orderId, { order: envelope.payload, publishedAt });
      return retried.has(envelope) ? [envelope, envelope] : [envelope];
    });
    await Promise.all([events.publish(part), lifecycle.publish(part), ledger.publish(part)]);
    if (options.ratePerSecond)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, publishedAt + 100 - Date.now())));
  }

  for (let index = 0; index < poisonCount; index++) {
    await clients.sns.send(
      new PublishCommand({
        TopicArn: channels.orderEventsTopicArn,
        Message: `<order id="${index}">not JSON</order>`,
        MessageAttributes: { type: { DataType: "String", StringValue: ORDER_EVENTS.placed } },
      }),
    );
    const invalid: NewMessage<unknown> = {
      type: ORDER_EVENTS.placed,
      key: `customer-poison-${index}`,
      payload: { orderId: `poison-${index}`, total: "lots" },
    };
    await lifecycle.publish([invalid]);
    await clients.kinesis.send(
      new PutRecordCommand({
        StreamName: channels.ledgerStreamName,
        PartitionKey: `poison-${index}`,
        Data: Uint8Array.from([0xff, 0xfe, 0x00, index % 256]),
      }),
    );
  }
  return {
    orders,
    duplicatesPublished: retried.size,
    poisonPublished: { orderEvents: poisonCount, orderLifecycle: poisonCount, ledger: poisonCount },
    publishMs: performance.now() - started,
  };
}

/** Mulberry32: small, fast, and the same numbers for the same seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
