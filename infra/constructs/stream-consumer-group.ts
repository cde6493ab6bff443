import { Duration } from "aws-cdk-lib";
import type { Alarm, IAlarmAction, Metric, MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import { type IStream, StreamConsumer } from "aws-cdk-lib/aws-kinesis";
import { type IFunction, StartingPosition } from "aws-cdk-lib/aws-lambda";
import {
  KinesisConsumerEventSource,
  KinesisEventSource,
  type KinesisEventSourceProps,
  SqsDlq,
} from "aws-cdk-lib/aws-lambda-event-sources";
import { type IQueue, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";

import { Construct } from "constructs";
import { BROKER_ENV, CONSUMER_METRICS } from "../../lambdas/runtime/constants.js";
import { consumerFunctionAlarms, createAlarms } from "./alarms.js";
import { acknowledgeDeadLetterQueue, bindConsumerEnvironment } from "./consumer-binding.js";
import type { DedupTable } from "./dedup-table.js";
import { consumerMetric } from "./queue-consumer-group.js";
import { fail, requireDurationInRange, requireIntegerInRange } from "./validation.js";

export interface StreamConsumerGroupOptions {
  /**
   * The Lambda function that processes this group, through a Kinesis event source with
   * ReportBatchItemFailures. It receives BROKER_CONSUMER_GROUP and BROKER_DLQ_URL (the on-failure queue,
   * where the runtime also sends poison) in its environment.
   */
  readonly consumer: IFunction;
  /** Records per invocation, 1 to 10,000. @default 100 */
  readonly batchSize?: number;
  /** How long to gather a batch, up to 5 minutes. @default - no batching window */
  readonly maxBatchingWindow?: Duration;
  /** Batches of one shard processed at once (order kept per partition key), 1 to 10. @default 1 */
  readonly parallelizationFactor?: number;
  /** Where a new group starts reading. @default StartingPosition.TRIM_HORIZON (everything retained) */
  readonly startingPosition?: StartingPosition;
  /** Split a failing batch in two and retry each half, to isolate the bad record. @default true */
  readonly bisectBatchOnError?: boolean;
  /** Retries of a failing batch before its records go to the on-failure destination, 0 to 10,000. @default 10 */
  readonly retryAttempts?: number;
  /** Records older than this go to the on-failure destination unprocessed, 1 minute to 7 days. @default Duration.days(1) */
  readonly maxRecordAge?: Duration;
  /**
   * Where Lambda sends what it gave up on (metadata of the failed batch), and the runtime sends poison
   * records with their reason. `false`: nowhere (records are skipped once retries run out).
   * @default - an encrypted SQS queue created for the group
   */
  readonly onFailure?: IQueue | false;
  /**
   * The consumer commits outbox rows (transactional mode with `transaction.publish`): it may also write
   * `outbox#` items on the dedup table. Other groups cannot. @default false
   */
  readonly outbox?: boolean;
  /**
   * A dedicated-throughput (enhanced fan-out) consumer for this group. A stream takes at most 20 of them.
   * @default false
   */
  readonly enhancedFanOut?: boolean;
  /** Aggregate state across invocations over windows of this length, up to 15 minutes. @default - none */
  readonly tumblingWindow?: Duration;
  /** Alarm when the group falls this far behind the stream. @default Duration.minutes(5) */
  readonly maxIteratorAge?: Duration;
}

export interface StreamConsumerGroupProps extends StreamConsumerGroupOptions {
  readonly name: string;
  readonly stream: IStream;
  readonly dedupTable?: DedupTable;
  readonly alarmAction?: IAlarmAction;
}

/**
 * One consumer group of a sharded stream: a Lambda consumer reading every record in shard order, with
 * finite retries, bisect on error and an on-failure queue, and alarms on lag, errors and throttles.
 */
export class StreamConsumerGroup extends Construct {
  readonly name: string;
  readonly consumer: IFunction;
  readonly onFailureQueue: IQueue | undefined;
  readonly streamConsumer: StreamConsumer | undefined;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: StreamConsumerGroupProps) {
    super(scope, id);
    this.name = props.name;
    this.consumer = props.consumer;
    validateOptions(this, props);

    if (props.onFailure === false) {
      this.onFailureQueue = undefined;
    } else if (props.onFailure) {
      this.onFailureQueue = props.onFailure;
    } else {
      const queue = new Queue(this, "OnFailureQueue", {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      acknowledgeDeadLetterQueue(
        queue,
        "This queue is the dead-letter destination of a Kinesis consumer group; it needs no dead-letter queue of its own.",
      );
      this.onFailureQueue = queue;
    }

    const sourceProps: KinesisEventSourceProps = {
      startingPosition: props.startingPosition ?? StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 100,
      reportBatchItemFailures: true,
      bisectBatchOnError: props.bisectBatchOnError ?? true,
      retryAttempts: props.retryAttempts ?? 10,
      maxRecordAge: props.maxRecordAge ?? Duration.days(1),
      parallelizationFactor: props.parallelizationFactor ?? 1,
      ...(props.maxBatchingWindow ? { maxBatchingWindow: props.maxBatchingWindow } : {}),
      ...(props.tumblingWindow ? { tumblingWindow: props.tumblingWindow } : {}),
      ...(this.onFailureQueue ? { onFailure: new SqsDlq(this.onFailureQueue) } : {}),
    };
    if (props.enhancedFanOut) {
      this.streamConsumer = new StreamConsumer(this, "StreamConsumer", {
        stream: props.stream,
        streamConsumerName: `${props.name}-${this.node.addr.slice(0, 8)}`,
      });
      props.consumer.addEventSource(new KinesisConsumerEventSource(this.streamConsumer, sourceProps));
    } else {
      this.streamConsumer = undefined;
      props.consumer.addEventSource(new KinesisEventSource(props.stream, sourceProps));
    }

    const environment: Record<string, string> = {
      [BROKER_ENV.consumerGroup]: this.name,
      // kinesisCheckpoints() reads it, and refuses to run above 1.
      [BROKER_ENV.parallelizationFactor]: String(props.parallelizationFactor ?? 1),
    };
    if (this.onFailureQueue) {
      this.onFailureQueue.grantSendMessages(props.consumer);
      environment[BROKER_ENV.deadLetterQueueUrl] = this.onFailureQueue.queueUrl;
    }
    bindConsumerEnvironment(this, props.consumer, environment);
    props.dedupTable?.bindConsumer(props.consumer, {
      group: this.name,
      checkpoints: true,
      outbox: props.outbox ?? false,
    });
    this.addAlarms(props);
  }

  /** How far behind the stream the group's consumer is, in milliseconds (maximum over 1 minute). */
  metricIteratorAge(props?: MetricOptions): Metric {
    return this.consumer.metric("IteratorAge", {
      statistic: "Maximum",
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Any of the runtime's EMF metrics for this group, by name (`CONSUMER_METRICS`; sum over 1 minute). */
  metric(metricName: string, props?: MetricOptions): Metric {
    return consumerMetric(this.name, metricName, props);
  }

  /** Records the consumer wrapper processed (its EMF metric; sum over 1 minute). */
  metricProcessed(props?: MetricOptions): Metric {
    return consumerMetric(this.name, CONSUMER_METRICS.processed, props);
  }

  /** Records the consumer wrapper reported failed or dead-lettered (sum over 1 minute). */
  metricFailed(props?: MetricOptions): Metric {
    return consumerMetric(this.name, CONSUMER_METRICS.failed, props);
  }

  /** Messages waiting in the on-failure queue (maximum over 1 minute). */
  metricDlqDepth(props?: MetricOptions): Metric | undefined {
    return this.onFailureQueue?.metricApproximateNumberOfMessagesVisible({
      statistic: "Maximum",
      period: Duration.minutes(1),
      ...props,
    });
  }

  private addAlarms(props: StreamConsumerGroupProps): void {
    const subject = `consumer group ${this.name}`;
    const maxAge = props.maxIteratorAge ?? Duration.minutes(5);
    const dlqDepth = this.metricDlqDepth();
    this.alarms.push(
      ...createAlarms(
        this,
        [
          {
            id: "IteratorAgeAlarm",
            description: `The consumer is over ${maxAge.toHumanString()} behind the stream (${subject})`,
            metric: this.metricIteratorAge(),
            threshold: maxAge.toMilliseconds(),
            evaluationPeriods: 3,
          },
          ...(dlqDepth
            ? [
                {
                  id: "DeadLettersAlarm",
                  description: `Records are waiting in the on-failure queue (${subject})`,
                  metric: dlqDepth,
                  threshold: 1,
                },
              ]
            : []),
          ...consumerFunctionAlarms(props.consumer, subject),
        ],
        props.alarmAction,
      ),
    );
  }
}

function validateOptions(group: StreamConsumerGroup, props: StreamConsumerGroupProps): void {
  const onFailure = props.onFailure || undefined;
  if (onFailure?.fifo) {
    // Lambda's on-failure destinations for stream sources are standard SQS queues or SNS topics:
    // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-async-destinations
    fail(
      group,
      `onFailure must be a standard SQS queue, but ${onFailure.node.path} is a FIFO queue, which Lambda ` +
        "cannot send a stream's failed batches to.",
    );
  }
  // Lambda's Kinesis event source: BatchSize 1 to 10,000, MaximumBatchingWindowInSeconds 0 to 300,
  // ParallelizationFactor 1 to 10, MaximumRetryAttempts -1 to 10,000 (-1, infinite, not offered: a poison record
  // would hold its shard until it expires), MaximumRecordAgeInSeconds -1 or 60 to 604,800, TumblingWindowInSeconds
  // 0 to 900 (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
  // https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html).
  requireIntegerInRange(group, "batchSize", props.batchSize, 1, 10_000);
  requireDurationInRange(
    group,
    "maxBatchingWindow",
    props.maxBatchingWindow,
    Duration.seconds(0),
    Duration.minutes(5),
  );
  requireIntegerInRange(group, "parallelizationFactor", props.parallelizationFactor, 1, 10);
  requireIntegerInRange(group, "retryAttempts", props.retryAttempts, 0, 10_000);
  requireDurationInRange(group, "maxRecordAge", props.maxRecordAge, Duration.minutes(1), Duration.days(7));
  requireDurationInRange(
    group,
    "tumblingWindow",
    props.tumblingWindow,
    Duration.seconds(0),
    Duration.minutes(15),
  );
  if (props.startingPosition === StartingPosition.AT_TIMESTAMP) {
    fail(
      group,
      "startingPosition AT_TIMESTAMP needs a timestamp; use TRIM_HORIZON or LATEST, or a KinesisEventSource of your own.",
    );
  }
}
