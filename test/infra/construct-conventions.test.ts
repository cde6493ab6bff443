/**
 * The conventions of aws-cdk-lib that CDK users reach for: grants for the things people do next to a
 * broker (consume a group's queue, read a stream, redrive dead letters), a generic `metric()`, escape hatches
 * for the underlying resources (FIFO high throughput, queue properties), dead-letter retention as a prop,
 * interface-typed destinations, and log groups whose removal policy is a choice.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Stream } from "aws-cdk-lib/aws-kinesis";
import { Topic } from "aws-cdk-lib/aws-sns";
import { FifoThroughputLimit, Queue } from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { ConsumerFunction } from "../../infra/constructs/consumer-function.js";
import { FanOutTopic } from "../../infra/constructs/fan-out-topic.js";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { ShardedStream } from "../../infra/constructs/sharded-stream.js";
import { CONSUMER_METRICS, METRICS_NAMESPACE } from "../../lambdas/runtime/constants.js";
import { consumerFunction, HANDLER_ENTRY, template, testStack } from "../support/cdk.js";

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Every statement of the role's policies, resolved. */
function statementsOf(stack: ReturnType<typeof testStack>, roleId: string): Statement[] {
  const policies = template(stack).findResources("AWS::IAM::Policy");
  return Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((statement) => ([] as string[]).concat(statement.Action));

function operatorRole(stack: ReturnType<typeof testStack>): Role {
  return new Role(stack, "Operator", { assumedBy: new ServicePrincipal("ec2.amazonaws.com") });
}

describe("grants", () => {
  it("grantConsume lets another principal receive and delete from the group's queue and decrypt it", () => {
    const stack = testStack();
    const group = new FanOutTopic(stack, "Orders").addConsumerGroup("billing");
    group.grantConsume(operatorRole(stack));
    const statements = statementsOf(stack, "Operator");
    expect(actionsOf(statements)).toEqual(
      expect.arrayContaining([
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "kms:Decrypt",
      ]),
    );
    expect(actionsOf(statements)).not.toContain("sqs:SendMessage");
  });

  it("grantRedrive reads the DLQ, sends to the group's own queue (not the topic) and only reads its dedup keys", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker");
    const group = broker.addTopic("Orders").addConsumerGroup("billing");
    group.grantRedrive(operatorRole(stack));
    const statements = statementsOf(stack, "Operator");
    const actions = actionsOf(statements);
    expect(actions).toEqual(
      expect.arrayContaining([
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "dynamodb:GetItem",
      ]),
    );
    expect(actions).not.toContain("sns:Publish");
    expect(actions).not.toContain("dynamodb:PutItem");
    const dynamo = statements.find((statement) => actionsOf([statement]).includes("dynamodb:GetItem"));
    expect(dynamo?.Condition).toEqual({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["billing#*", "checkpoint#billing#*"] },
    });
    // The send goes to the group's queue, the receive to its dead-letter queue.
    const queues = template(stack).findResources("AWS::SQS::Queue");
    const [dlqId] = Object.keys(queues).filter((id) => id.includes("DeadLetterQueue"));
    const [queueId] = Object.keys(queues).filter((id) => id.includes("billingQueue"));
    const send = statements.find((statement) => actionsOf([statement]).includes("sqs:SendMessage"));
    const receive = statements.find((statement) => actionsOf([statement]).includes("sqs:ReceiveMessage"));
    expect(JSON.stringify(send?.Resource)).toContain(queueId);
    expect(JSON.stringify(receive?.Resource)).toContain(dlqId);
  });

  it("grantRedrive on a group that brought its own queue fails naming the group and what to grant instead", () => {
    const stack = testStack();
    const group = new FanOutTopic(stack, "Orders").addConsumerGroup("billing", {
      queue: new Queue(stack, "Own"),
    });
    expect(() => group.grantRedrive(operatorRole(stack))).toThrow(/Orders\/billing.*uses its own queue/);
  });

  it("ShardedStream.grantRead lets a replay tool read records, not write them", () => {
    const stack = testStack();
    new ShardedStream(stack, "Ledger").grantRead(operatorRole(stack));
    const actions = actionsOf(statementsOf(stack, "Operator"));
    expect(actions).toEqual(expect.arrayContaining(["kinesis:GetRecords", "kinesis:GetShardIterator"]));
    expect(actions).not.toContain("kinesis:PutRecord");
  });
});

describe("metric()", () => {
  it("names any runtime metric of a group, and any AWS metric of a topic or stream", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    const group = topic.addConsumerGroup("billing");
    const streamGroup = new ShardedStream(stack, "Ledger").addConsumerGroup("ledger", {
      consumer: consumerFunction(stack, "LedgerFn"),
    });
    const duplicates = group.metric(CONSUMER_METRICS.duplicates);
    expect(duplicates.namespace).toBe(METRICS_NAMESPACE);
    expect(duplicates.dimensions).toMatchObject({ ConsumerGroup: "billing" });
    expect(streamGroup.metric(CONSUMER_METRICS.duplicates).dimensions).toMatchObject({
      ConsumerGroup: "ledger",
    });
    const delivered = topic.metric("NumberOfNotificationsDelivered");
    expect(delivered.namespace).toBe("AWS/SNS");
    expect(delivered.statistic).toBe("Sum");
    expect(new ShardedStream(stack, "Audit").metric("GetRecords.Bytes").namespace).toBe("AWS/Kinesis");
  });
});

