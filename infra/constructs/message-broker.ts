import { Annotations, type RemovalPolicy, Stack } from "aws-cdk-lib";
import type { IAlarmAction } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Effect, PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { type IKey, Key } from "aws-cdk-lib/aws-kms";
import { type ITopic, Topic } from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { BrokerDashboard } from "./broker-dashboard.js";
import { DedupTable, type DedupTableProps } from "./dedup-table.js";
import { FanOutTopic, type FanOutTopicProps, type IFanOutTopic } from "./fan-out-topic.js";
import { Outbox, type OutboxProps } from "./outbox.js";
import { applyDataRemovalPolicy } from "./removal-policy.js";
import { ShardedStream, type ShardedStreamProps } from "./sharded-stream.js";
import { fail } from "./validation.js";

export interface MessageBrokerProps {
  /** The dedup table for exactly-once processing, injected into every consumer; `false` for none. @default true */
  readonly dedup?: boolean | DedupTableProps;
  /**
   * Where every alarm of the topology notifies: a topic of yours, or `true` for a new encrypted one
   * (subscribe your pager to it). @default - alarms without actions
   */
  readonly alarmTopic?: ITopic | boolean;
  /** @default - generated */
  readonly dashboardName?: string;
  /**
   * One policy for every data-bearing resource of the topology: the dedup table, streams, queues and
   * dead-letter queues, and the KMS keys that encrypt them (a retained table with a destroyed key would be
   * unreadable). `RemovalPolicy.DESTROY` deletes them all with the stack; there is no half and half, so a
   * child given a different `removalPolicy` fails synth.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A topology: topics and streams that share a dedup table, an alarm destination and one dashboard.
 *
 * ```ts
 * const broker = new MessageBroker(this, "Orders", { alarmTopic: true });
 * const events = broker.addTopic("OrderEvents");
 * events.addConsumerGroup("billing", { consumer: billingFunction });
 * const ledger = broker.addStream("Ledger", { shardCount: 2 });
 * ledger.addConsumerGroup("ledger", { consumer: ledgerFunction });
 * ```
 */
export class MessageBroker extends Construct {
  readonly dedupTable: DedupTable | undefined;
  readonly alarmTopic: ITopic | undefined;
  readonly dashboard: BrokerDashboard;
  /** The removal policy of every data-bearing resource of the topology. */
  readonly removalPolicy: RemovalPolicy;
  private readonly alarmAction: IAlarmAction | undefined;

  constructor(scope: Construct, id: string, props: MessageBrokerProps = {}) {
    super(scope, id);
    const dedup = props.dedup ?? true;
    // A broker created before this prop existed may still say dedup: { removalPolicy }; read it as the broker's.
    const dedupPolicy = typeof dedup === "object" ? dedup.removalPolicy : undefined;
    if (props.removalPolicy === undefined && dedupPolicy !== undefined) {
      this.removalPolicy = applyDataRemovalPolicy(this, dedupPolicy);
    } else {
      this.removalPolicy = applyDataRemovalPolicy(this, props.removalPolicy);
      this.requireSamePolicy("dedup.removalPolicy", dedupPolicy);
    }
    this.dedupTable =
      dedup === false
        ? undefined
        : new DedupTable(this, "DedupTable", {
            ...(dedup === true ? {} : dedup),
            removalPolicy: this.removalPolicy,
          });
    if (props.alarmTopic === true) {
      const key = new Key(this, "AlarmTopicKey", {
        enableKeyRotation: true,
        description: `Encrypts the alarm topic of ${this.node.path}`,
      });
      allowCloudWatchAlarms(key);
      this.alarmTopic = new Topic(this, "AlarmTopic", { masterKey: key, enforceSSL: true });
    } else if (props.alarmTopic) {
      const topic = props.alarmTopic;
      // CloudWatch alarm actions publish to standard topics only
      // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions.html).
      if (topic.fifo) {
        fail(
          this,
          `alarmTopic ${topic.node.path} is a FIFO topic, which CloudWatch alarms cannot notify; use a standard topic.`,
        );
      }
      if (topic.masterKey instanceof Key) {
        allowCloudWatchAlarms(topic.masterKey);
      } else if (topic.masterKey) {
        Annotations.of(this).addWarningV2(
          "serverless-broker:alarmTopicKey",
          `The alarm topic ${topic.node.path} is encrypted with a key whose policy cannot be edited here: let ` +
            "cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey* on it, or no alarm notification arrives.",
        );
      }
      this.alarmTopic = topic;
    } else {
      this.alarmTopic = undefined;
    }
    this.alarmAction = this.alarmTopic ? new SnsAction(this.alarmTopic) : undefined;
    this.dashboard = new BrokerDashboard(this, "Dashboard", {
      title: `${id}: serverless-broker topology`,
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
    });
  }

