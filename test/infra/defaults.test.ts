import { Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { Key } from "aws-cdk-lib/aws-kms";
import { describe, expect, it } from "vitest";
import { ConsumerFunction } from "../../infra/constructs/consumer-function.js";
import { DedupTable } from "../../infra/constructs/dedup-table.js";
import { FanOutTopic } from "../../infra/constructs/fan-out-topic.js";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { consumerFunction, HANDLER_ENTRY, template, testStack } from "../support/cdk.js";

const DATA_TYPES = ["AWS::DynamoDB::Table", "AWS::Kinesis::Stream", "AWS::SQS::Queue", "AWS::KMS::Key"];

/** A broker with every kind of data-bearing resource: dedup table, topic queues and DLQs, stream, outbox. */
function fullBroker(stack: Stack, props: ConstructorParameters<typeof MessageBroker>[2] = {}): MessageBroker {
  const broker = new MessageBroker(stack, "Broker", { alarmTopic: true, dedup: { stream: true }, ...props });
  broker.addTopic("Events").addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
  broker.addStream("Ledger").addConsumerGroup("ledger", { consumer: consumerFunction(stack, "Ledger") });
  broker.addOutbox("Outbox");
  return broker;
}

function policiesOf(assert: Template): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>();
  for (const type of DATA_TYPES) {
    const resources = assert.findResources(type);
    expect(Object.keys(resources).length, type).toBeGreaterThan(0);
    const policies = new Set<string>();
    for (const resource of Object.values(resources)) {
      policies.add(`${resource.DeletionPolicy}/${resource.UpdateReplacePolicy}`);
    }
    seen.set(type, policies);
  }
  return seen;
}

describe("removal policy", () => {
  it("retains every table, stream, queue (dead-letter queues included) and KMS key by default", () => {
    const stack = testStack();
    fullBroker(stack);
    for (const [type, policies] of policiesOf(template(stack))) {
      expect([...policies], type).toEqual(["Retain/Retain"]);
    }
  });

  it("destroys them all when the broker's removalPolicy is DESTROY", () => {
    const stack = testStack();
    fullBroker(stack, { removalPolicy: RemovalPolicy.DESTROY });
    for (const [type, policies] of policiesOf(template(stack))) {
      expect([...policies], type).toEqual(["Delete/Delete"]);
    }
  });

  it("refuses a child whose removal policy differs from the broker's (never half and half)", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Broker");
    expect(() => broker.addStream("Ledger", { removalPolicy: RemovalPolicy.DESTROY })).toThrow(
      /^Test\/Broker: Ledger: removalPolicy is destroy, but the broker's removalPolicy is retain;/,
    );
    expect(
      () =>
        new MessageBroker(testStack(), "Broker", {
          removalPolicy: RemovalPolicy.RETAIN,
          dedup: { removalPolicy: RemovalPolicy.DESTROY },
        }),
    ).toThrow(/dedup\.removalPolicy is destroy, but the broker's removalPolicy is retain/);
  });

  it("retains a standalone topic's queues and keys too, unless asked to destroy them", () => {
    const retained = testStack();
    new FanOutTopic(retained, "Events").addConsumerGroup("billing");
    const destroyed = testStack();
    new FanOutTopic(destroyed, "Events", { removalPolicy: RemovalPolicy.DESTROY }).addConsumerGroup(
      "billing",
    );
    for (const type of ["AWS::SQS::Queue", "AWS::KMS::Key"]) {
      for (const resource of Object.values(template(retained).findResources(type))) {
        expect(resource.DeletionPolicy, type).toBe("Retain");
      }
      for (const resource of Object.values(template(destroyed).findResources(type))) {
        expect(resource.DeletionPolicy, type).toBe("Delete");
      }
    }
  });
});

describe("DedupTable deletion protection", () => {
  it("is off by default and on when asked, also through the broker", () => {
    const off = testStack();
    new DedupTable(off, "Dedup");
    template(off).hasResourceProperties("AWS::DynamoDB::Table", { DeletionProtectionEnabled: false });

    const on = testStack();
    new MessageBroker(on, "Broker", { dedup: { deletionProtection: true } });
    template(on).hasResourceProperties("AWS::DynamoDB::Table", { DeletionProtectionEnabled: true });
  });
});

describe("dead-letter retention", () => {
  it("keeps dead letters 14 days and the source queue 4 days by default", () => {
    const stack = testStack();
    const group = new FanOutTopic(stack, "Events").addConsumerGroup("billing");
    const assert = template(stack);
    const queueId = stack.getLogicalId(group.queue.node.defaultChild as never);
    const dlqId = stack.getLogicalId(group.deadLetterQueue?.node.defaultChild as never);
    expect(assert.toJSON().Resources[queueId].Properties.MessageRetentionPeriod).toBe(345_600);
    expect(assert.toJSON().Resources[dlqId].Properties.MessageRetentionPeriod).toBe(1_209_600);
  });

  it("accepts a source retention just below the dead-letter queue's", () => {
    const stack = testStack();
    new FanOutTopic(stack, "Events").addConsumerGroup("billing", { retentionPeriod: Duration.days(13) });
    template(stack).hasResourceProperties("AWS::SQS::Queue", { MessageRetentionPeriod: 1_123_200 });
  });

  it("fails synth when the source queue keeps messages as long as its dead-letter queue", () => {
    const stack = testStack();
    expect(() =>
      new FanOutTopic(stack, "Events").addConsumerGroup("billing", { retentionPeriod: Duration.days(14) }),
    ).toThrow(
      /^Test\/Events\/billing: the dead-letter queue keeps messages 14 days, which is not longer than the queue's retentionPeriod \(14 days\)/,
    );
  });
});

describe("ConsumerFunction log group encryption", () => {
  it("encrypts the log group with the key and lets CloudWatch Logs use it for that log group only", () => {
    const stack = testStack();
    const key = new Key(stack, "LogKey", { enableKeyRotation: true });
    new ConsumerFunction(stack, "Billing", { entry: HANDLER_ENTRY, logGroupEncryptionKey: key });
    const assert = template(stack);
    const keyId = stack.getLogicalId(key.node.defaultChild as never);

    assert.hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: "/serverless-broker/Test/Billing",
      KmsKeyId: { "Fn::GetAtt": [keyId, "Arn"] },
    });
    assert.hasResourceProperties("AWS::KMS::Key", {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Principal: { Service: { "Fn::Join": ["", ["logs.", { Ref: "AWS::Region" }, ".amazonaws.com"]] } },
            Action: Match.arrayWith(["kms:Decrypt*", "kms:Encrypt*", "kms:GenerateDataKey*"]),
            Condition: {
              ArnEquals: {
                "kms:EncryptionContext:aws:logs:arn": {
                  "Fn::Join": [
                    "",
                    Match.arrayWith([Match.stringLikeRegexp(":log-group:/serverless-broker/Test/Billing$")]),
                  ],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  it("leaves the log group unencrypted by default", () => {
    const stack = testStack();
    new ConsumerFunction(stack, "Billing", { entry: HANDLER_ENTRY });
    template(stack).hasResourceProperties("AWS::Logs::LogGroup", {
      KmsKeyId: Match.absent(),
      LogGroupName: Match.absent(),
    });
  });
});
