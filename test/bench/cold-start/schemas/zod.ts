import * as z from "zod";
import { sqsConsumer } from "../../../../lambdas/runtime/index.js";

export const handler = sqsConsumer({
  group: "schema-cost",
  schema: z.object({ orderId: z.string(), total: z.number().nonnegative() }),
  handler: () => undefined,
});
