import { kinesisConsumer } from "../runtime/index.js";
import { dedupFromEnvironment } from "./dedup-mode.js";
import { actOnOrder, maybeCrash } from "./effects.js";
import { Order } from "./order-events.js";

/**
 * The `ledger` consumer group: every order, in order per customer, deduplicated by shard checkpoints
 * (two DynamoDB writes per batch). Customers run side by side (ordering by key): a failure holds back
 * only its customer, and the records replayed past it are skipped by the checkpoint's id window.
 */
export const handler = kinesisConsumer({
  schema: Order,
  ordering: "key",
  dedup: dedupFromEnvironment("checkpoints"),
  handler: async (message, context) => {
    await actOnOrder(message, context);
    maybeCrash(context);
  },
});
