import { Annotations, Duration, Names, Token } from "aws-cdk-lib";
import { type Alarm, type IAlarmAction, Metric, type MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import type { Grant, IGrantable } from "aws-cdk-lib/aws-iam";
import { type IKey, Key } from "aws-cdk-lib/aws-kms";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { FilterOrPolicy, ITopic, SubscriptionFilter } from "aws-cdk-lib/aws-sns";
import { SqsSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import {
  type CfnQueue,
  DeduplicationScope,
  FifoThroughputLimit,
  type IQueue,
  Queue,
  QueueEncryption,
  type QueueProps,
} from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  BROKER_ENV,
  CONSUMER_METRICS,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
} from "../../lambdas/runtime/constants.js";
import { type AlarmDefinition, consumerFunctionAlarms, createAlarms } from "./alarms.js";
import {
  acknowledgeDeadLetterQueue,
  acknowledgeKmsGrantWildcards,
  acknowledgeSqsMappingDestination,
  bindConsumerEnvironment,
  timeoutOf,
} from "./consumer-binding.js";
import type { DedupTable } from "./dedup-table.js";
import { fail, requireDurationInRange, requireIntegerInRange } from "./validation.js";

/** SQS limits and AWS's guidance for Lambda event sources. */
const FIFO_MAX_BATCH_SIZE = 10;
const VISIBILITY_TIMEOUT_FACTOR = 6;
const MAX_VISIBILITY_TIMEOUT = Duration.hours(12);
/**
 * Lambda: "If you set BatchSize greater than 10, you must set MaximumBatchingWindowInSeconds to at least
 * 1 second" (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
 */
const MAX_BATCH_SIZE_WITHOUT_WINDOW = 10;
const DEFAULT_MAX_CONCURRENCY = 5;
/** SQS's longest retention, which the dead-letter queue keeps, so that a dead letter stays as long as it can. */
const DEFAULT_DEAD_LETTER_RETENTION = Duration.days(14);
/**
 * SNS's largest message, 256 KiB (https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html): a
 * queue that accepts less refuses what the topic may deliver, and those messages end in the subscription's DLQ.
 */
const SNS_MAX_MESSAGE_BYTES = 262_144;
/**
 * SQS queue attribute ranges (CreateQueue, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html):
 * DelaySeconds 0 to 900, ReceiveMessageWaitTimeSeconds 0 to 20, MaximumMessageSize 1,024 bytes to 1,048,576
 * (1 MiB since August 2025; aws-cdk-lib checks the same bounds), MessageRetentionPeriod 60 s to 14 days,
 * VisibilityTimeout 0 to 12 hours.
 */
const MAX_DELIVERY_DELAY = Duration.seconds(900);
const MAX_RECEIVE_WAIT = Duration.seconds(20);
const MIN_MESSAGE_BYTES = 1_024;
const MAX_MESSAGE_BYTES = 1_048_576;
/** SQS's default retention and visibility timeout, which a queue without the attribute has. */
const SQS_DEFAULT_RETENTION_SECONDS = 345_600;
const SQS_DEFAULT_VISIBILITY_SECONDS = 30;

/**
 * The group queue's properties left to the user (escape hatch). Encryption, retention, visibility, the
 * redrive policy and FIFO-ness belong to the group and have props of their own.
 */
export type GroupQueueProps = Pick<
  QueueProps,
  | "deliveryDelay"
  | "receiveMessageWaitTime"
  | "maxMessageSizeBytes"
  | "dataKeyReuse"
  | "fifoThroughputLimit"
  | "deduplicationScope"
>;
/** SQS's own default; it leaves a dead letter at least 10 days in the dead-letter queue. */
const DEFAULT_RETENTION = Duration.days(4);

export interface QueueConsumerGroupOptions {
  /**
   * The Lambda function that processes this group, attached through an SQS event source with
   * ReportBatchItemFailures. It receives BROKER_CONSUMER_GROUP, BROKER_DLQ_URL and
   * BROKER_MAX_RECEIVE_COUNT (and the dedup table, if any) in its environment.
   * @default - none: the group's queue is consumed some other way
   */
  readonly consumer?: IFunction;
  /** Deliver only messages whose message attributes match (e.g. `type`). @default - everything */
  readonly filterPolicy?: { [attribute: string]: SubscriptionFilter };
  /** Deliver only messages whose JSON body matches (payload-scope filter policy). @default - everything */
  readonly filterPolicyWithMessageBody?: { [key: string]: FilterOrPolicy };
  /** Deliver the published message as is, not wrapped in an SNS notification. @default true */
  readonly rawMessageDelivery?: boolean;
  /** Messages per invocation: 1 to 10 on FIFO queues, to 10,000 on standard ones. @default 10 */
  readonly batchSize?: number;
  /** How long to gather a batch (standard queues only; up to 5 minutes). @default - no batching window */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent invocations the event source may use, 2 to 1,000 (Lambda's MaximumConcurrency for SQS), so
   * that one busy group cannot take the account's whole Lambda concurrency from the others.
   * @default 5
   */
  readonly maxConcurrency?: number;
  /**
   * The consumer commits outbox rows (transactional mode with `transaction.publish`): it may also write
   * `outbox#` items on the dedup table. Other groups cannot. @default false
   */
  readonly outbox?: boolean;
  /**
   * The queue's visibility timeout. At least the consumer's timeout plus the batching window; AWS advises
   * six times the timeout plus the window, so that retries of a throttled invocation fit.
   * @default - 6 x the consumer's timeout + the batching window (30 seconds without a consumer)
   */
  readonly visibilityTimeout?: Duration;
  /** Receives before a message moves to the dead-letter queue, 1 to 1,000. @default 5 */
  readonly maxReceiveCount?: number;
  /**
   * How long the queue keeps an unprocessed message, 1 minute to 14 days, and shorter than its dead-letter
   * queue's 14 days (a standard dead-letter queue keeps a message's original enqueue time, so it must retain
   * longer than the source, or a dead letter may expire on arrival).
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;
  /**
   * How long the dead-letter queue keeps a message, 1 minute to 14 days, and longer than `retentionPeriod`.
   * @default Duration.days(14)
   */
  readonly deadLetterRetentionPeriod?: Duration;
  /** Alarm when the oldest message waits longer than this. @default Duration.minutes(15) */
  readonly maxMessageAge?: Duration;
  /**
   * Escape hatch: more properties of the group's queue (not its dead-letter queue), passed to CDK's `Queue`
   * as given, e.g. `fifoThroughputLimit` and `deduplicationScope` for one FIFO group (the topic's
   * `highThroughput` sets both on every group). Not with `queue`.
   * @default - CDK's defaults
   */
  readonly queueProps?: GroupQueueProps;
  /**
   * Use this queue instead of creating one. Its type must match the topic's (FIFO or standard), and its
   * redrive policy is its own. @default - a queue with a dead-letter queue is created
   */
  readonly queue?: IQueue;
}

export interface QueueConsumerGroupProps extends QueueConsumerGroupOptions {
  readonly name: string;
  readonly topic: ITopic;
  readonly fifo: boolean;
  /** Encrypts the queue and its dead-letter queue; must let SNS use it. */
  readonly encryptionKey: IKey;
  readonly dedupTable?: DedupTable;
  readonly alarmAction?: IAlarmAction;
  /** FIFO high throughput: deduplication and throughput per message group on both queues. @default false */
  readonly highThroughput?: boolean;
}

/**
 * One consumer group of a fan-out topic: an SQS queue with its dead-letter queue, subscribed to the topic,
 * optionally consumed by a Lambda function, with alarms on dead letters, message age and consumer errors.
 * Every group gets its own copy of each message; within a group one consumer processes it.
 */
export class QueueConsumerGroup extends Construct {
  readonly name: string;
  readonly queue: IQueue;
  /** Undefined when the group brought its own queue. */
  readonly deadLetterQueue: Queue | undefined;
  readonly consumer: IFunction | undefined;
  readonly alarms: Alarm[] = [];
  private readonly dedupTable: DedupTable | undefined;

  constructor(scope: Construct, id: string, props: QueueConsumerGroupProps) {
    super(scope, id);
    this.name = props.name;
    this.consumer = props.consumer;
    this.dedupTable = props.dedupTable;
    validateOptions(this, props);

    const batchingWindow = props.maxBatchingWindow ?? Duration.seconds(0);
    const visibilityTimeout =
      props.visibilityTimeout ?? defaultVisibilityTimeout(props.consumer, batchingWindow);
    if (props.queue) {
      this.queue = props.queue;
      this.deadLetterQueue = undefined;
    } else {
      const maxReceiveCount = props.maxReceiveCount ?? 5;
      const deadLetterRetention = props.deadLetterRetentionPeriod ?? DEFAULT_DEAD_LETTER_RETENTION;
      // SQS high throughput for FIFO queues needs both settings
      // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html).
      const highThroughput = props.highThroughput
        ? {
            deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
            fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
          }
        : {};
      this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
        ...fifoQueueProps(this, "DeadLetterQueue", props.fifo),
        ...highThroughput,
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: props.encryptionKey,
        enforceSSL: true,
        retentionPeriod: deadLetterRetention,
      });
      requireDeadLetterOutlivesSource(this, deadLetterRetention, props.retentionPeriod ?? DEFAULT_RETENTION);
      acknowledgeDeadLetterQueue(
        this.deadLetterQueue,
        "This queue is the group's dead-letter queue; it needs no dead-letter queue of its own.",
      );
      this.queue = new Queue(this, "Queue", {
        ...highThroughput,
        ...props.queueProps,
        ...fifoQueueProps(this, "Queue", props.fifo),
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: props.encryptionKey,
        enforceSSL: true,
        visibilityTimeout,
        retentionPeriod: props.retentionPeriod ?? DEFAULT_RETENTION,
        deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
      });
    }

    props.topic.addSubscription(
      new SqsSubscription(this.queue, {
        rawMessageDelivery: props.rawMessageDelivery ?? true,
        ...(props.filterPolicy ? { filterPolicy: props.filterPolicy } : {}),
        ...(props.filterPolicyWithMessageBody
          ? { filterPolicyWithMessageBody: props.filterPolicyWithMessageBody }
          : {}),
        // Messages SNS cannot deliver (a key it may not use, a deleted queue) are kept, not dropped.
        ...(this.deadLetterQueue ? { deadLetterQueue: this.deadLetterQueue } : {}),
      }),
    );

    if (props.consumer) this.attachConsumer(props.consumer, props);
    this.addAlarms(props);
  }

  /** Messages waiting in the dead-letter queue (maximum over 1 minute). */
  metricDlqDepth(props?: MetricOptions): Metric {
    const queue = this.deadLetterQueue ?? this.queue;
    return queue.metricApproximateNumberOfMessagesVisible({
      statistic: "Maximum",
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Age of the oldest message waiting in the group's queue (maximum over 1 minute). */
  metricAgeOfOldestMessage(props?: MetricOptions): Metric {
    return this.queue.metricApproximateAgeOfOldestMessage({
      statistic: "Maximum",
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Messages delivered into the group's queue (sum over 1 minute). */
  metricDelivered(props?: MetricOptions): Metric {
    return this.queue.metricNumberOfMessagesSent({ statistic: "Sum", period: Duration.minutes(1), ...props });
  }

  /** Messages the consumer wrapper processed (its EMF metric; sum over 1 minute). */
  metricProcessed(props?: MetricOptions): Metric {
    return consumerMetric(this.name, CONSUMER_METRICS.processed, props);
  }

  /** Messages the consumer wrapper reported failed or dead-lettered (sum over 1 minute). */
  metricFailed(props?: MetricOptions): Metric {
    return consumerMetric(this.name, CONSUMER_METRICS.failed, props);
  }

  /**
   * Any of the runtime's EMF metrics for this group, by name (`CONSUMER_METRICS`: MessagesProcessed,
   * MessagesFailed, DuplicatesSkipped, ...; sum over 1 minute).
   */
  metric(metricName: string, props?: MetricOptions): Metric {
    return consumerMetric(this.name, metricName, props);
  }

  /**
   * Lets `grantee` consume the group's queue (receive, delete, change visibility, and decrypt with its key):
   * for a consumer that is not the group's `consumer`, e.g. a container polling the queue.
   */
  grantConsume(grantee: IGrantable): Grant {
    return this.queue.grantConsumeMessages(grantee);
  }

  /**
   * Lets `grantee` redrive dead letters as `serverless-broker dlq redrive` does: read and delete from the
   * dead-letter queue, send to the group's own queue (never the topic), and read the group's dedup records
   * to skip messages already completed. Fails for a group that brought its own queue (its DLQ is not known).
   */
  grantRedrive(grantee: IGrantable): Grant {
    if (!this.deadLetterQueue) {
      fail(
        this,
        "grantRedrive needs the group's dead-letter queue, but this group uses its own queue; grant on that " +
          "queue's dead-letter queue directly (grantConsumeMessages) and on the queue (grantSendMessages).",
      );
    }
    const grant = this.deadLetterQueue.grantConsumeMessages(grantee);
    this.queue.grantSendMessages(grantee);
    this.dedupTable?.grantReadGroup(grantee, this.name);
    return grant;
  }

  private attachConsumer(consumer: IFunction, props: QueueConsumerGroupProps): void {
    consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 10,
        reportBatchItemFailures: true,
        ...(props.maxBatchingWindow ? { maxBatchingWindow: props.maxBatchingWindow } : {}),
        maxConcurrency: props.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      }),
    );
    acknowledgeSqsMappingDestination(consumer, this.queue);
    const environment: Record<string, string> = { [BROKER_ENV.consumerGroup]: this.name };
    if (this.deadLetterQueue) {
      // Poison goes straight to the dead-letter queue, with its reason, from the runtime.
      this.deadLetterQueue.grantSendMessages(consumer);
      environment[BROKER_ENV.deadLetterQueueUrl] = this.deadLetterQueue.queueUrl;
      environment[BROKER_ENV.maxReceiveCount] = String(props.maxReceiveCount ?? 5);
    }
    bindConsumerEnvironment(this, consumer, environment);
    acknowledgeKmsGrantWildcards(consumer);
    if (props.dedupTable) {
      props.dedupTable.bindConsumer(consumer, { group: this.name, outbox: props.outbox ?? false });
      const retention = props.retentionPeriod ?? DEFAULT_RETENTION;
      if (!retention.isUnresolved() && props.dedupTable.retention.toSeconds() < retention.toSeconds()) {
        Annotations.of(this).addWarningV2(
          "serverless-broker:dedupRetention",
          `The dedup table keeps records ${props.dedupTable.retention.toHumanString()}, less than this queue keeps ` +
            `messages (${retention.toHumanString()}): a message redelivered later would be processed again. ` +
            "Raise the dedup table's retention or lower retentionPeriod.",
        );
      }
    }
  }

  private addAlarms(props: QueueConsumerGroupProps): void {
    const subject = `consumer group ${this.name}`;
    const maxAge = props.maxMessageAge ?? Duration.minutes(15);
    const definitions: AlarmDefinition[] = [
      {
        id: "MessageAgeAlarm",
        description: `The oldest message has waited over ${maxAge.toHumanString()} (${subject})`,
        metric: this.metricAgeOfOldestMessage(),
        threshold: maxAge.toSeconds(),
        evaluationPeriods: 3,
      },
      ...(props.consumer ? consumerFunctionAlarms(props.consumer, subject) : []),
    ];
    if (this.deadLetterQueue) {
      definitions.unshift({
        id: "DeadLettersAlarm",
        description: `Messages are waiting in the dead-letter queue (${subject})`,
        metric: this.metricDlqDepth(),
        threshold: 1,
      });
    }
    this.alarms.push(...createAlarms(this, definitions, props.alarmAction));
  }
}

/** One of the runtime's EMF metrics for a consumer group. */
export function consumerMetric(group: string, metricName: string, props?: MetricOptions): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE, ConsumerGroup: group },
    statistic: "Sum",
    period: Duration.minutes(1),
    ...props,
  });
}