describe("dead-letter retention", () => {
  it("is a prop, kept longer than the queue's and within SQS's 1 minute to 14 days", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("billing", { deadLetterRetentionPeriod: Duration.days(7) });
    template(stack).hasResourceProperties("AWS::SQS::Queue", {
      QueueName: Match.absent(),
      MessageRetentionPeriod: 7 * 86_400,
    });
    expect(() =>
      topic.addConsumerGroup("audit", {
        deadLetterRetentionPeriod: Duration.days(4),
        retentionPeriod: Duration.days(4),
      }),
    ).toThrow(/Orders\/audit.*not longer than the queue's retentionPeriod.*raise deadLetterRetentionPeriod/);
    expect(() => topic.addConsumerGroup("late", { deadLetterRetentionPeriod: Duration.days(15) })).toThrow(
      /deadLetterRetentionPeriod/,
    );
    expect(() =>
      topic.addConsumerGroup("own", {
        queue: new Queue(stack, "Own"),
        deadLetterRetentionPeriod: Duration.days(7),
      }),
    ).toThrow(/Orders\/own.*own queue/);
  });
});

describe("escape hatches", () => {
  it("highThroughput makes a FIFO topic and every group's queues count per message group", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders", { fifo: true, highThroughput: true });
    topic.addConsumerGroup("billing");
    const assert = template(stack);
    assert.hasResourceProperties("AWS::SNS::Topic", { FifoTopic: true, FifoThroughputScope: "MessageGroup" });
    const queues = Object.values(assert.findResources("AWS::SQS::Queue"));
    expect(queues).toHaveLength(2);
    for (const queue of queues) {
      expect(queue.Properties).toMatchObject({
        FifoQueue: true,
        DeduplicationScope: "messageGroup",
        FifoThroughputLimit: "perMessageGroupId",
      });
    }
    expect(() => new FanOutTopic(stack, "Standard", { highThroughput: true })).toThrow(
      /Standard.*highThroughput is for FIFO topics/,
    );
  });

  it("queueProps reach the group's queue; FIFO-only ones fail on a standard topic; a small max size warns", () => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("billing", {
      queueProps: { receiveMessageWaitTime: Duration.seconds(20), deliveryDelay: Duration.seconds(5) },
    });
    template(stack).hasResourceProperties("AWS::SQS::Queue", {
      ReceiveMessageWaitTimeSeconds: 20,
      DelaySeconds: 5,
      RedrivePolicy: Match.anyValue(),
    });
    expect(() =>
      topic.addConsumerGroup("audit", {
        queueProps: { fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID },
      }),
    ).toThrow(/Orders\/audit.*for FIFO queues/);
    topic.addConsumerGroup("small", { queueProps: { maxMessageSizeBytes: 1024 } });
    Annotations.fromStack(stack).hasWarning("*", Match.stringLikeRegexp("below SNS's 262144 bytes"));
  });
});

describe("interface-typed outbox destinations", () => {
  it("lets the relay publish to an imported SNS topic and write to an imported Kinesis stream", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker", { dedup: { stream: true } });
    const partnerTopic = Topic.fromTopicArn(stack, "Partner", "arn:aws:sns:us-east-1:111122223333:partner");
    const partnerStream = Stream.fromStreamArn(
      stack,
      "PartnerStream",
      "arn:aws:kinesis:us-east-1:111122223333:stream/partner",
    );
    const outbox = broker.addOutbox("Outbox", { topics: [partnerTopic], streams: [partnerStream] });
    const roleId = stack.getLogicalId(outbox.relay.role?.node.defaultChild as never);
    const statements = statementsOf(stack, roleId);
    const publish = statements.find((statement) => actionsOf([statement]).includes("sns:Publish"));
    expect(publish?.Resource).toBe("arn:aws:sns:us-east-1:111122223333:partner");
    const write = statements.find((statement) => actionsOf([statement]).includes("kinesis:PutRecord"));
    expect(write?.Resource).toBe("arn:aws:kinesis:us-east-1:111122223333:stream/partner");
  });
});

describe("consumer log groups", () => {
  it("go with the function by default and are kept when asked", () => {
    const stack = testStack();
    new ConsumerFunction(stack, "Default", { entry: HANDLER_ENTRY });
    new ConsumerFunction(stack, "Kept", {
      entry: HANDLER_ENTRY,
      logGroupRemovalPolicy: RemovalPolicy.RETAIN,
    });
    const groups = template(stack).findResources("AWS::Logs::LogGroup");
    const policy = (prefix: string) =>
      Object.entries(groups).find(([id]) => id.startsWith(prefix))?.[1]?.DeletionPolicy;
    expect(policy("DefaultLogs")).toBe("Delete");
    expect(policy("KeptLogs")).toBe("Retain");
  });
});
