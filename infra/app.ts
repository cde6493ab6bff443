#!/usr/bin/env node
/** The CDK app: the reference `orders` topology, checked by cdk-nag's AWS Solutions and Serverless rules at synth. */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { OrdersStack } from "./stacks/orders-stack.js";

const app = new App();
new OrdersStack(app, "ServerlessBrokerOrders", {
  description:
    "serverless-broker reference topology: fan-out topics, a FIFO topic, a sharded stream, exactly-once consumers",
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
