import { sqsConsumer } from "../../../../lambdas/runtime/index.js";

export const handler = sqsConsumer({ group: "schema-cost", handler: () => undefined });
