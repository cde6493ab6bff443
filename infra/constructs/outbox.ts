import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import type { Alarm, IAlarmAction, Metric, MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import { type IRole, Policy } from "aws-cdk-lib/aws-iam";
import type { IStream } from "aws-cdk-lib/aws-kinesis";
import { FilterCriteria, FilterRule, type IFunction, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { BROKER_ENV, DEDUP_TABLE, RESERVED_CONSUMER_GROUPS } from "../../lambdas/runtime/constants.js";
import { ALARM_PERIOD, createAlarms } from "./alarms.js";
import { acknowledgeDeadLetterQueue, bindConsumerEnvironment } from "./consumer-binding.js";
import { ConsumerFunction } from "./consumer-function.js";
import type { DedupTable } from "./dedup-table.js";
import type { IFanOutTopic } from "./fan-out-topic.js";
import { applyDataRemovalPolicy } from "./removal-policy.js";
import type { ShardedStream } from "./sharded-stream.js";
import { shippedHandler } from "./shipped-handler.js";
import { fail, requireIntegerInRange } from "./validation.js";

const RELAY_ENTRY = shippedHandler("outbox-relay");

export interface OutboxProps {
  /** The dedup table the transactional handlers commit to; it must keep a stream (`stream: true`). */
  readonly dedupTable: DedupTable;
  /**
   * Topics the relay may publish to: the broker's, or any SNS topic (`ITopic`, e.g. `Topic.fromTopicArn`).
   * More can be added with `addDestination`. @default - none
   */
  readonly topics?: readonly (IFanOutTopic | ITopic)[];
  /** Streams the relay may write to: the broker's, or any Kinesis stream (`IStream`). @default - none */
  readonly streams?: readonly (ShardedStream | IStream)[];
  /** Outbox rows per relay invocation, 1 to 10,000. @default 100 */
  readonly batchSize?: number;
  /** Retries of a failing batch before Lambda gives up on it (to the on-failure queue). @default 10 */
  readonly retryAttempts?: number;
  /** @default - the serverless-broker relay, as a ConsumerFunction */
  readonly relay?: IFunction;
  readonly alarmAction?: IAlarmAction;
  /** What happens to the relay's on-failure queue when it leaves the stack. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The transactional outbox: a relay function reading the dedup table's stream (only new `outbox#` rows,
 * by event filter) and publishing each row to its topic or stream with its original id. With the
 * runtime's transactional mode, a handler's writes and its outgoing messages to several topics commit
 * atomically, and reach subscribers exactly once after downstream dedup.
 */
export class Outbox extends Construct {
  readonly relay: IFunction;
  readonly onFailureQueue: Queue;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: OutboxProps) {
    super(scope, id);
    applyDataRemovalPolicy(this, props.removalPolicy);
    const stream = props.dedupTable.table.tableStreamArn;
    if (!stream)
      fail(
        this,
        "the dedup table keeps no stream; create it with { stream: true } so that the relay can read the outbox.",
      );
    // Lambda's DynamoDB Streams event source: BatchSize 1 to 10,000, MaximumRetryAttempts to 10,000
    // (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
    requireIntegerInRange(this, "batchSize", props.batchSize, 1, 10_000);
    requireIntegerInRange(this, "retryAttempts", props.retryAttempts, 0, 10_000);

    this.relay = props.relay ?? new ConsumerFunction(this, "Relay", { entry: RELAY_ENTRY });
    this.onFailureQueue = new Queue(this, "OnFailureQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeDeadLetterQueue(
      this.onFailureQueue,
      "This queue is the relay's on-failure (dead-letter) destination; it needs no dead-letter queue of its own.",
    );
    this.relay.addEventSource(
      new DynamoEventSource(props.dedupTable.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? 100,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: props.retryAttempts ?? 10,
        maxRecordAge: Duration.days(1),
        onFailure: new SqsDlq(this.onFailureQueue),
        // Only new outbox rows wake the relay; dedup claims and checkpoints on the same table do not.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual("INSERT"),
            dynamodb: {
              Keys: { [DEDUP_TABLE.partitionKey]: { S: FilterRule.beginsWith(DEDUP_TABLE.outboxPrefix) } },
            },
          }),
        ],
      }),
    );
    this.onFailureQueue.grantSendMessages(this.relay);
    bindConsumerEnvironment(this, this.relay, {
      [BROKER_ENV.consumerGroup]: RESERVED_CONSUMER_GROUPS.outboxRelay,
      [BROKER_ENV.deadLetterQueueUrl]: this.onFailureQueue.queueUrl,
    });
    if (this.relay.role) {
      const role = this.relay.role;
      Validations.of(role).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "dynamodb:ListStreams, which Lambda's DynamoDB Streams event source needs, cannot be scoped to a resource.",
      });
      // That acknowledgement is per role, wider than its one finding: keep it honest by failing synth if
      // anything but dynamodb:ListStreams is ever granted to the relay on "*".
      this.node.addValidation({ validate: () => wildcardGrantsBeyondListStreams(role) });
      Validations.of(this.relay.role).acknowledge({
        id: "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        reason:
          "CDK's grant to publish to a KMS-encrypted topic: kms:GenerateDataKey* on that topic's key only.",
      });
    }
    for (const topic of props.topics ?? []) this.addDestination(topic);
    for (const destination of props.streams ?? []) this.addDestination(destination);

    this.alarms.push(
      ...createAlarms(
        this,
        [
          {
            id: "RelayErrorsAlarm",
            description: "The outbox relay fails",
            metric: this.relay.metricErrors({ period: ALARM_PERIOD }),
            threshold: 1,
          },
          {
            id: "RelayLagAlarm",
            description: "The outbox relay is over 5 minutes behind",
            metric: this.relay.metric("IteratorAge", { statistic: "Maximum", period: Duration.minutes(1) }),
            threshold: Duration.minutes(5).toMilliseconds(),
          },
          {
            id: "RelayDeadLettersAlarm",
            description: "Outbox rows are waiting in the relay's on-failure queue",
            metric: this.onFailureQueue.metricApproximateNumberOfMessagesVisible({
              statistic: "Maximum",
              period: Duration.minutes(1),
            }),
            threshold: 1,
          },
        ],
        props.alarmAction,
      ),
    );
  }

  /** How far behind the dedup table's stream the relay is, in milliseconds (maximum over 1 minute). */
  metricLag(props?: MetricOptions): Metric {
    return this.relay.metric("IteratorAge", { statistic: "Maximum", period: ALARM_PERIOD, ...props });
  }

  /** Outbox rows waiting in the relay's on-failure queue (maximum over 1 minute). */
  metricDlqDepth(props?: MetricOptions): Metric {
    return this.onFailureQueue.metricApproximateNumberOfMessagesVisible({
      statistic: "Maximum",
      period: ALARM_PERIOD,
      ...props,
    });
  }

  /** Lets the relay publish to one more topic or stream. */
  addDestination(destination: IFanOutTopic | ITopic | ShardedStream | IStream): void {
    if ("grantPublish" in destination) destination.grantPublish(this.relay);
    else destination.grantWrite(this.relay);
  }
}

/** Errors for each statement of `role`'s policies granting on "*" more than dynamodb:ListStreams. */
function wildcardGrantsBeyondListStreams(role: IRole): string[] {
  const errors: string[] = [];
  for (const policy of role.node.findAll().filter((child): child is Policy => child instanceof Policy)) {
    const document = Stack.of(role).resolve(policy.document.toJSON()) as
      | {
          Statement?: Array<{ Action: string | string[]; Resource: string | string[] }>;
        }
      | undefined;
    for (const statement of document?.Statement ?? []) {
      const resources = ([] as string[]).concat(statement.Resource);
      const actions = ([] as string[]).concat(statement.Action);
      const beyond = actions.filter((action) => action !== "dynamodb:ListStreams");
      if (resources.includes("*") && beyond.length > 0) {
        errors.push(
          `the relay's role ${role.node.path} is granted ${beyond.join(", ")} on "*"; the cdk-nag acknowledgement ` +
            "of IAM5[Resource::*] covers only dynamodb:ListStreams. Scope the grant to its resources.",
        );
      }
    }
  }
  return errors;
}
