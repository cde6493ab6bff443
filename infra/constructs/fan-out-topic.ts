import { Annotations, Duration, type RemovalPolicy, Token } from "aws-cdk-lib";
import type { IAlarmAction, Metric, MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import { AnyPrincipal, Effect, type Grant, type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { type IKey, Key } from "aws-cdk-lib/aws-kms";
import { FifoThroughputScope, type ITopic, Topic } from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { createAlarms } from "./alarms.js";
import { claimGroupName } from "./consumer-group-name.js";
import type { DedupTable } from "./dedup-table.js";
import { QueueConsumerGroup, type QueueConsumerGroupOptions } from "./queue-consumer-group.js";
import { applyDataRemovalPolicy } from "./removal-policy.js";
import { fail, requireIntegerInRange } from "./validation.js";

/**
 * The actions an SNS topic policy can grant or deny
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html).
 */
const TOPIC_POLICY_ACTIONS = [
  "sns:AddPermission",
  "sns:DeleteTopic",
  "sns:GetDataProtectionPolicy",
  "sns:GetTopicAttributes",
  "sns:ListSubscriptionsByTopic",
  "sns:ListTagsForResource",
  "sns:Publish",
  "sns:PutDataProtectionPolicy",
  "sns:RemovePermission",
  "sns:SetTopicAttributes",
  "sns:Subscribe",
];

/** What a fan-out topic shares with one imported from elsewhere. */
export interface FanOutTopicCommonProps {
  /** Injected into every consumer function of the topic's groups, for exactly-once processing. @default - no dedup table */
  readonly dedupTable?: DedupTable;
  /** Where the groups' alarms notify (an SNS action, say). @default - alarms without actions */
  readonly alarmAction?: IAlarmAction;
  /**
   * What happens to the groups' queues and dead-letter queues, and the KMS keys created here, when they leave
   * the stack: all retained, or all destroyed. @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export interface FanOutTopicProps extends FanOutTopicCommonProps {
  /** A FIFO topic: ordered per message group, exactly-once delivery to FIFO queues. @default false */
  readonly fifo?: boolean;
  /** FIFO only: deduplicate by a hash of the body when a message has no deduplication id. @default false */
  readonly contentBasedDeduplication?: boolean;
  /** FIFO only: archive messages for this many days (1 to 365), so that subscriptions can replay them. @default - no archive */
  readonly archiveRetentionDays?: number;
  /** The KMS key that encrypts the topic. @default - a new customer-managed key with rotation */
  readonly encryptionKey?: IKey;
  /**
   * The KMS key that encrypts the groups' queues and dead-letter queues. SNS must be allowed to use it,
   * which the subscriptions arrange on a customer-managed key; an AWS-managed key such as alias/aws/sqs
   * cannot be opened to SNS, and delivery would fail (aws-cdk#19796). It is not the topic's key: that
   * key's policy would then name the topic that uses it, a circular dependency.
   * @default - a new customer-managed key with rotation
   */
  readonly queueEncryptionKey?: IKey;
  /**
   * FIFO only: high throughput. The topic's throughput counts per message group (FifoThroughputScope
   * MessageGroup), and every group's queues deduplicate and count throughput per message group too, as
   * AWS advises for subscribed queues, or they would become the bottleneck
   * (https://docs.aws.amazon.com/sns/latest/dg/fifo-high-throughput.html). Deduplication then holds within a
   * message group only. @default false
   */
  readonly highThroughput?: boolean;
  /** @default - none */
  readonly displayName?: string;
}

/** How to import a topic created elsewhere. */
export interface ImportedFanOutTopicProps extends FanOutTopicCommonProps {
  /** The topic's KMS key, so that grantPublish covers it. @default - the topic is not encrypted with a key of yours */
  readonly topicEncryptionKey?: IKey;
  /**
   * Whether the topic is FIFO. Needed when the ARN is a token (an import, a parameter): CDK can then not
   * tell from the name, and would take it for a standard topic. @default - from the ARN's `.fifo` suffix
   */
  readonly fifo?: boolean;
}

export type ConsumerGroupListener = (group: QueueConsumerGroup) => void;

/** A topic with consumer groups: created by this app or imported. */
export interface IFanOutTopic extends Construct {
  readonly topic: ITopic;
  readonly fifo: boolean;
  readonly consumerGroups: readonly QueueConsumerGroup[];
  addConsumerGroup(name: string, options?: QueueConsumerGroupOptions): QueueConsumerGroup;
  grantPublish(grantee: IGrantable): Grant;
  /** Calls `listener` for every group, those there now and those added later (dashboards use it). */
  onConsumerGroup(listener: ConsumerGroupListener): void;
  metricPublished(props?: MetricOptions): Metric;
}

abstract class FanOutTopicBase extends Construct implements IFanOutTopic {
  abstract readonly topic: ITopic;
  abstract readonly fifo: boolean;
  private readonly groups: QueueConsumerGroup[] = [];
  private readonly listeners: ConsumerGroupListener[] = [];

  protected constructor(
    scope: Construct,
    id: string,
    private readonly common: FanOutTopicCommonProps,
  ) {
    super(scope, id);
    applyDataRemovalPolicy(this, common.removalPolicy);
  }

  /** The key the groups' queues are encrypted with. */
  protected abstract get queueKey(): IKey;

  /** Whether the groups' queues are made for FIFO high throughput. */
  protected get highThroughput(): boolean {
    return false;
  }

  get consumerGroups(): readonly QueueConsumerGroup[] {
    return this.groups;
  }

  /**
   * Adds a consumer group: its own queue and dead-letter queue subscribed to this topic, optionally
   * filtered, optionally consumed by a Lambda function. Every group receives its own copy of each message.
   */
  addConsumerGroup(name: string, options: QueueConsumerGroupOptions = {}): QueueConsumerGroup {
    claimGroupName(this, name, this.common.dedupTable ? [this.common.dedupTable] : []);
    const group = new QueueConsumerGroup(this, name, {
      ...options,
      name,
      topic: this.topic,
      fifo: this.fifo,
      encryptionKey: this.queueKey,
      highThroughput: this.highThroughput,
      ...(this.common.dedupTable ? { dedupTable: this.common.dedupTable } : {}),
      ...(this.common.alarmAction ? { alarmAction: this.common.alarmAction } : {}),
    });
    this.groups.push(group);
    if (this.groups.length === 1) this.addDeliveryAlarm();
    for (const listener of this.listeners) listener(group);
    return group;
  }

  /**
   * SNS reports delivery failures per topic (NumberOfNotificationsFailed has no subscription dimension); each
   * group's subscription keeps what failed in its dead-letter queue, whose alarm names the group.
   */
  private addDeliveryAlarm(): void {
    createAlarms(
      this,
      [
        {
          id: "DeliveryFailuresAlarm",
          description: `SNS fails to deliver to a consumer group's queue (topic ${this.node.path})`,
          metric: this.metricDeliveryFailures(),
          threshold: 1,
        },
      ],
      this.common.alarmAction,
    );
  }

  /** Lets `grantee` publish to this topic only: sns:Publish, and the KMS actions its key needs. */
  grantPublish(grantee: IGrantable): Grant {
    return this.topic.grantPublish(grantee);
  }

  onConsumerGroup(listener: ConsumerGroupListener): void {
    this.listeners.push(listener);
    for (const group of this.groups) listener(group);
  }

  /** Messages published to the topic (sum over 1 minute). */
  metricPublished(props?: MetricOptions): Metric {
    return this.topic.metricNumberOfMessagesPublished({ period: Duration.minutes(1), ...props });
  }

  /** Any of the topic's AWS/SNS metrics, by name (sum over 1 minute). */
  metric(metricName: string, props?: MetricOptions): Metric {
    return this.topic.metric(metricName, { statistic: "Sum", period: Duration.minutes(1), ...props });
  }

  /** Deliveries SNS failed to make (sum over 1 minute). */
  metricDeliveryFailures(props?: MetricOptions): Metric {
    return this.topic.metricNumberOfNotificationsFailed({ period: Duration.minutes(1), ...props });
  }
}

/**
 * An SNS topic (standard or FIFO) that fans out to consumer groups, each an SQS queue of its own.
 * Encrypted with a KMS key that SNS may use for its queues, TLS required for publishers.
 *
 * ```ts
 * const orders = new FanOutTopic(this, "Orders");
 * orders.addConsumerGroup("billing", { consumer: billingFunction });
 * orders.addConsumerGroup("shipping", {
 *   consumer: shippingFunction,
 *   filterPolicy: { type: SubscriptionFilter.stringFilter({ allowlist: ["order.paid"] }) },
 * });
 * orders.grantPublish(checkoutFunction);
 * ```
 */
export class FanOutTopic extends FanOutTopicBase {
  /**
   * A topic created elsewhere, to add consumer groups to (their queues live in this stack, under a new
   * key). Name the topic's key in `topicEncryptionKey` if it has one, so that grantPublish covers it.
   */
  static fromTopicArn(
    scope: Construct,
    id: string,
    topicArn: string,
    props: ImportedFanOutTopicProps = {},
  ): IFanOutTopic {
    return new ImportedFanOutTopic(scope, id, topicArn, props);
  }

  readonly topic: Topic;
  readonly fifo: boolean;
  readonly encryptionKey: IKey;
  readonly queueEncryptionKey: IKey;
  private readonly fifoHighThroughput: boolean;

  constructor(scope: Construct, id: string, props: FanOutTopicProps = {}) {
    super(scope, id, props);
    this.fifo = props.fifo ?? false;
    this.fifoHighThroughput = props.highThroughput ?? false;
    if (!this.fifo && props.highThroughput) {
      fail(
        this,
        "highThroughput is for FIFO topics only (standard topics have no per-group limit); set fifo: true or remove it.",
      );
    }
    if (!this.fifo && props.contentBasedDeduplication) {
      fail(this, "contentBasedDeduplication is for FIFO topics only; set fifo: true or remove it.");
    }
    if (!this.fifo && props.archiveRetentionDays !== undefined) {
      fail(
        this,
        "archiveRetentionDays (message archiving) is for FIFO topics only; set fifo: true or remove it.",
      );
    }
    // SNS FIFO message archiving: "from 1 day to 365 days"
    // (https://docs.aws.amazon.com/sns/latest/dg/fifo-message-archiving-replay.html).
    requireIntegerInRange(this, "archiveRetentionDays", props.archiveRetentionDays, 1, 365);
    if (props.queueEncryptionKey)
      requireCustomerManagedKey(this, "queueEncryptionKey", props.queueEncryptionKey);
    this.encryptionKey =
      props.encryptionKey ??
      new Key(this, "Key", { enableKeyRotation: true, description: `Encrypts the topic ${this.node.path}` });
    this.queueEncryptionKey =
      props.queueEncryptionKey ??
      new Key(this, "QueueKey", {
        enableKeyRotation: true,
        description: `Encrypts the consumer group queues of ${this.node.path}`,
      });
    this.topic = new Topic(this, "Topic", {
      fifo: this.fifo,
      masterKey: this.encryptionKey,
      enforceSSL: true,
      ...(props.displayName ? { displayName: props.displayName } : {}),
      ...(props.contentBasedDeduplication ? { contentBasedDeduplication: true } : {}),
      ...(props.archiveRetentionDays ? { messageRetentionPeriodInDays: props.archiveRetentionDays } : {}),
      ...(props.highThroughput ? { fifoThroughputScope: FifoThroughputScope.MESSAGE_GROUP } : {}),
    });
    // enforceSSL denies only sns:Publish without TLS; deny every topic action a policy can name.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "DenyEveryActionWithoutTls",
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: TOPIC_POLICY_ACTIONS,
        resources: [this.topic.topicArn],
        conditions: { Bool: { "aws:SecureTransport": "false" } },
      }),
    );
  }

  protected get queueKey(): IKey {
    return this.queueEncryptionKey;
  }

  protected override get highThroughput(): boolean {
    return this.fifoHighThroughput;
  }
}

