import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { KinesisConsumerEventSource, KinesisEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { SubscriptionFilter } from "aws-cdk-lib/aws-sns";
import type { Construct } from "constructs";
import { type DedupMode, ORDER_EVENTS, ORDERS_ENV } from "../../lambdas/handlers/order-events.js";
import { ConsumerFunction } from "../constructs/consumer-function.js";
import { MessageBroker } from "../constructs/message-broker.js";
import type { QueueConsumerGroup } from "../constructs/queue-consumer-group.js";
import { shippedHandler } from "../constructs/shipped-handler.js";

export interface OrdersStackProps extends StackProps {
  /** Send every alarm to a new SNS topic (subscribe your pager to it). @default true */
  readonly alarmTopic?: boolean;
}

/**
 * The reference topology, deployable as is:
 * - `OrderEvents` (standard topic) fanning out to `billing` (placed orders; it announces them paid through
 *   the transactional outbox), `shipping` (paid and cancelled orders only) and `analytics` (everything);
 * - `OrderLifecycle` (FIFO topic, archived 7 days for replay) with the ordered group `fulfillment`;
 * - `Ledger` (Kinesis, 2 shards) with the group `ledger`;
 * - the dedup table with its outbox relay, and an orders table where the handlers record what they do.
 */
export class OrdersStack extends Stack {
  readonly broker: MessageBroker;
  readonly ordersTable: Table;

  constructor(scope: Construct, id: string, props: OrdersStackProps = {}) {
    super(scope, id, props);
    // An example you can tear down: its tables, streams, queues and keys go with the stack.
    this.broker = new MessageBroker(this, "Orders", {
      dedup: { stream: true },
      removalPolicy: RemovalPolicy.DESTROY,
      alarmTopic: props.alarmTopic ?? true,
    });
    this.ordersTable = new Table(this, "OrdersTable", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const consumer = (
      name: string,
      handler: string,
      dedupMode: DedupMode,
      environment: Record<string, string> = {},
    ) => {
      const fn = new ConsumerFunction(this, `${name}Consumer`, {
        entry: shippedHandler(handler),
        environment: {
          [ORDERS_ENV.tableName]: this.ordersTable.tableName,
          [ORDERS_ENV.dedupMode]: dedupMode,
          ...environment,
        },
      });
      this.ordersTable.grantWriteData(fn);
      if (dedupMode === "checkpoints") requireKinesisSources(fn);
      return fn;
    };

    const orderEvents = this.broker.addTopic("OrderEvents");
    // Billing commits the bill and the order.paid message in one transaction; the outbox relays the message.
    const outbox = this.broker.addOutbox("Outbox", { topics: [orderEvents] });
    const billing = orderEvents.addConsumerGroup("billing", {
      consumer: consumer("Billing", "billing", "transactional", {
        [ORDERS_ENV.orderEventsTopicArn]: orderEvents.topic.topicArn,
      }),
      filterPolicy: { type: SubscriptionFilter.stringFilter({ allowlist: [ORDER_EVENTS.placed] }) },
      // It publishes order.paid through transaction.publish: the only group that may write outbox rows.
      outbox: true,
    });
    const shipping = orderEvents.addConsumerGroup("shipping", {
      consumer: consumer("Shipping", "record-order", "transactional"),
      filterPolicy: {
        type: SubscriptionFilter.stringFilter({ allowlist: [ORDER_EVENTS.paid, ORDER_EVENTS.cancelled] }),
      },
    });
    const analytics = orderEvents.addConsumerGroup("analytics", {
      // Plain dedup: cheaper, with an at-least-once window if a worker dies after its side effect.
      consumer: consumer("Analytics", "record-order", "plain"),
      // Analytics is not latency-sensitive: gather larger batches.
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(5),
    });

    const orderLifecycle = this.broker.addTopic("OrderLifecycle", { fifo: true, archiveRetentionDays: 7 });
    const fulfillment = orderLifecycle.addConsumerGroup("fulfillment", {
      consumer: consumer("Fulfillment", "record-order", "transactional"),
    });

    const ledgerStream = this.broker.addStream("Ledger", { shardCount: 2 });
    ledgerStream.addConsumerGroup("ledger", { consumer: consumer("Ledger", "ledger", "checkpoints") });

    new CfnOutput(this, "OrderEventsTopicArn", { value: orderEvents.topic.topicArn });
    new CfnOutput(this, "OrderLifecycleTopicArn", { value: orderLifecycle.topic.topicArn });
    for (const group of [billing, shipping, analytics, fulfillment]) this.outputQueues(group);
    new CfnOutput(this, "LedgerStreamName", { value: ledgerStream.stream.streamName });
    new CfnOutput(this, "LedgerOnFailureQueueUrl", {
      value: ledgerStream.consumerGroups[0]?.onFailureQueue?.queueUrl ?? "",
    });
    new CfnOutput(this, "DedupTableName", { value: this.broker.dedupTable?.tableName ?? "" });
    new CfnOutput(this, "OrdersTableName", { value: this.ordersTable.tableName });
    new CfnOutput(this, "OutboxOnFailureQueueUrl", { value: outbox.onFailureQueue.queueUrl });
  }

  private outputQueues(group: QueueConsumerGroup): void {
    const name = group.name.charAt(0).toUpperCase() + group.name.slice(1);
    new CfnOutput(this, `${name}QueueUrl`, { value: group.queue.queueUrl });
    if (group.deadLetterQueue)
      new CfnOutput(this, `${name}DeadLetterQueueUrl`, { value: group.deadLetterQueue.queueUrl });
  }
}

/**
 * `kinesisCheckpoints()` keys a checkpoint by the Kinesis shard id of each record; DynamoDB Streams (and SQS)
 * events carry none, so such a consumer would fail every batch. Checked once every source is attached.
 */
export function requireKinesisSources(fn: ConsumerFunction): void {
  fn.node.addValidation({
    validate: () =>
      fn.eventSources
        .filter(
          (source) => !(source instanceof KinesisEventSource || source instanceof KinesisConsumerEventSource),
        )
        .map(
          (source) =>
            `${fn.node.path}: dedup mode "checkpoints" (kinesisCheckpoints) needs Kinesis shard ids, but the function ` +
            `also consumes a ${source.constructor.name}, whose events carry none; use "transactional" or "plain" dedup for it.`,
        ),
  });
}
