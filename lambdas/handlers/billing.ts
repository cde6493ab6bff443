import { causedBy, sqsConsumer, TopicPublisher } from "../runtime/index.js";
import { dedupFromEnvironment } from "./dedup-mode.js";
import { actOnOrder, maybeCrash, requiredEnv } from "./effects.js";
import { ORDER_EVENTS, ORDERS_ENV, Order } from "./order-events.js";

let directPublisher: TopicPublisher | undefined;

/**
 * The `billing` consumer group: bills every placed order and announces it paid. In transactional mode the
 * bill and the `order.paid` message commit together (the message through the outbox), exactly once.
 */
export const handler = sqsConsumer({
  schema: Order,
  dedup: dedupFromEnvironment("transactional"),
  handler: async (message, context) => {
    await actOnOrder(message, context);
    const topicArn = requiredEnv(ORDERS_ENV.orderEventsTopicArn);
    const paid = causedBy(message, {
      type: ORDER_EVENTS.paid,
      key: message.payload.customerId,
      payload: message.payload,
    });
    if (context.transaction) {
      context.transaction.publish({ topicArn }, paid);
    } else {
      directPublisher ??= new TopicPublisher({ topicArn });
      await directPublisher.publish([paid]);
    }
    maybeCrash(context);
  },
});