/**
 * FIFO queues must be named `<name>.fifo`. As CDK does for FIFO topics, generate a unique name from the
 * construct path rather than leave it to CloudFormation.
 */
function fifoQueueProps(scope: Construct, id: string, fifo: boolean): { fifo?: true; queueName?: string } {
  if (!fifo) return {};
  // SQS names are at most 80 characters: the unique prefix, "-", the id and ".fifo".
  const prefix = Names.uniqueResourceName(scope, {
    maxLength: 80 - ".fifo".length - id.length - 1,
    separator: "-",
  });
  return { fifo: true, queueName: `${prefix}-${id}.fifo` };
}

function defaultVisibilityTimeout(consumer: IFunction | undefined, batchingWindow: Duration): Duration {
  const timeout = consumer ? timeoutOf(consumer) : undefined;
  if (!timeout || timeout.isUnresolved()) return Duration.seconds(30);
  const seconds = VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds() + batchingWindow.toSeconds();
  return Duration.seconds(Math.min(seconds, MAX_VISIBILITY_TIMEOUT.toSeconds()));
}

function validateOptions(group: QueueConsumerGroup, props: QueueConsumerGroupProps): void {
  if (props.queue && props.queue.fifo !== props.fifo) {
    fail(
      group,
      props.fifo
        ? `a FIFO topic can deliver only to FIFO queues, but the queue ${props.queue.node.path} is a standard queue.`
        : `a standard topic cannot deliver to the FIFO queue ${props.queue.node.path}; use a FIFO topic, or a standard queue.`,
    );
  }
  if (props.filterPolicy && props.filterPolicyWithMessageBody) {
    // An SNS subscription has one FilterPolicyScope: attributes or body. CDK keeps only one of the two.
    fail(
      group,
      "filterPolicy (message attributes) and filterPolicyWithMessageBody (message body) cannot be combined: an SNS " +
        "subscription filters on one scope only. Keep one; to match both, put the attribute into the body filter.",
    );
  }
  if (props.outbox && !props.consumer) {
    fail(group, "outbox: true grants the consumer outbox writes, but the group has no consumer; remove it.");
  }
  if (
    !props.fifo &&
    props.batchSize !== undefined &&
    !Token.isUnresolved(props.batchSize) &&
    props.batchSize > MAX_BATCH_SIZE_WITHOUT_WINDOW &&
    (props.maxBatchingWindow === undefined ||
      (!props.maxBatchingWindow.isUnresolved() && props.maxBatchingWindow.toMilliseconds() < 1000))
  ) {
    fail(
      group,
      `batchSize ${props.batchSize} is above ${MAX_BATCH_SIZE_WITHOUT_WINDOW}, which Lambda accepts only with a ` +
        `maxBatchingWindow of at least 1 second, but ${props.maxBatchingWindow?.toHumanString() ?? "none"} was provided.`,
    );
  }
  if (props.queue instanceof Queue) {
    // CDK's SqsSubscription adds the queue policy for the topic, and SNS's use of the queue's key, to a queue and
    // key of this app; a key imported here cannot be edited.
    const key = props.queue.encryptionMasterKey;
    if (key && !(key instanceof Key)) {
      Annotations.of(group).addWarningV2(
        "serverless-broker:importedQueueKey",
        `The key ${key.node.path} of the queue ${props.queue.node.path} is imported, so its policy cannot be edited ` +
          "here: allow sns.amazonaws.com kms:Decrypt and kms:GenerateDataKey* on it (aws:SourceArn = the topic ARN), " +
          "or SNS cannot deliver to the queue.",
      );
    }
  } else if (props.queue) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:importedQueue",
      `The queue ${props.queue.node.path} is not managed here, so its policy and key policy cannot be edited: allow ` +
        "the topic to sqs:SendMessage in the queue policy (aws:SourceArn = the topic ARN) and, if the queue is " +
        "KMS-encrypted, sns.amazonaws.com to kms:Decrypt and kms:GenerateDataKey* on its key; give it a redrive " +
        "policy. Until then SNS delivery fails and messages are dropped after SNS's retries.",
    );
  }
  if (props.queue && props.queueProps) {
    fail(
      group,
      "queueProps configure the queue the group creates, but the group was given its own queue; remove one.",
    );
  }
  if (props.queue && props.deadLetterRetentionPeriod) {
    fail(
      group,
      "deadLetterRetentionPeriod configures the dead-letter queue the group creates, but the group was given its own " +
        "queue (its redrive policy is its own); remove it.",
    );
  }
  if (!props.fifo && (props.queueProps?.fifoThroughputLimit || props.queueProps?.deduplicationScope)) {
    fail(
      group,
      "queueProps.fifoThroughputLimit and deduplicationScope are for FIFO queues; this topic is standard.",
    );
  }
  const maxBytes = props.queueProps?.maxMessageSizeBytes;
  if (maxBytes !== undefined && !Token.isUnresolved(maxBytes) && maxBytes < SNS_MAX_MESSAGE_BYTES) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:queueMaxMessageSize",
      `queueProps.maxMessageSizeBytes is ${maxBytes}, below SNS's ${SNS_MAX_MESSAGE_BYTES} bytes: larger messages ` +
        "published to the topic cannot be delivered to this group and end in its dead-letter queue.",
    );
  }
  requireDurationInRange(
    group,
    "queueProps.deliveryDelay",
    props.queueProps?.deliveryDelay,
    Duration.seconds(0),
    MAX_DELIVERY_DELAY,
  );
  requireDurationInRange(
    group,
    "queueProps.receiveMessageWaitTime",
    props.queueProps?.receiveMessageWaitTime,
    Duration.seconds(0),
    MAX_RECEIVE_WAIT,
  );
  requireIntegerInRange(
    group,
    "queueProps.maxMessageSizeBytes",
    props.queueProps?.maxMessageSizeBytes,
    MIN_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
  );
  if (props.queue) validateBroughtQueue(group, props.queue, props);
  requireDurationInRange(
    group,
    "deadLetterRetentionPeriod",
    props.deadLetterRetentionPeriod,
    Duration.minutes(1),
    Duration.days(14),
  );
  if (props.fifo) {
    if (props.batchSize !== undefined && props.batchSize > FIFO_MAX_BATCH_SIZE) {
      fail(
        group,
        `batchSize must be <= ${FIFO_MAX_BATCH_SIZE} for a FIFO queue, but ${props.batchSize} was provided.`,
      );
    }
    if (props.maxBatchingWindow !== undefined) {
      fail(
        group,
        `maxBatchingWindow is not supported on FIFO queues, but ${props.maxBatchingWindow.toHumanString()} was provided; remove it.`,
      );
    }
  }
  // Lambda's SQS event source: BatchSize 1 to 10,000 (10 on FIFO), MaximumBatchingWindowInSeconds 0 to 300,
  // ScalingConfig.MaximumConcurrency 2 to 1,000 (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html,
  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html); SQS: maxReceiveCount 1 to 1,000
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html),
  // MessageRetentionPeriod 60 s to 14 days and VisibilityTimeout 0 to 12 h (API_CreateQueue, above).
  requireIntegerInRange(group, "batchSize", props.batchSize, 1, 10_000);
  requireDurationInRange(
    group,
    "maxBatchingWindow",
    props.maxBatchingWindow,
    Duration.seconds(0),
    Duration.minutes(5),
  );
  requireIntegerInRange(group, "maxConcurrency", props.maxConcurrency, 2, 1_000);
  requireIntegerInRange(group, "maxReceiveCount", props.maxReceiveCount, 1, 1_000);
  requireDurationInRange(
    group,
    "retentionPeriod",
    props.retentionPeriod,
    Duration.minutes(1),
    Duration.days(14),
  );
  requireDurationInRange(
    group,
    "visibilityTimeout",
    props.visibilityTimeout,
    Duration.seconds(0),
    MAX_VISIBILITY_TIMEOUT,
  );

  const timeout = props.consumer ? timeoutOf(props.consumer) : undefined;
  if (props.consumer && !timeout && !props.visibilityTimeout) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:unknownConsumerTimeout",
      `The consumer ${props.consumer.node.path} is imported, so its timeout is unknown here and the queue's ` +
        "visibility timeout defaults to 30 seconds; if the function can run longer, messages are delivered " +
        "twice. Set visibilityTimeout to 6 x its timeout + the batching window.",
    );
  }
  if (
    props.visibilityTimeout &&
    timeout &&
    !props.visibilityTimeout.isUnresolved() &&
    !timeout.isUnresolved()
  ) {
    const window = props.maxBatchingWindow?.toSeconds() ?? 0;
    const needed = timeout.toSeconds() + window;
    const advised = VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds() + window;
    const given = props.visibilityTimeout.toSeconds();
    if (given < needed) {
      fail(
        group,
        `visibilityTimeout must be at least the consumer's timeout plus the batching window (${needed} seconds), ` +
          `but ${given} seconds was provided; AWS advises ${advised} seconds (6 x timeout + window).`,
      );
    }
    if (given < advised) {
      Annotations.of(group).addWarningV2(
        "serverless-broker:visibilityTimeout",
        `visibilityTimeout is ${given} seconds; AWS advises at least ${advised} (6 x the consumer's timeout + batching window).`,
      );
    }
  }
  if (props.maxReceiveCount !== undefined && props.queue) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:maxReceiveCount",
      "maxReceiveCount has no effect on a queue you bring; set its redrive policy.",
    );
  }
}

