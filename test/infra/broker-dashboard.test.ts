import { describe, expect, it } from "vitest";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { consumerFunction, template, testStack } from "../support/cdk.js";

describe("MessageBroker", () => {
  it("draws one dashboard with a publish, deliver, process and fail row per consumer group, added before or after", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Orders");
    const events = broker.addTopic("OrderEvents");
    events.addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    broker.addStream("Ledger").addConsumerGroup("ledger", { consumer: consumerFunction(stack, "Ledger") });
    events.addConsumerGroup("shipping");
    const assert = template(stack);

    assert.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    const body = JSON.stringify(
      Object.values(assert.findResources("AWS::CloudWatch::Dashboard"))[0]?.Properties?.DashboardBody,
    );
    for (const title of [
      "OrderEvents → billing: published",
      "OrderEvents → billing: delivered",
      "OrderEvents → billing: processed",
      "OrderEvents → billing: failed",
      "OrderEvents → shipping: failed",
      "Ledger → ledger: lag",
      "Ledger → ledger: processed",
    ]) {
      expect(body).toContain(title);
    }
    expect(body).toContain("MessagesProcessed");
    expect(body).toContain("ApproximateNumberOfMessagesVisible");
  });

  it("shares one dedup table with every consumer, and an encrypted alarm topic with every alarm", () => {
    const stack = testStack();
    const broker = new MessageBroker(stack, "Orders", { alarmTopic: true });
    broker
      .addTopic("OrderEvents")
      .addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
    const assert = template(stack);

    assert.resourceCountIs("AWS::DynamoDB::Table", 1);
    for (const topic of Object.values(assert.findResources("AWS::SNS::Topic")))
      expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    const alarms = Object.values(assert.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });
});
