import { sqsConsumer } from "../runtime/index.js";
import { dedupFromEnvironment } from "./dedup-mode.js";
import { maybeCrash, maybeInjectFailure, recordEffect } from "./effects.js";
import { Order } from "./order-events.js";

/**
 * The consumer of the orders topology's queue groups that just act on an order (shipping, analytics,
 * fulfillment): each function runs this entry with its own group in BROKER_CONSUMER_GROUP.
 */
export const handler = sqsConsumer({
  schema: Order,
  dedup: dedupFromEnvironment("transactional"),
  handler: async (message, context) => {
    await maybeInjectFailure(context.group);
    await recordEffect(
      { group: context.group, messageId: message.id, type: message.type, order: message.payload },
      context,
    );
    maybeCrash(context);
  },
});
