/**
 * Issue 12: templates that synthesized but that AWS rejects at deploy time, or that deploy and then fail
 * silently. Each case names the AWS rule it guards; limits are tested on both sides.
 */
import { Duration, type Stack, Token } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { PolicyStatement, Role } from "aws-cdk-lib/aws-iam";
import { Alias, Key } from "aws-cdk-lib/aws-kms";
import { Function as LambdaFunction, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { FilterOrPolicy, SubscriptionFilter, Topic } from "aws-cdk-lib/aws-sns";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { DedupTable } from "../../infra/constructs/dedup-table.js";
import { FanOutTopic } from "../../infra/constructs/fan-out-topic.js";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { ShardedStream } from "../../infra/constructs/sharded-stream.js";
import { requireKinesisSources } from "../../infra/stacks/orders-stack.js";
import { consumerFunction, template, testStack } from "../support/cdk.js";

/** A function of another app: its timeout is unknown here. */
const importedFunction = (stack: Stack) =>
  LambdaFunction.fromFunctionAttributes(stack, "Theirs", {
    functionArn: "arn:aws:lambda:us-east-1:111111111111:function:theirs",
    role: Role.fromRoleArn(stack, "TheirRole", "arn:aws:iam::111111111111:role/theirs"),
    sameEnvironment: true,
  });

/** The IAM statements of every policy in the stack. */
function statements(stack: Stack): Array<Record<string, unknown>> {
  return Object.values(template(stack).findResources("AWS::IAM::Policy")).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties
        .PolicyDocument.Statement,
  );
}

const dedupStatementsOf = (stack: Stack) =>
  statements(stack).filter((statement) =>
    ([] as string[]).concat(statement.Action as string).includes("dynamodb:PutItem"),
  );

describe("isolation on the shared dedup table (item 6)", () => {
  it("scopes each group to its own dedup keys, stream groups also to their checkpoints, and only outbox writers to outbox rows", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { dedup: { stream: true } });
    const topic = broker.addTopic("Orders");
    topic.addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing"), outbox: true });
    topic.addConsumerGroup("shipping", { consumer: consumerFunction(stack, "Shipping") });
    broker.addStream("Ledger").addConsumerGroup("ledger", { consumer: consumerFunction(stack, "Ledger") });

    const leadingKeys = dedupStatementsOf(stack).map(
      (statement) =>
        (statement.Condition as Record<string, Record<string, string[]>>)["ForAllValues:StringLike"]?.[
          "dynamodb:LeadingKeys"
        ],
    );
    expect(leadingKeys).toEqual(
      expect.arrayContaining([
        ["billing#*", "outbox#*"],
        ["shipping#*"],
        ["ledger#*", "checkpoint#ledger#*"],
      ]),
    );
    expect(leadingKeys).toHaveLength(3);
    expect(leadingKeys.every((keys) => Array.isArray(keys))).toBe(true);
  });

  it("lets the outbox relay publish only to the destinations it was given", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { dedup: { stream: true } });
    const allowed = broker.addTopic("Allowed");
    broker.addTopic("Other");
    const outbox = broker.addOutbox("Outbox", { topics: [allowed] });
    const relayPolicy = statements(stack).filter((statement) =>
      ([] as string[]).concat(statement.Action as string).includes("sns:Publish"),
    );

    expect(relayPolicy).toEqual([
      expect.objectContaining({
        Resource: { Ref: stack.getLogicalId(allowed.topic.node.defaultChild as never) },
      }),
    ]);
    expect(outbox.relay).toBeDefined();
  });
});

describe("cdk-nag acknowledgements as narrow as their finding (item 8)", () => {
  it("fails synth if the relay's role, whose IAM5[Resource::*] is acknowledged for ListStreams, gets anything else on *", () => {
    const clean = testStack();
    new MessageBroker(clean, "Broker", { dedup: { stream: true } }).addOutbox("Outbox");
    expect(() => template(clean)).not.toThrow();

    const stack = testStack();
    const outbox = new MessageBroker(stack, "Broker", { dedup: { stream: true } }).addOutbox("Outbox");
    outbox.relay.addToRolePolicy(new PolicyStatement({ actions: ["s3:GetObject"], resources: ["*"] }));
    expect(() => template(stack)).toThrow(/granted s3:GetObject on "\*".*covers only dynamodb:ListStreams/);
  });
});