  /** A fan-out topic of this topology. */
  addTopic(id: string, props: FanOutTopicProps = {}): FanOutTopic {
    this.requireSamePolicy(`${id}: removalPolicy`, props.removalPolicy);
    const topic = new FanOutTopic(this, id, {
      ...this.shared(),
      ...props,
      removalPolicy: this.removalPolicy,
    });
    this.dashboard.addTopic(topic);
    return topic;
  }

  /** An existing topic, to add consumer groups of this topology to. */
  importTopic(id: string, topicArn: string): IFanOutTopic {
    const topic = FanOutTopic.fromTopicArn(this, id, topicArn, this.shared());
    this.dashboard.addTopic(topic);
    return topic;
  }

  /** The transactional outbox of this topology's dedup table (created with `dedup: { stream: true }`). */
  addOutbox(id: string, props: Omit<OutboxProps, "dedupTable"> = {}): Outbox {
    if (!this.dedupTable) fail(this, "addOutbox needs the dedup table; do not set dedup: false.");
    this.requireSamePolicy(`${id}: removalPolicy`, props.removalPolicy);
    const outbox = new Outbox(this, id, {
      ...props,
      removalPolicy: this.removalPolicy,
      dedupTable: this.dedupTable,
      ...(this.alarmAction ? { alarmAction: this.alarmAction } : {}),
    });
    this.dashboard.addOutbox(outbox);
    return outbox;
  }

  /** A sharded stream of this topology. */
  addStream(id: string, props: ShardedStreamProps = {}): ShardedStream {
    this.requireSamePolicy(`${id}: removalPolicy`, props.removalPolicy);
    const stream = new ShardedStream(this, id, {
      ...this.shared(),
      ...props,
      removalPolicy: this.removalPolicy,
    });
    this.dashboard.addStream(stream);
    return stream;
  }

  /** Never half and half: a child's removal policy, if given, must be the broker's. */
  private requireSamePolicy(name: string, policy: RemovalPolicy | undefined): void {
    if (policy !== undefined && policy !== this.removalPolicy) {
      fail(
        this,
        `${name} is ${policy}, but the broker's removalPolicy is ${this.removalPolicy}; set removalPolicy on the ` +
          "broker only, so that data and the keys that encrypt it are retained or destroyed together.",
      );
    }
  }

  private shared() {
    return {
      removalPolicy: this.removalPolicy,
      ...(this.dedupTable ? { dedupTable: this.dedupTable } : {}),
      ...(this.alarmAction ? { alarmAction: this.alarmAction } : {}),
    };
  }
}

/**
 * CloudWatch publishes an alarm's notification to an encrypted topic only if the topic key's policy lets
 * it use the key: kms:Decrypt and kms:GenerateDataKey*, limited to this account's alarms
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions.html, "encrypted topics";
 * https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
 */
function allowCloudWatchAlarms(key: IKey): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new PolicyStatement({
      sid: "AllowCloudWatchAlarmsToNotify",
      effect: Effect.ALLOW,
      principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      resources: ["*"],
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnLike: {
          "aws:SourceArn": `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
        },
      },
    }),
  );
}
