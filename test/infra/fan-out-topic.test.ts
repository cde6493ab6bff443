import { Duration, Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { FilterOrPolicy, SubscriptionFilter } from "aws-cdk-lib/aws-sns";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { DedupTable } from "../../infra/constructs/dedup-table.js";
import { FanOutTopic } from "../../infra/constructs/fan-out-topic.js";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { BROKER_ENV } from "../../lambdas/runtime/constants.js";
import { consumerFunction, template, testApp, testStack, validationFindings } from "../support/cdk.js";

const logicalIdOf = (stack: ReturnType<typeof testStack>, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

describe("FanOutTopic", () => {
  it("encrypts the topic with a rotating customer-managed key and refuses publishers without TLS", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    const assert = template(stack);

    assert.hasResourceProperties("AWS::SNS::Topic", {
      KmsMasterKeyId: { "Fn::GetAtt": [logicalIdOf(stack, topic.encryptionKey), "Arn"] },
    });
    assert.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    assert.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
    expect(assert.findResources("AWS::SNS::Topic", { Properties: { TopicName: Match.anyValue() } })).toEqual(
      {},
    );
  });

  it("gives each consumer group its own encrypted queue and dead-letter queue, subscribed with raw delivery", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    const billing = topic.addConsumerGroup("billing");
    topic.addConsumerGroup("analytics");
    const assert = template(stack);

    assert.resourceCountIs("AWS::SQS::Queue", 4);
    assert.resourceCountIs("AWS::SNS::Subscription", 2);
    assert.hasResourceProperties("AWS::SQS::Queue", {
      KmsMasterKeyId: { "Fn::GetAtt": [logicalIdOf(stack, topic.queueEncryptionKey), "Arn"] },
      // 4 days (the default), shorter than the dead-letter queue's 14 days.
      MessageRetentionPeriod: 345_600,
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": [logicalIdOf(stack, billing.deadLetterQueue as Queue), "Arn"] },
        maxReceiveCount: 5,
      },
      VisibilityTimeout: 30,
    });
    assert.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "sqs",
      RawMessageDelivery: true,
      Endpoint: { "Fn::GetAtt": [logicalIdOf(stack, billing.queue as Queue), "Arn"] },
      // What SNS cannot deliver is kept in the group's dead-letter queue.
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": [logicalIdOf(stack, billing.deadLetterQueue as Queue), "Arn"] },
      },
    });
    expect(assert.findResources("AWS::SQS::Queue", { Properties: { QueueName: Match.anyValue() } })).toEqual(
      {},
    );
  });

  it("uses a queue key separate from the topic key, which SNS may use, and requires TLS on every queue", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("billing");
    const assert = template(stack);

    expect(logicalIdOf(stack, topic.queueEncryptionKey)).not.toBe(logicalIdOf(stack, topic.encryptionKey));
    assert.hasResourceProperties("AWS::KMS::Key", {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: "sns.amazonaws.com" },
            Action: Match.arrayWith(["kms:Decrypt", "kms:GenerateDataKey"]),
          }),
        ]),
      },
    });
    const policies = assert.findResources("AWS::SQS::QueuePolicy");
    expect(Object.keys(policies)).toHaveLength(2);
    for (const policy of Object.values(policies)) {
      expect(JSON.stringify(policy)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it("filters a group by message attributes or by payload", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("shipping", {
      filterPolicy: { type: SubscriptionFilter.stringFilter({ allowlist: ["order.paid"] }) },
    });
    topic.addConsumerGroup("big-orders", {
      filterPolicyWithMessageBody: {
        payload: FilterOrPolicy.policy({
          total: FilterOrPolicy.filter(SubscriptionFilter.numericFilter({ greaterThan: 100 })),
        }),
      },
      rawMessageDelivery: false,
    });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::SNS::Subscription", {
      FilterPolicy: { type: ["order.paid"] },
      RawMessageDelivery: true,
    });
    assert.hasResourceProperties("AWS::SNS::Subscription", {
      FilterPolicyScope: "MessageBody",
      FilterPolicy: { payload: { total: [{ numeric: [">", 100] }] } },
      RawMessageDelivery: false,
    });
  });

  it("attaches a consumer with partial batch responses, its settings, and the environment the runtime reads", () => {
    const stack = testStack();
    const dedupTable = new DedupTable(stack, "Dedup");
    const topic = new FanOutTopic(stack, "Orders", { dedupTable });
    const consumer = consumerFunction(stack, "Billing", Duration.seconds(20));
    const group = topic.addConsumerGroup("billing", {
      consumer,
      batchSize: 50,
      maxBatchingWindow: Duration.seconds(5),
      maxConcurrency: 4,
      maxReceiveCount: 3,
    });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [logicalIdOf(stack, group.queue as Queue), "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 4 },
    });
    assert.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          [BROKER_ENV.consumerGroup]: "billing",
          [BROKER_ENV.deadLetterQueueUrl]: { Ref: logicalIdOf(stack, group.deadLetterQueue as Queue) },
          [BROKER_ENV.maxReceiveCount]: "3",
          [BROKER_ENV.dedupTableName]: { Ref: logicalIdOf(stack, dedupTable.table) },
          [BROKER_ENV.dedupRetentionSeconds]: "1209600",
        }),
      },
    });
    // AWS guidance: 6 x the function timeout (20 s) + the batching window (5 s).
    assert.hasResourceProperties("AWS::SQS::Queue", { VisibilityTimeout: 125 });
  });

  it("lets a consumer read only its own group's queue", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    const billing = topic.addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    const analytics = topic.addConsumerGroup("analytics", { consumer: consumerFunction(stack, "Analytics") });
    const policies = template(stack).findResources("AWS::IAM::Policy");
    const billingPolicy = JSON.stringify(
      Object.entries(policies).find(([id]) => id.startsWith("BillingServiceRole"))?.[1],
    );

    expect(billingPolicy).toContain(logicalIdOf(stack, billing.queue as Queue));
    expect(billingPolicy).not.toContain(logicalIdOf(stack, analytics.queue as Queue));
    expect(billingPolicy).not.toContain(logicalIdOf(stack, analytics.deadLetterQueue as Queue));
  });

  it("grants publish on this topic and its key only", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    const publisher = new Role(stack, "Publisher", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
    });
    topic.grantPublish(publisher);

    template(stack).hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: "sns:Publish", Resource: { Ref: logicalIdOf(stack, topic.topic) } }),
          Match.objectLike({
            Action: Match.arrayWith(["kms:Decrypt", "kms:GenerateDataKey*"]),
            Resource: { "Fn::GetAtt": [logicalIdOf(stack, topic.encryptionKey), "Arn"] },
          }),
        ]),
      },
    });
  });

  it("alarms on dead letters, message age and consumer errors and throttles, notifying the alarm topic", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { alarmTopic: true, dedup: false });
    const topic = broker.addTopic("Orders");
    topic.addConsumerGroup("billing", {
      consumer: consumerFunction(stack, "Billing"),
      maxMessageAge: Duration.minutes(10),
    });
    const assert = template(stack);

    // Four for the group, one for the topic's delivery failures.
    assert.resourceCountIs("AWS::CloudWatch::Alarm", 5);
    const alarmAction = [{ Ref: logicalIdOf(stack, broker.alarmTopic as never) }];
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateNumberOfMessagesVisible",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      AlarmActions: alarmAction,
    });
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateAgeOfOldestMessage",
      Threshold: 600,
      AlarmActions: alarmAction,
    });
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "Errors", Namespace: "AWS/Lambda" });
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Throttles",
      Namespace: "AWS/Lambda",
    });
  });

  it("exposes metrics with sensible statistics", () => {
    const stack = testStack();
    const group = new FanOutTopic(stack, "Orders").addConsumerGroup("billing");

    expect(group.metricDlqDepth()).toMatchObject({
      metricName: "ApproximateNumberOfMessagesVisible",
      statistic: "Maximum",
    });
    expect(group.metricAgeOfOldestMessage()).toMatchObject({
      metricName: "ApproximateAgeOfOldestMessage",
      statistic: "Maximum",
    });
    expect(group.metricProcessed()).toMatchObject({
      namespace: "ServerlessBroker",
      metricName: "MessagesProcessed",
      dimensions: { service: "serverless-broker", ConsumerGroup: "billing" },
    });
  });

  describe("FIFO", () => {
    it("creates a FIFO topic and FIFO queues and dead-letter queues with valid names, and the archive for replay", () => {
      const stack = testStack();
      const topic = new FanOutTopic(stack, "Lifecycle", {
        fifo: true,
        contentBasedDeduplication: true,
        archiveRetentionDays: 7,
      });
      topic.addConsumerGroup("a-rather-long-consumer-group-name-for-x", {
        consumer: consumerFunction(stack, "Fulfillment"),
      });
      const assert = template(stack);

      assert.hasResourceProperties("AWS::SNS::Topic", {
        FifoTopic: true,
        ContentBasedDeduplication: true,
        TopicName: Match.stringLikeRegexp("\\.fifo$"),
        ArchivePolicy: { MessageRetentionPeriod: 7 },
      });
      const queues = Object.values(assert.findResources("AWS::SQS::Queue")).map((queue) => queue.Properties);
      expect(queues).toHaveLength(2);
      for (const queue of queues) {
        expect(queue.FifoQueue).toBe(true);
        expect(queue.QueueName).toMatch(/^[A-Za-z0-9_-]{1,75}\.fifo$/);
      }
      assert.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        BatchSize: 10,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    });
  });

  describe("imported with fromTopicArn", () => {
    it("subscribes new consumer groups to the existing topic and grants publish on it", () => {
      const stack = testStack();
      const topicArn = "arn:aws:sns:eu-west-1:111122223333:legacy-orders";
      const topic = FanOutTopic.fromTopicArn(stack, "Legacy", topicArn);
      topic.addConsumerGroup("audit");
      topic.grantPublish(
        new Role(stack, "Publisher", { assumedBy: new ServicePrincipal("lambda.amazonaws.com") }),
      );
      const assert = template(stack);

      assert.hasResourceProperties("AWS::SNS::Subscription", {
        TopicArn: topicArn,
        RawMessageDelivery: true,
      });
      assert.hasResourceProperties("AWS::IAM::Policy", {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Action: "sns:Publish", Resource: topicArn })]),
        },
      });
      assert.resourceCountIs("AWS::SNS::Topic", 0);
    });
  });

  it("passes cdk-nag's AWS Solutions rules and CloudFormation validation with no findings", () => {
    const app = testApp({ nag: true });
    const stack = new Stack(app, "Nag");
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    new FanOutTopic(stack, "Lifecycle", { fifo: true }).addConsumerGroup("fulfillment", {
      consumer: consumerFunction(stack, "Fulfillment"),
    });

    expect(validationFindings(app)).toEqual([]);
  });
});