describe("customer-managed dedup key (item 2)", () => {
  it("grants consumers the table's key, without which every dedup call is denied", () => {
    const stack = testStack();
    const key = new Key(stack, "TableKey");
    const dedup = new DedupTable(stack, "Dedup", { encryptionKey: key });
    dedup.bindConsumer(consumerFunction(stack, "Consumer"), { group: "billing" });

    const kms = statements(stack).filter((statement) =>
      ([] as string[]).concat(statement.Action as string).includes("kms:Decrypt"),
    );
    expect(kms).toEqual([
      expect.objectContaining({
        Action: expect.arrayContaining(["kms:Decrypt", "kms:GenerateDataKey*"]),
        Resource: { "Fn::GetAtt": [stack.getLogicalId(key.node.defaultChild as never), "Arn"] },
      }),
    ]);
  });
});

describe("group names (item 7)", () => {
  it("refuses a group name already used by another topic or stream of the broker, naming both paths", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker");
    broker.addStream("Ledger").addConsumerGroup("ledger", { consumer: consumerFunction(stack, "A") });
    const audit = broker.addStream("Audit");

    expect(() => audit.addConsumerGroup("ledger", { consumer: consumerFunction(stack, "B") })).toThrow(
      /Test\/Broker\/Ledger\/ledger.*Test\/Broker\/Audit\/ledger cannot have it/,
    );
    broker.addTopic("Orders").addConsumerGroup("billing");
    expect(() => broker.addTopic("Refunds").addConsumerGroup("billing")).toThrow(/Broker\/Orders\/billing/);
    // A name of its own is fine.
    expect(() => audit.addConsumerGroup("audit", { consumer: consumerFunction(stack, "C") })).not.toThrow();
  });

  it.each(["outbox", "checkpoint", "outbox-relay", "Outbox"])(
    "refuses the reserved group name %s",
    (name) => {
      const stack = testStack();
      expect(() => new FanOutTopic(stack, "Orders").addConsumerGroup(name)).toThrow(/is reserved/);
    },
  );
});

describe("alarm topic (item 1)", () => {
  it("lets CloudWatch alarms use the alarm topic's key, for this account's alarms only", () => {
    const stack = testStack();
    new MessageBroker(stack, "Broker", { alarmTopic: true });

    template(stack).hasResourceProperties("AWS::KMS::Key", {
      Description: Match.stringLikeRegexp("alarm topic"),
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
            Condition: {
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
              ArnLike: { "aws:SourceArn": Match.anyValue() },
            },
          }),
        ]),
      },
    });
  });

  it("warns when a user's alarm topic has a key whose policy cannot be edited, and refuses a FIFO alarm topic", () => {
    const stack = testStack();
    const imported = Topic.fromTopicAttributes(stack, "Alarms", {
      topicArn: "arn:aws:sns:eu-west-1:111111111111:alarms",
      keyArn: "arn:aws:kms:eu-west-1:111111111111:key/abc",
    });
    new MessageBroker(stack, "Broker", { alarmTopic: imported });
    Annotations.fromStack(stack).hasWarning(
      "/Test/Broker",
      Match.stringLikeRegexp("cloudwatch.amazonaws.com"),
    );

    const fifo = new Topic(stack, "FifoAlarms", { fifo: true });
    expect(() => new MessageBroker(stack, "Broker2", { alarmTopic: fifo })).toThrow(
      /FIFO topic, which CloudWatch alarms cannot notify/,
    );
  });
});

describe("imported queue (item 3) and queue key (item 4)", () => {
  it("warns that an imported queue needs a policy for SNS and a redrive policy", () => {
    const stack = testStack();
    const queue = Queue.fromQueueArn(stack, "Theirs", "arn:aws:sqs:eu-west-1:111111111111:theirs");
    new FanOutTopic(stack, "Orders").addConsumerGroup("billing", { queue });
    Annotations.fromStack(stack).hasWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("sqs:SendMessage"),
    );
  });

  it("refuses an AWS-managed queue key (SNS cannot use alias/aws/sqs), accepts a customer-managed one", () => {
    const stack = testStack();
    expect(
      () =>
        new FanOutTopic(stack, "Orders", {
          queueEncryptionKey: Alias.fromAliasName(stack, "Managed", "alias/aws/sqs"),
        }),
    ).toThrow(/AWS-managed key alias\/aws\/sqs/);
    expect(
      () =>
        new FanOutTopic(stack, "Orders2", {
          queueEncryptionKey: Alias.fromAliasName(stack, "Mine", "alias/orders"),
        }),
    ).not.toThrow();
  });
});

