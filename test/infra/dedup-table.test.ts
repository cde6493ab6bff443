import { Duration } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { DedupTable } from "../../infra/constructs/dedup-table.js";
import { BROKER_ENV, DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { consumerFunction, template, testStack } from "../support/cdk.js";

describe("DedupTable", () => {
  it("is on demand, keyed and expiring by the runtime's attribute names, with point-in-time recovery and KMS encryption", () => {
    const stack = testStack();
    new DedupTable(stack, "Dedup");

    template(stack).hasResourceProperties("AWS::DynamoDB::Table", {
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: DEDUP_TABLE.partitionKey, KeyType: "HASH" }],
      TimeToLiveSpecification: { AttributeName: DEDUP_TABLE.timeToLiveAttribute, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      // KMS with the AWS-managed key (aws/dynamodb): SSEEnabled without a key of our own.
      SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
      StreamSpecification: Match.absent(),
    });
  });

  it("keeps a stream of new images for the outbox relay when asked", () => {
    const stack = testStack();
    new DedupTable(stack, "Dedup", { stream: true });
    template(stack).hasResourceProperties("AWS::DynamoDB::Table", {
      StreamSpecification: { StreamViewType: "NEW_IMAGE" },
    });
  });

  it("binds a consumer: its name and retention in the environment, and only the dedup actions on this table", () => {
    const stack = testStack();
    const dedup = new DedupTable(stack, "Dedup", { retention: Duration.days(4) });
    dedup.bindConsumer(consumerFunction(stack, "Consumer"), { group: "billing" });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          [BROKER_ENV.dedupTableName]: { Ref: stack.getLogicalId(dedup.table.node.defaultChild as never) },
          [BROKER_ENV.dedupRetentionSeconds]: "345600",
        }),
      },
    });
    const policy = JSON.stringify(assert.findResources("AWS::IAM::Policy"));
    for (const action of [
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
    ]) {
      expect(policy).toContain(action);
    }
    expect(policy).not.toContain("dynamodb:Scan");
    expect(policy).not.toContain("dynamodb:*");
  });

  it("refuses a retention it cannot honour", () => {
    expect(() => new DedupTable(testStack(), "Dedup", { retention: Duration.days(500) })).toThrow(
      /^Test\/Dedup: retention must be from 5 minutes to 365 days, but 500 days was provided\.$/,
    );
  });
});
