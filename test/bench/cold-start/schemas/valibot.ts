import * as v from "valibot";
import { sqsConsumer } from "../../../../lambdas/runtime/index.js";

export const handler = sqsConsumer({
  group: "schema-cost",
  schema: v.object({ orderId: v.string(), total: v.pipe(v.number(), v.minValue(0)) }),
  handler: () => undefined,
});