/** A number-valued CloudFormation attribute of a queue created in this app, or its default; undefined if a token. */
function queueSeconds(
  queue: Queue,
  attribute: "messageRetentionPeriod" | "visibilityTimeout",
): number | undefined {
  const cfn = queue.node.defaultChild as CfnQueue;
  const value = cfn[attribute];
  if (value === undefined) {
    return attribute === "messageRetentionPeriod"
      ? SQS_DEFAULT_RETENTION_SECONDS
      : SQS_DEFAULT_VISIBILITY_SECONDS;
  }
  return typeof value === "number" && !Token.isUnresolved(value) ? value : undefined;
}

/**
 * A group given its own queue: what CDK can see of a `Queue` created in this app is checked as for the queue
 * the group would create; an imported queue gets a warning naming what the user must arrange.
 */
function validateBroughtQueue(
  group: QueueConsumerGroup,
  queue: IQueue,
  props: QueueConsumerGroupProps,
): void {
  if (!(queue instanceof Queue)) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:importedQueueSettings",
      `The queue ${queue.node.path} is imported, so its settings cannot be checked here. Make sure its visibility ` +
        "timeout is at least 6 x the consumer's timeout + the batching window (Lambda refuses an event source " +
        "whose queue's visibility timeout is below the function's timeout), and that its redrive policy names a " +
        `${props.fifo ? "FIFO" : "standard"} dead-letter queue that keeps messages longer than the queue does.`,
    );
    return;
  }
  const deadLetter = queue.deadLetterQueue;
  if (!deadLetter) {
    Annotations.of(group).addWarningV2(
      "serverless-broker:broughtQueueWithoutDeadLetterQueue",
      `The queue ${queue.node.path} has no dead-letter queue: a message that keeps failing is retried until its ` +
        "retention ends and is then lost, and `serverless-broker dlq` has nothing to list. Give it deadLetterQueue.",
    );
  } else {
    // "The dead-letter queue of a FIFO queue must also be a FIFO queue. Similarly, the dead-letter queue of a
    // standard queue must also be a standard queue."
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html)
    if (deadLetter.queue.fifo !== queue.fifo) {
      fail(
        group,
        `the queue ${queue.node.path} is ${queue.fifo ? "FIFO" : "standard"} but its dead-letter queue ` +
          `${deadLetter.queue.node.path} is ${deadLetter.queue.fifo ? "FIFO" : "standard"}; SQS requires both of one type.`,
      );
    }
    const source = queueSeconds(queue, "messageRetentionPeriod");
    const dead =
      deadLetter.queue instanceof Queue
        ? queueSeconds(deadLetter.queue, "messageRetentionPeriod")
        : undefined;
    if (source !== undefined && dead !== undefined && dead <= source) {
      // Same rule as requireDeadLetterOutlivesSource, for a queue the user built.
      fail(
        group,
        `the dead-letter queue ${deadLetter.queue.node.path} keeps messages ${dead} seconds, which is not longer than ` +
          `the queue ${queue.node.path} (${source} seconds): a dead letter keeps its original enqueue time and could ` +
          "expire on arrival. Give the dead-letter queue a longer retentionPeriod (up to 14 days).",
      );
    }
  }
  const timeout = props.consumer ? timeoutOf(props.consumer) : undefined;
  const visibility = queueSeconds(queue, "visibilityTimeout");
  if (timeout && !timeout.isUnresolved() && visibility !== undefined) {
    // Lambda: "Your function's timeout must be less than or equal to the queue's visibility timeout. Lambda
    // validates this requirement when you create or update an event source mapping"; AWS advises 6 x the timeout + the batching window
    // (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
    if (visibility < timeout.toSeconds()) {
      fail(
        group,
        `the queue ${queue.node.path} has a visibility timeout of ${visibility} seconds, below the consumer's ` +
          `timeout (${timeout.toSeconds()} seconds), which Lambda refuses; give the queue a visibilityTimeout of ` +
          `${VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds() + (props.maxBatchingWindow?.toSeconds() ?? 0)} seconds.`,
      );
    }
  }
}

/**
 * A standard queue's message keeps its original enqueue timestamp when it moves to the dead-letter queue, so
 * the dead-letter queue must retain messages longer than the source queue, or a dead letter can expire as
 * soon as it arrives: "it is a best practice to always set the retention period of a dead-letter queue to be
 * longer than the retention period of the original queue"
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
 * Checked when both retentions are known at synth.
 */
function requireDeadLetterOutlivesSource(scope: Construct, deadLetter: Duration, source: Duration): void {
  if (deadLetter.isUnresolved() || source.isUnresolved()) return;
  if (deadLetter.toSeconds() <= source.toSeconds()) {
    fail(
      scope,
      `the dead-letter queue keeps messages ${deadLetter.toHumanString()}, which is not longer than the queue's ` +
        `retentionPeriod (${source.toHumanString()}): a dead letter keeps its original enqueue time and could ` +
        `expire on arrival. Set retentionPeriod below ${deadLetter.toHumanString()}, or raise deadLetterRetentionPeriod.`,
    );
  }
}
