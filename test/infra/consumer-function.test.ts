import { Match } from "aws-cdk-lib/assertions";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { describe, it } from "vitest";
import { ConsumerFunction } from "../../infra/constructs/consumer-function.js";
import { HANDLER_ENTRY, template, testStack } from "../support/cdk.js";

describe("ConsumerFunction", () => {
  it("runs on the current Node.js runtime on ARM64, logging to its own log group with a retention", () => {
    const stack = testStack();
    new ConsumerFunction(stack, "Billing", { entry: HANDLER_ENTRY });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Timeout: 30,
      MemorySize: 512,
      TracingConfig: Match.absent(),
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp("^BillingLogs") } },
      Environment: { Variables: { NODE_OPTIONS: "--enable-source-maps" } },
    });
    assert.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
    assert.resourceCountIs("Custom::LogRetention", 0);
  });

  it("traces with X-Ray and keeps logs longer when asked", () => {
    const stack = testStack();
    new ConsumerFunction(stack, "Billing", {
      entry: HANDLER_ENTRY,
      xray: true,
      logGroupRetention: RetentionDays.ONE_YEAR,
    });
    const assert = template(stack);

    assert.hasResourceProperties("AWS::Lambda::Function", { TracingConfig: { Mode: "Active" } });
    assert.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 365 });
  });
});
