import { sqsConsumer } from "../runtime/index.js";
import { maybeInjectFailure, recordEffect } from "./effects.js";
import { Order } from "./order-events.js";

/** The `billing` consumer group of the orders topology: bills every placed order. */
export const handler = sqsConsumer({
  schema: Order,
  handler: async (message, context) => {
    maybeInjectFailure(context.group);
    await recordEffect({ group: context.group, messageId: message.id, order: message.payload }, context);
  },
});
