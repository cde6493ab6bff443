import { Duration, Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { StartingPosition } from "aws-cdk-lib/aws-lambda";
import { describe, expect, it } from "vitest";
import { ShardedStream } from "../../infra/constructs/sharded-stream.js";
import { BROKER_ENV } from "../../lambdas/runtime/constants.js";
import { consumerFunction, template, testApp, testStack, validationFindings } from "../support/cdk.js";

describe("ShardedStream", () => {
  it("creates a provisioned stream encrypted with the AWS-managed Kinesis key, keeping records 7 days", () => {
    const stack = testStack();
    new ShardedStream(stack, "Ledger", { shardCount: 2 });

    template(stack).hasResourceProperties("AWS::Kinesis::Stream", {
      ShardCount: 2,
      StreamModeDetails: { StreamMode: "PROVISIONED" },
      RetentionPeriodHours: 168,
      StreamEncryption: { EncryptionType: "KMS", KeyId: "alias/aws/kinesis" },
    });
  });

  it("can be on demand, or encrypted with a key of your own", () => {
    const stack = testStack();
    new ShardedStream(stack, "Clicks", { onDemand: true, retentionPeriod: Duration.days(30) });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Kinesis::Stream", {
      StreamModeDetails: { StreamMode: "ON_DEMAND" },
      ShardCount: Match.absent(),
      RetentionPeriodHours: 720,
    });
  });

  it("attaches a consumer group with partial batch responses, bisect on error, finite retries and age, and an on-failure queue", () => {
    const stack = testStack();
    const ledger = new ShardedStream(stack, "Ledger", { shardCount: 2 });
    const group = ledger.addConsumerGroup("ledger", {
      consumer: consumerFunction(stack, "LedgerConsumer"),
      parallelizationFactor: 2,
    });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [stack.getLogicalId(ledger.stream.node.defaultChild as never), "Arn"] },
      StartingPosition: "TRIM_HORIZON",
      BatchSize: 100,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86_400,
      ParallelizationFactor: 2,
      DestinationConfig: {
        OnFailure: {
          Destination: {
            "Fn::GetAtt": [stack.getLogicalId(group.onFailureQueue?.node.defaultChild as never), "Arn"],
          },
        },
      },
    });
    assert.hasResourceProperties("AWS::SQS::Queue", {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    assert.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          [BROKER_ENV.consumerGroup]: "ledger",
          [BROKER_ENV.deadLetterQueueUrl]: {
            Ref: stack.getLogicalId(group.onFailureQueue?.node.defaultChild as never),
          },
        }),
      },
    });
  });

  it("gives a group an enhanced fan-out consumer, a tumbling window and a starting position when asked", () => {
    const stack = testStack();
    const ledger = new ShardedStream(stack, "Ledger");
    const group = ledger.addConsumerGroup("totals", {
      consumer: consumerFunction(stack, "Totals"),
      enhancedFanOut: true,
      tumblingWindow: Duration.minutes(1),
      startingPosition: StartingPosition.LATEST,
      onFailure: false,
    });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Kinesis::StreamConsumer", {
      ConsumerName: Match.stringLikeRegexp("^totals-"),
    });
    assert.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: {
        "Fn::GetAtt": [stack.getLogicalId(group.streamConsumer?.node.defaultChild as never), "ConsumerARN"],
      },
      TumblingWindowInSeconds: 60,
      StartingPosition: "LATEST",
      DestinationConfig: Match.absent(),
    });
  });

  it("grants write on this stream only", () => {
    const stack = testStack();
    const ledger = new ShardedStream(stack, "Ledger");
    ledger.grantWrite(new Role(stack, "Writer", { assumedBy: new ServicePrincipal("lambda.amazonaws.com") }));

    template(stack).hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(["kinesis:PutRecord", "kinesis:PutRecords"]),
            Resource: { "Fn::GetAtt": [stack.getLogicalId(ledger.stream.node.defaultChild as never), "Arn"] },
          }),
        ]),
      },
    });
  });

  it("alarms on the group's iterator age, its on-failure queue and its consumer's errors and throttles", () => {
    const stack = testStack();
    new ShardedStream(stack, "Ledger").addConsumerGroup("ledger", {
      consumer: consumerFunction(stack, "L"),
      maxIteratorAge: Duration.minutes(2),
    });
    const assert = template(stack);

    // Four for the group, two for the stream's read and write throttling.
    assert.resourceCountIs("AWS::CloudWatch::Alarm", 6);
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "IteratorAge",
      Namespace: "AWS/Lambda",
      Threshold: 120_000,
    });
    assert.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateNumberOfMessagesVisible",
      Threshold: 1,
    });
  });

  it("exposes write throttles and iterator age metrics", () => {
    const ledger = new ShardedStream(testStack(), "Ledger");
    expect(ledger.metricWriteThrottles()).toMatchObject({
      metricName: "PutRecords.ThrottledRecords",
      statistic: "Sum",
    });
    expect(ledger.metricIteratorAge()).toMatchObject({
      metricName: "GetRecords.IteratorAgeMilliseconds",
      statistic: "Maximum",
    });
  });

  it("passes cdk-nag and CloudFormation validation with no findings", () => {
    const app = testApp({ nag: true });
    const stack = new Stack(app, "Nag");
    new ShardedStream(stack, "Ledger", { shardCount: 2 }).addConsumerGroup("ledger", {
      consumer: consumerFunction(stack, "L"),
    });

    expect(validationFindings(app)).toEqual([]);
  });
});

describe("ShardedStream bad input fails synth naming the construct path and the value", () => {
  const stream = (stack: Stack) => new ShardedStream(stack, "S");
  it.each([
    [
      "a parallelization factor over 10",
      (stack: Stack) =>
        stream(stack).addConsumerGroup("g", {
          consumer: consumerFunction(stack, "F"),
          parallelizationFactor: 11,
        }),
      /^Test\/S\/g: parallelizationFactor must be a whole number from 1 to 10, but 11 was provided\.$/,
    ],
    [
      "a retention under 24 hours",
      (stack: Stack) => new ShardedStream(stack, "S", { retentionPeriod: Duration.hours(12) }),
      /^Test\/S: retentionPeriod must be from 1 day to 365 days, but 12 hours was provided\.$/,
    ],
    [
      "a retention over 365 days",
      (stack: Stack) => new ShardedStream(stack, "S", { retentionPeriod: Duration.days(400) }),
      /^Test\/S: retentionPeriod must be from 1 day to 365 days, but 400 days was provided\.$/,
    ],
    [
      "a max record age over 7 days",
      (stack: Stack) =>
        stream(stack).addConsumerGroup("g", {
          consumer: consumerFunction(stack, "F"),
          maxRecordAge: Duration.days(8),
        }),
      /^Test\/S\/g: maxRecordAge must be from 1 minute to 7 days, but 8 days was provided\.$/,
    ],
    [
      "a shard count on an on-demand stream",
      (stack: Stack) => new ShardedStream(stack, "S", { onDemand: true, shardCount: 4 }),
      /^Test\/S: shardCount is for provisioned streams/,
    ],
    [
      "a duplicate group name",
      (stack: Stack) => {
        const s = stream(stack);
        s.addConsumerGroup("ledger", { consumer: consumerFunction(stack, "A") });
        s.addConsumerGroup("ledger", { consumer: consumerFunction(stack, "B") });
      },
      /^Test\/S: a consumer group named "ledger" already exists at Test\/S\/ledger/,
    ],
  ])("%s", (_, build, message) => {
    expect(() => build(testStack())).toThrow(message);
  });
});
