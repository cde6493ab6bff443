import * as z from "zod/mini";
import { sqsConsumer } from "../../../../lambdas/runtime/index.js";

export const handler = sqsConsumer({
  group: "schema-cost",
  schema: z.object({ orderId: z.string(), total: z.number().check(z.nonnegative()) }),
  handler: () => undefined,
});