describe("FanOutTopic bad input fails synth naming the construct path and the value", () => {
  it.each([
    [
      "a FIFO topic with a standard queue",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T", { fifo: true }).addConsumerGroup("g", {
          queue: new Queue(stack, "Standard"),
        }),
      /^Test\/T\/g: a FIFO topic can deliver only to FIFO queues, but the queue Test\/Standard is a standard queue\.$/,
    ],
    [
      "a standard topic with a FIFO queue",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T").addConsumerGroup("g", {
          queue: new Queue(stack, "Fifo", { fifo: true }),
        }),
      /^Test\/T\/g: a standard topic cannot deliver to the FIFO queue Test\/Fifo/,
    ],
    [
      "a FIFO batch size over 10",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T", { fifo: true }).addConsumerGroup("g", { batchSize: 25 }),
      /^Test\/T\/g: batchSize must be <= 10 for a FIFO queue, but 25 was provided\.$/,
    ],
    [
      "a batching window on FIFO",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T", { fifo: true }).addConsumerGroup("g", {
          maxBatchingWindow: Duration.seconds(10),
        }),
      /^Test\/T\/g: maxBatchingWindow is not supported on FIFO queues, but 10 seconds was provided/,
    ],
    [
      "a visibility timeout below the function's timeout",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T").addConsumerGroup("g", {
          consumer: consumerFunction(stack, "F", Duration.seconds(60)),
          visibilityTimeout: Duration.seconds(30),
        }),
      /^Test\/T\/g: visibilityTimeout must be at least the consumer's timeout plus the batching window \(60 seconds\), but 30 seconds was provided; AWS advises 360 seconds/,
    ],
    [
      "a retention over 14 days",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T").addConsumerGroup("g", { retentionPeriod: Duration.days(30) }),
      /^Test\/T\/g: retentionPeriod must be from 1 minute to 14 days, but 30 days was provided\.$/,
    ],
    [
      "a max concurrency of 1",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T").addConsumerGroup("g", { maxConcurrency: 1 }),
      /^Test\/T\/g: maxConcurrency must be a whole number from 2 to 1000, but 1 was provided\.$/,
    ],
    [
      "a duplicate group name",
      (stack: ReturnType<typeof testStack>) => {
        const topic = new FanOutTopic(stack, "T");
        topic.addConsumerGroup("billing");
        topic.addConsumerGroup("billing");
      },
      /^Test\/T: a consumer group named "billing" already exists at Test\/T\/billing, so Test\/T\/billing cannot have it; group names must be unique/,
    ],
    [
      "a group name with spaces",
      (stack: ReturnType<typeof testStack>) => new FanOutTopic(stack, "T").addConsumerGroup("my group"),
      /^Test\/T: consumer group name "my group" is not valid/,
    ],
    [
      "content-based deduplication on a standard topic",
      (stack: ReturnType<typeof testStack>) =>
        new FanOutTopic(stack, "T", { contentBasedDeduplication: true }),
      /^Test\/T: contentBasedDeduplication is for FIFO topics only/,
    ],
    [
      "an archive on a standard topic",
      (stack: ReturnType<typeof testStack>) => new FanOutTopic(stack, "T", { archiveRetentionDays: 7 }),
      /^Test\/T: archiveRetentionDays \(message archiving\) is for FIFO topics only/,
    ],
    [
      "one function consuming two groups",
      (stack: ReturnType<typeof testStack>) => {
        const topic = new FanOutTopic(stack, "T");
        const consumer = consumerFunction(stack, "Shared");
        topic.addConsumerGroup("a", { consumer });
        topic.addConsumerGroup("b", { consumer });
      },
      /^Test\/T\/b: the function Test\/Shared already consumes the group at Test\/T\/a/,
    ],
  ])("%s", (_, build, message) => {
    expect(() => build(testStack())).toThrow(message);
  });

  it("warns, without failing, when the visibility timeout is below AWS's 6x guidance", () => {
    const stack = testStack();
    new FanOutTopic(stack, "T").addConsumerGroup("g", {
      consumer: consumerFunction(stack, "F", Duration.seconds(30)),
      visibilityTimeout: Duration.seconds(60),
    });
    const warnings = stack.node
      .findAll()
      .flatMap((node) => node.node.metadata.filter((entry) => entry.type === "aws:cdk:warning"));
    expect(JSON.stringify(warnings)).toContain("visibilityTimeout is 60 seconds; AWS advises at least 180");
  });
});
