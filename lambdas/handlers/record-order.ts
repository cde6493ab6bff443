import { sqsConsumer } from "../runtime/index.js";
import { dedupFromEnvironment } from "./dedup-mode.js";
import { actOnOrder, maybeCrash } from "./effects.js";
import { Order } from "./order-events.js";

/**
 * The consumer of the orders topology's queue groups that just act on an order (shipping, analytics,
 * fulfillment): each function runs this entry with its own group in BROKER_CONSUMER_GROUP.
 */
export const handler = sqsConsumer({
  schema: Order,
  dedup: dedupFromEnvironment("transactional"),
  handler: async (message, context) => {
    await actOnOrder(message, context);
    maybeCrash(context);
  },
});
