/** serverless-broker CDK constructs and the reference stack. */
export * from "./constructs/index.js";
export { OrdersStack, type OrdersStackProps } from "./stacks/orders-stack.js";