class ImportedFanOutTopic extends FanOutTopicBase {
  readonly topic: ITopic;
  readonly fifo: boolean;
  private readonly key: IKey;

  constructor(scope: Construct, id: string, topicArn: string, props: ImportedFanOutTopicProps) {
    super(scope, id, props);
    if (
      !Token.isUnresolved(topicArn) &&
      props.fifo !== undefined &&
      props.fifo !== topicArn.endsWith(".fifo")
    ) {
      fail(
        this,
        `fifo is ${props.fifo}, but the topic ARN ${topicArn} ${props.fifo ? "does not end" : "ends"} in ".fifo"; ` +
          "FIFO topic names end in .fifo. Correct one of the two.",
      );
    }
    this.topic = Topic.fromTopicAttributes(this, "Topic", {
      topicArn,
      ...(props.topicEncryptionKey ? { keyArn: props.topicEncryptionKey.keyArn } : {}),
      ...(props.fifo !== undefined ? { fifo: props.fifo } : {}),
    });
    this.fifo = props.fifo ?? this.topic.fifo;
    if (Token.isUnresolved(topicArn) && props.fifo === undefined) {
      Annotations.of(this).addWarningV2(
        "serverless-broker:importedTopicType",
        "The topic ARN is a token, so whether the topic is FIFO cannot be known here; it is taken as standard. " +
          "Pass fifo: true if it is a FIFO topic, or its groups get standard queues SNS cannot deliver to.",
      );
    }
    this.key = new Key(this, "QueueKey", {
      enableKeyRotation: true,
      description: `Encrypts the consumer group queues of ${topicArn}`,
    });
  }

  protected get queueKey(): IKey {
    return this.key;
  }
}

/**
 * SNS can deliver to an encrypted queue only if the queue key's policy lets sns.amazonaws.com use it; the
 * policy of an AWS-managed key (alias/aws/sqs) cannot be changed, so such a queue receives nothing
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic-sqs-queue-subscriptions.html,
 * aws-cdk#19796).
 */
function requireCustomerManagedKey(scope: Construct, name: string, key: IKey): void {
  const identifiers = [
    (key as { aliasName?: string }).aliasName,
    Token.isUnresolved(key.keyArn) ? undefined : key.keyArn,
    Token.isUnresolved(key.keyId) ? undefined : key.keyId,
  ];
  const managed = identifiers.find((value) => value !== undefined && /(^|:)alias\/aws\//.test(value));
  if (managed) {
    fail(
      scope,
      `${name} is the AWS-managed key ${managed}, whose policy cannot let SNS use it, so SNS could not deliver to ` +
        "the queues; use a customer-managed key (or leave it unset for a new one).",
    );
  }
}
