import { z } from "zod";

/** The `orders` reference topology's messages: one order of a customer, numbered per customer. */
export const Order = z.object({
  orderId: z.string().min(1),
  customerId: z.string().min(1),
  /** 1, 2, 3… per customer: lets the ordered groups prove they kept order. */
  sequence: z.number().int().positive(),
  total: z.number().nonnegative(),
});
export type Order = z.infer<typeof Order>;

export const ORDER_EVENTS = {
  placed: "order.placed",
  paid: "order.paid",
  cancelled: "order.cancelled",
} as const;

/** Environment the reference stack gives its handlers. */
export const ORDERS_ENV = {
  /** The table where handlers record their side effects (and, in transactional mode, commit them). */
  tableName: "ORDERS_TABLE_NAME",
  /** Demo and chaos runs only: the probability that a handler fails (transiently) before doing anything. */
  chaosFailRate: "BROKER_CHAOS_FAIL_RATE",
  /** Chaos runs only: the probability that the worker dies right after the side effect, before completion. */
  chaosCrashRate: "BROKER_CHAOS_CRASH_RATE",
  /** Chaos runs only: the probability that a handler stalls for BROKER_CHAOS_STALL_MS before its side effect. */
  chaosStallRate: "BROKER_CHAOS_STALL_RATE",
  chaosStallMs: "BROKER_CHAOS_STALL_MS",
  /** How a handler deduplicates: `transactional`, `plain`, `checkpoints` (Kinesis) or `off`. */
  dedupMode: "ORDERS_DEDUP_MODE",
  /** Where billing announces paid orders (through the outbox, in transactional mode). */
  orderEventsTopicArn: "ORDER_EVENTS_TOPIC_ARN",
} as const;

export type DedupMode = "transactional" | "plain" | "checkpoints" | "off";