describe("filters (item 5)", () => {
  it("refuses filterPolicy together with filterPolicyWithMessageBody", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    expect(() =>
      topic.addConsumerGroup("billing", {
        filterPolicy: { type: SubscriptionFilter.stringFilter({ allowlist: ["a"] }) },
        filterPolicyWithMessageBody: {
          total: FilterOrPolicy.filter(SubscriptionFilter.numericFilter({ greaterThan: 1 })),
        },
      }),
    ).toThrow(/cannot be combined/);
  });
});

describe("SQS event source limits", () => {
  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
  it("accepts batchSize 10 without a window, refuses 11 without one or below 1 s, accepts 11 with 1 s", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    expect(() =>
      topic.addConsumerGroup("a", { consumer: consumerFunction(stack, "A"), batchSize: 10 }),
    ).not.toThrow();
    expect(() =>
      topic.addConsumerGroup("b", { consumer: consumerFunction(stack, "B"), batchSize: 11 }),
    ).toThrow(/batchSize 11 is above 10.*at least 1 second/);
    expect(() =>
      topic.addConsumerGroup("c", {
        consumer: consumerFunction(stack, "C"),
        batchSize: 11,
        maxBatchingWindow: Duration.millis(500),
      }),
    ).toThrow(/batchSize 11/);
    expect(() =>
      topic.addConsumerGroup("d", {
        consumer: consumerFunction(stack, "D"),
        batchSize: 11,
        maxBatchingWindow: Duration.seconds(1),
      }),
    ).not.toThrow();
  });

  it("bounds each group's concurrency by default, so one busy group cannot starve the rest", () => {
    const stack = testStack();
    new FanOutTopic(stack, "Orders").addConsumerGroup("billing", {
      consumer: consumerFunction(stack, "Billing"),
    });
    template(stack).hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it("warns when an imported consumer's timeout is unknown and the visibility timeout is left at its default", () => {
    const stack = testStack();
    const imported = importedFunction(stack);
    new FanOutTopic(stack, "Orders").addConsumerGroup("billing", { consumer: imported });
    Annotations.fromStack(stack).hasWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("Set visibilityTimeout"),
    );

    const stack2 = testStack();
    const imported2 = importedFunction(stack2);
    new FanOutTopic(stack2, "Orders").addConsumerGroup("billing", {
      consumer: imported2,
      visibilityTimeout: Duration.minutes(6),
    });
    Annotations.fromStack(stack2).hasNoWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("Set visibilityTimeout"),
    );
  });

  it("warns when the dedup table forgets messages before the queue does", () => {
    const stack = testStack();
    // The queue keeps messages 4 days by default; the dedup table here only 2.
    const broker = new MessageBroker(stack, "Broker", { dedup: { retention: Duration.days(2) } });
    broker.addTopic("Orders").addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    Annotations.fromStack(stack).hasWarning(
      "/Test/Broker/Orders/billing",
      Match.stringLikeRegexp("processed again"),
    );
  });
});

describe("Kinesis limits", () => {
  it("refuses a FIFO queue as a stream group's on-failure destination", () => {
    const stack = testStack();
    const stream = new ShardedStream(stack, "Ledger");
    const fifo = new Queue(stack, "Failures", { fifo: true });
    expect(() =>
      stream.addConsumerGroup("ledger", { consumer: consumerFunction(stack, "A"), onFailure: fifo }),
    ).toThrow(/onFailure must be a standard SQS queue/);
    const standard = new Queue(stack, "StandardFailures");
    expect(() =>
      stream.addConsumerGroup("ledger2", { consumer: consumerFunction(stack, "B"), onFailure: standard }),
    ).not.toThrow();
  });

  it("allows 20 enhanced fan-out consumers on a stream, not 21, and warns above 5 at once", () => {
    const stack = testStack();
    const stream = new ShardedStream(stack, "Ledger");
    for (let index = 1; index <= 20; index++) {
      stream.addConsumerGroup(`g${index}`, {
        consumer: consumerFunction(stack, `F${index}`),
        enhancedFanOut: true,
      });
    }
    expect(() =>
      stream.addConsumerGroup("g21", { consumer: consumerFunction(stack, "F21"), enhancedFanOut: true }),
    ).toThrow(/at most 20 per stream/);
    Annotations.fromStack(stack).hasWarning("/Test/Ledger", Match.stringLikeRegexp("at most 5 at a time"));
  });

  it("does not warn about registrations with 5 enhanced fan-out consumers", () => {
    const stack = testStack();
    const stream = new ShardedStream(stack, "Ledger");
    for (let index = 1; index <= 5; index++) {
      stream.addConsumerGroup(`g${index}`, {
        consumer: consumerFunction(stack, `F${index}`),
        enhancedFanOut: true,
      });
    }
    Annotations.fromStack(stack).hasNoWarning("/Test/Ledger", Match.anyValue());
  });
});

