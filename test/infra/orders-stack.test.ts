import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { OrdersStack } from "../../infra/stacks/orders-stack.js";
import { template, testApp, validationFindings } from "../support/cdk.js";

describe("OrdersStack (the reference topology)", () => {
  it("has billing, shipping (filtered) and analytics on OrderEvents, fulfillment on the FIFO topic, ledger on the stream", () => {
    const stack = new OrdersStack(testApp(), "Orders");
    const assert = template(stack);

    assert.resourceCountIs("AWS::SNS::Topic", 3); // OrderEvents, OrderLifecycle, alarms
    assert.hasResourceProperties("AWS::SNS::Topic", {
      FifoTopic: true,
      ArchivePolicy: { MessageRetentionPeriod: 7 },
    });
    assert.resourceCountIs("AWS::SNS::Subscription", 4);
    assert.hasResourceProperties("AWS::SNS::Subscription", {
      FilterPolicy: { type: ["order.paid", "order.cancelled"] },
    });
    assert.hasResourceProperties("AWS::Kinesis::Stream", { ShardCount: 2 });
    assert.resourceCountIs("AWS::Lambda::EventSourceMapping", 6);
    for (const group of ["billing", "shipping", "analytics", "fulfillment", "ledger"]) {
      assert.hasResourceProperties("AWS::Lambda::Function", {
        Environment: {
          Variables: Match.objectLike({
            BROKER_CONSUMER_GROUP: group,
            BROKER_DEDUP_TABLE_NAME: Match.anyValue(),
          }),
        },
      });
    }
  });

  it("outputs every topic ARN, queue URL, stream name and table name", () => {
    const outputs = Object.keys(template(new OrdersStack(testApp(), "Orders")).findOutputs("*"));
    expect(outputs.sort()).toEqual(
      [
        "AnalyticsDeadLetterQueueUrl",
        "AnalyticsQueueUrl",
        "BillingDeadLetterQueueUrl",
        "BillingQueueUrl",
        "DedupTableName",
        "FulfillmentDeadLetterQueueUrl",
        "FulfillmentQueueUrl",
        "LedgerOnFailureQueueUrl",
        "LedgerStreamName",
        "OrderEventsTopicArn",
        "OrderLifecycleTopicArn",
        "OrdersTableName",
        "OutboxOnFailureQueueUrl",
        "ShippingDeadLetterQueueUrl",
        "ShippingQueueUrl",
      ].sort(),
    );
  });

  it("passes cdk-nag's AWS Solutions rules and CloudFormation validation with no unacknowledged finding", () => {
    const app = testApp({ nag: true });
    new OrdersStack(app, "Orders");
    expect(validationFindings(app)).toEqual([]);
  });

  it("synthesizes with `cdk synth` on a machine without AWS credentials, bundling each handler", () => {
    const outdir = mkdtempSync(join(tmpdir(), "cdk-synth-"));
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_")));
    const result = spawnSync("npx", ["cdk", "synth", "--quiet", "--output", outdir], {
      env: { ...env, HOME: outdir },
      encoding: "utf8",
    });

    expect(result.status, result.stderr).toBe(0);
    const synthesized = JSON.parse(
      readFileSync(join(outdir, "ServerlessBrokerOrders.template.json"), "utf8"),
    );
    const functions = Object.values(synthesized.Resources as Record<string, { Type: string }>).filter(
      (resource) => resource.Type === "AWS::Lambda::Function",
    );
    expect(functions).toHaveLength(6);
    // A full synth with esbuild bundling and both cdk-nag packs: minutes on a loaded 2-core machine.
  }, 300_000);
});
