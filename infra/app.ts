#!/usr/bin/env node
/**
 * The CDK app: the reference `orders` topology, checked by cdk-nag's AWS Solutions and Serverless rules at synth
 * (`cdk synth`, `cdk deploy`) and in the tests (test/infra). `serverless-broker start` synthesizes with
 * SERVERLESS_BROKER_LOCAL_SYNTH=1 and skips them: the local run applies no IAM or KMS, and the two packs cost
 * seconds of every start on a 2-core machine.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { OrdersStack } from "./stacks/orders-stack.js";

const app = new App();
new OrdersStack(app, "ServerlessBrokerOrders", {
  description:
    "serverless-broker reference topology: fan-out topics, a FIFO topic, a sharded stream, exactly-once consumers",
});
if (process.env.SERVERLESS_BROKER_LOCAL_SYNTH !== "1")
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
