import { kinesisConsumer } from "../runtime/index.js";
import { maybeInjectFailure, recordEffect } from "./effects.js";
import { Order } from "./order-events.js";

/** The `ledger` consumer group of the orders topology: every order, in order per customer. */
export const handler = kinesisConsumer({
  schema: Order,
  handler: async (message, context) => {
    maybeInjectFailure(context.group);
    await recordEffect({ group: context.group, messageId: message.id, order: message.payload }, context);
  },
});