describe("imported topics", () => {
  it("takes fifo from the caller when the ARN is a token, and warns when it is not given", () => {
    const stack = testStack();
    const arn = Token.asString({ "Fn::ImportValue": "OrdersTopicArn" });
    const fifo = FanOutTopic.fromTopicArn(stack, "Lifecycle", arn, { fifo: true });
    expect(fifo.fifo).toBe(true);
    fifo.addConsumerGroup("fulfillment");
    template(stack).hasResourceProperties("AWS::SQS::Queue", { FifoQueue: true });

    FanOutTopic.fromTopicArn(stack, "Unknown", Token.asString({ "Fn::ImportValue": "Other" }));
    Annotations.fromStack(stack).hasWarning("/Test/Unknown", Match.stringLikeRegexp("Pass fifo: true"));
  });

  it("refuses fifo that contradicts the ARN", () => {
    const stack = testStack();
    expect(() =>
      FanOutTopic.fromTopicArn(stack, "Orders", "arn:aws:sns:eu-west-1:111111111111:orders", { fifo: true }),
    ).toThrow(/does not end in ".fifo"/);
  });
});

describe("reference stack: kinesisCheckpoints", () => {
  it("fails synth when a checkpoints consumer also reads a DynamoDB stream", () => {
    const stack = testStack();
    const fn = consumerFunction(stack, "LedgerConsumer");
    requireKinesisSources(fn);
    new ShardedStream(stack, "Ledger").addConsumerGroup("ledger", { consumer: fn });
    expect(() => template(stack)).not.toThrow();

    const stack2 = testStack();
    const fn2 = consumerFunction(stack2, "LedgerConsumer");
    requireKinesisSources(fn2);
    const table = new DedupTable(stack2, "Dedup", { stream: true });
    fn2.addEventSource(new DynamoEventSource(table.table, { startingPosition: StartingPosition.LATEST }));
    expect(() => template(stack2)).toThrow(
      /"checkpoints" \(kinesisCheckpoints\) needs Kinesis shard ids.*DynamoEventSource/,
    );
  });
});

describe("alarms and dashboard (item 9)", () => {
  it("alarms on SNS delivery failures, on Kinesis read and write throttling, all over 1-minute periods", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { alarmTopic: true });
    broker.addTopic("Orders").addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    broker.addStream("Ledger");
    const assert = template(stack);

    for (const metricName of [
      "NumberOfNotificationsFailed",
      "WriteProvisionedThroughputExceeded",
      "ReadProvisionedThroughputExceeded",
    ]) {
      assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
        MetricName: metricName,
        AlarmActions: [{ Ref: Match.stringLikeRegexp("AlarmTopic") }],
      });
    }
    const periods = Object.values(assert.findResources("AWS::CloudWatch::Alarm")).map(
      (alarm) => (alarm as { Properties: { Period: number } }).Properties.Period,
    );
    expect(new Set(periods)).toEqual(new Set([60]));
  });

  it("shows the outbox relay on the broker's dashboard", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { dedup: { stream: true } });
    broker.addOutbox("Outbox");
    const body = JSON.stringify(template(stack).findResources("AWS::CloudWatch::Dashboard"));
    expect(body).toContain("Outbox (outbox relay): lag");
  });
});

describe("topic TLS", () => {
  it("denies every topic action without TLS, not only Publish", () => {
    const stack = testStack();
    new FanOutTopic(stack, "Orders");
    template(stack).hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: Match.arrayWith(["sns:Publish", "sns:SetTopicAttributes", "sns:Subscribe"]),
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      },
    });
  });
});
