import { Annotations, Duration, type RemovalPolicy } from "aws-cdk-lib";
import type { IAlarmAction, Metric, MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import type { Grant, IGrantable } from "aws-cdk-lib/aws-iam";
import { Stream, StreamEncryption, StreamMode } from "aws-cdk-lib/aws-kinesis";
import type { IKey } from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";
import { ALARM_PERIOD, createAlarms } from "./alarms.js";
import { claimGroupName } from "./consumer-group-name.js";
import type { DedupTable } from "./dedup-table.js";
import { applyDataRemovalPolicy } from "./removal-policy.js";
import { StreamConsumerGroup, type StreamConsumerGroupOptions } from "./stream-consumer-group.js";
import { fail, requireDurationInRange, requireIntegerInRange } from "./validation.js";

export interface ShardedStreamProps {
  /** Provisioned shards, 1 to 4,096 (the per-stream default quota is 500): each takes 1 MiB/s or 1,000 records/s in. @default 1 */
  readonly shardCount?: number;
  /** On-demand capacity instead of provisioned shards. @default false */
  readonly onDemand?: boolean;
  /** How long records stay readable (and replayable), 24 hours to 365 days. @default Duration.days(7) */
  readonly retentionPeriod?: Duration;
  /** A customer-managed KMS key. @default - the AWS-managed key aws/kinesis */
  readonly encryptionKey?: IKey;
  /** Injected into every consumer function of the stream's groups. @default - no dedup table */
  readonly dedupTable?: DedupTable;
  /** Where the groups' alarms notify. @default - alarms without actions */
  readonly alarmAction?: IAlarmAction;
  /**
   * What happens to the stream, its groups' on-failure queues and the KMS keys created here when they leave
   * the stack: all retained, or all destroyed. @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Kinesis: "a maximum of 20 consumers registered per data stream" with enhanced fan-out, and at most 5
 * RegisterStreamConsumer calls in flight ("you can register up to 5 consumers ... at a time")
 * (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html).
 */
const MAX_ENHANCED_FAN_OUT_CONSUMERS = 20;
const ENHANCED_FAN_OUT_REGISTRATIONS_AT_ONCE = 5;

export type StreamConsumerGroupListener = (group: StreamConsumerGroup) => void;

/**
 * A Kinesis data stream as a sharded, ordered channel: records of one partition key stay in order on one
 * shard. Encrypted, with consumer groups that each read every record.
 *
 * ```ts
 * const ledger = new ShardedStream(this, "Ledger", { shardCount: 2 });
 * ledger.addConsumerGroup("ledger", { consumer: ledgerFunction });
 * ledger.grantWrite(checkoutFunction);
 * ```
 */
export class ShardedStream extends Construct {
  readonly stream: Stream;
  private readonly groups: StreamConsumerGroup[] = [];
  private readonly listeners: StreamConsumerGroupListener[] = [];

  constructor(
    scope: Construct,
    id: string,
    private readonly props: ShardedStreamProps = {},
  ) {
    super(scope, id);
    applyDataRemovalPolicy(this, props.removalPolicy);
    if (props.onDemand && props.shardCount !== undefined) {
      fail(this, "shardCount is for provisioned streams; remove it, or set onDemand: false.");
    }
    // Kinesis: a provisioned stream has at least 1 shard (the account's shard quota per Region is a soft limit,
    // https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html); retention is 24 hours to
    // 8,760 hours (https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html).
    requireIntegerInRange(this, "shardCount", props.shardCount, 1, 4_096);
    requireDurationInRange(
      this,
      "retentionPeriod",
      props.retentionPeriod,
      Duration.hours(24),
      Duration.days(365),
    );
    this.stream = new Stream(this, "Stream", {
      ...(props.onDemand
        ? { streamMode: StreamMode.ON_DEMAND }
        : { streamMode: StreamMode.PROVISIONED, shardCount: props.shardCount ?? 1 }),
      retentionPeriod: props.retentionPeriod ?? Duration.days(7),
      ...(props.encryptionKey
        ? { encryption: StreamEncryption.KMS, encryptionKey: props.encryptionKey }
        : { encryption: StreamEncryption.MANAGED }),
    });
    this.addThrottlingAlarms();
  }

  /** Writes and reads refused for lack of shard capacity. */
  private addThrottlingAlarms(): void {
    createAlarms(
      this,
      [
        {
          id: "WriteThrottlesAlarm",
          description: `Writes to the stream are throttled (${this.node.path}): add shards or go on demand`,
          metric: this.stream.metricWriteProvisionedThroughputExceeded({
            statistic: "Sum",
            period: ALARM_PERIOD,
          }),
          threshold: 1,
        },
        {
          id: "ReadThrottlesAlarm",
          description: `Reads from the stream are throttled (${this.node.path}): too many shared-throughput groups`,
          metric: this.stream.metricReadProvisionedThroughputExceeded({
            statistic: "Sum",
            period: ALARM_PERIOD,
          }),
          threshold: 1,
        },
      ],
      this.props.alarmAction,
    );
  }

  get consumerGroups(): readonly StreamConsumerGroup[] {
    return this.groups;
  }

  /** Adds a consumer group: a Lambda consumer that reads every record of the stream, in shard order. */
  addConsumerGroup(name: string, options: StreamConsumerGroupOptions): StreamConsumerGroup {
    claimGroupName(this, name, this.props.dedupTable ? [this.props.dedupTable] : []);
    if (options.enhancedFanOut) {
      const registered = this.groups.filter((group) => group.streamConsumer).length + 1;
      if (registered > MAX_ENHANCED_FAN_OUT_CONSUMERS) {
        fail(
          this,
          `group "${name}" would be enhanced fan-out consumer number ${registered} of this stream, but Kinesis allows ` +
            `at most ${MAX_ENHANCED_FAN_OUT_CONSUMERS} per stream; read it with shared throughput (enhancedFanOut: false).`,
        );
      }
      if (registered === ENHANCED_FAN_OUT_REGISTRATIONS_AT_ONCE + 1) {
        Annotations.of(this).addWarningV2(
          "serverless-broker:enhancedFanOutRegistrations",
          `More than ${ENHANCED_FAN_OUT_REGISTRATIONS_AT_ONCE} enhanced fan-out consumers on this stream: Kinesis ` +
            `registers at most ${ENHANCED_FAN_OUT_REGISTRATIONS_AT_ONCE} at a time, so a deployment creating more ` +
            "at once can fail with LimitExceededException; add them over several deployments.",
        );
      }
    }
    const group = new StreamConsumerGroup(this, name, {
      ...options,
      name,
      stream: this.stream,
      ...(this.props.dedupTable ? { dedupTable: this.props.dedupTable } : {}),
      ...(this.props.alarmAction ? { alarmAction: this.props.alarmAction } : {}),
    });
    this.groups.push(group);
    for (const listener of this.listeners) listener(group);
    return group;
  }

  /** Lets `grantee` write to this stream only (PutRecord, PutRecords, and the key if customer-managed). */
  grantWrite(grantee: IGrantable): Grant {
    return this.stream.grantWrite(grantee);
  }

  /**
   * Lets `grantee` read this stream (DescribeStream, GetShardIterator, GetRecords, ListShards, and decrypt with
   * its key if customer-managed): for a reader that is not one of its groups, or `serverless-broker replay`.
   */
  grantRead(grantee: IGrantable): Grant {
    return this.stream.grantRead(grantee);
  }

  /** Any of the stream's AWS/Kinesis metrics, by name (sum over 1 minute). */
  metric(metricName: string, props?: MetricOptions): Metric {
    return this.stream.metric(metricName, { statistic: "Sum", period: Duration.minutes(1), ...props });
  }

  onConsumerGroup(listener: StreamConsumerGroupListener): void {
    this.listeners.push(listener);
    for (const group of this.groups) listener(group);
  }

  /** Records written (sum over 1 minute). */
  metricIncomingRecords(props?: MetricOptions): Metric {
    return this.stream.metricIncomingRecords({ statistic: "Sum", period: Duration.minutes(1), ...props });
  }

  /** Writes refused for lack of shard capacity (sum over 1 minute). */
  metricWriteThrottles(props?: MetricOptions): Metric {
    return this.stream.metricPutRecordsThrottledRecords({
      statistic: "Sum",
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Age of the last record read by any consumer, in milliseconds (maximum over 1 minute). */
  metricIteratorAge(props?: MetricOptions): Metric {
    return this.stream.metricGetRecordsIteratorAgeMilliseconds({
      statistic: "Maximum",
      period: Duration.minutes(1),
      ...props,
    });
  }
}
