import { Stack } from "aws-cdk-lib";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { consumerFunction, testApp } from "./cdk.js";

/**
 * A small broker built with this package's constructs, synthesized without bundling: a standard topic
 * with the group `billing`, a FIFO topic with `fulfillment`, a stream with `ledger`, one dedup table.
 * Returns the cloud assembly directory.
 */
export function synthBrokerApp(stackName: string): string {
  const app = testApp();
  const stack = new Stack(app, stackName);
  const broker = new MessageBroker(stack, "Broker");
  broker.addTopic("Events").addConsumerGroup("billing", { consumer: consumerFunction(stack, "Billing") });
  broker
    .addTopic("Lifecycle", { fifo: true, archiveRetentionDays: 3 })
    .addConsumerGroup("fulfillment", { consumer: consumerFunction(stack, "Fulfillment") });
  broker
    .addStream("Ledger", { shardCount: 2 })
    .addConsumerGroup("ledger", { consumer: consumerFunction(stack, "Ledger") });
  app.synth();
  return app.outdir;
}
