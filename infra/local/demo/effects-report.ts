import { type DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { EFFECT_KEY_PREFIX } from "../../../lambdas/handlers/effects.js";
import { ORDER_EVENTS } from "../../../lambdas/handlers/order-events.js";
import { DEAD_LETTER_ATTRIBUTES } from "../../../lambdas/runtime/constants.js";
import { POISON_REASONS } from "../../../lambdas/runtime/errors.js";
import type { PublishedWorkload } from "./orders-workload.js";

/** A consumer group of the orders topology: what it should see, whether in order, where its DLQ is. */
export interface GroupExpectation {
  readonly group: string;
  readonly types: readonly string[];
  readonly ordered: boolean;
  /** The stack output naming its dead-letter (or on-failure) queue. */
  readonly deadLetterOutput: string;
  /** The channel whose malformed messages reach this group, and must end in its dead-letter queue. */
  readonly poisonFrom?: keyof PublishedWorkload["poisonPublished"];
}

export const ORDERS_GROUPS: readonly GroupExpectation[] = [
  {
    group: "billing",
    types: [ORDER_EVENTS.placed],
    ordered: false,
    deadLetterOutput: "BillingDeadLetterQueueUrl",
    poisonFrom: "orderEvents",
  },
  {
    group: "shipping",
    types: [ORDER_EVENTS.paid],
    ordered: false,
    deadLetterOutput: "ShippingDeadLetterQueueUrl",
  },
  {
    group: "analytics",
    types: [ORDER_EVENTS.placed, ORDER_EVENTS.paid],
    ordered: false,
    deadLetterOutput: "AnalyticsDeadLetterQueueUrl",
    poisonFrom: "orderEvents",
  },
  {
    group: "fulfillment",
    types: [ORDER_EVENTS.placed],
    ordered: true,
    deadLetterOutput: "FulfillmentDeadLetterQueueUrl",
    poisonFrom: "orderLifecycle",
  },
  {
    group: "ledger",
    types: [ORDER_EVENTS.placed],
    ordered: true,
    deadLetterOutput: "LedgerOnFailureQueueUrl",
    poisonFrom: "ledger",
  },
];

export interface GroupReport {
  readonly group: string;
  /** Messages of valid orders the group should process. */
  readonly expected: number;
  /** Malformed messages published to the group's channel, which must end in its dead-letter queue. */
  readonly poisonExpected: number;
  /** Of those, how many left at least one side effect. */
  readonly processed: number;
  /** Neither processed nor in the dead-letter queue: valid orders, and malformed messages. */
  readonly lost: number;
  /** The first few lost orders' ids, to look for. */
  readonly lostOrders: readonly string[];
  /** Messages whose side effect happened more than once. */
  readonly processedTwice: number;
  /** Ordered groups: orders of a customer whose first processing came before their predecessor's. */
  readonly orderViolations: number;
  /** Messages in the group's dead-letter queue, and why. */
  readonly dlq: number;
  readonly dlqReasons: Readonly<Record<string, number>>;
  /** Publish → first side effect; `max` is when the group had processed its last message. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

interface EffectRow {
  readonly group: string;
  readonly messageId: string;
  readonly type: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly sequence: number;
  readonly at: number;
  readonly tick: number;
}

/** Reads every effect row the handlers wrote. */
export async function readEffects(dynamodb: DynamoDBClient, tableName: string): Promise<EffectRow[]> {
  const rows: EffectRow[] = [];
  for await (const page of paginateScan(
    { client: dynamodb },
    { TableName: tableName, ConsistentRead: true },
  )) {
    for (const item of page.Items ?? []) {
      if (!item.pk?.S?.startsWith(EFFECT_KEY_PREFIX)) continue;
      rows.push({
        group: item.group?.S ?? "",
        messageId: item.messageId?.S ?? "",
        type: item.type?.S ?? "",
        orderId: item.orderId?.S ?? "",
        customerId: item.customerId?.S ?? "",
        sequence: Number(item.sequence?.N ?? 0),
        at: Number(item.at?.N ?? 0),
        tick: Number(item.tick?.N ?? 0),
      });
    }
  }
  return rows;
}

export interface DeadLetterContents {
  readonly total: number;
  readonly reasons: Record<string, number>;
  /** Order ids among them (valid orders that exhausted their retries). */
  readonly orderIds: Set<string>;
  /** Distinct bodies of the messages dead-lettered for being malformed (a replayed batch may send one twice). */
  readonly malformedBodies: Set<string>;
}

/** Why the runtime dead-letters a message that was bad from the start (not one that ran out of retries). */
const MALFORMED_REASONS: ReadonlySet<string> = new Set([
  POISON_REASONS.notJson,
  POISON_REASONS.notAnEnvelope,
  POISON_REASONS.schemaMismatch,
  POISON_REASONS.tooLarge,
]);

/**
 * Counts a dead-letter queue's messages sent since `since` (epoch ms) by reason: the runtime's, or
 * Lambda's on-failure condition.
 */
export async function readDeadLetters(
  sqs: SQSClient,
  queueUrl: string,
  since: number,
): Promise<DeadLetterContents> {
  const reasons: Record<string, number> = {};
  const orderIds = new Set<string>();
  const malformedBodies = new Set<string>();
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
  );
  const expected = Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  let read = 0;
  for (let empty = 0; read < expected && empty < 3; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 120,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["SentTimestamp"],
      }),
    );
    if (Messages.length === 0) empty++;
    for (const message of Messages) {
      read++;
      if (Number(message.Attributes?.SentTimestamp ?? since) < since) continue;
      const reason =
        message.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.reason]?.StringValue ??
        lambdaCondition(message.Body) ??
        "redrive";
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      const orderId = orderIdOf(message.Body);
      if (orderId) orderIds.add(orderId);
      if (MALFORMED_REASONS.has(reason)) malformedBodies.add(message.Body ?? "");
    }
  }
  return {
    total: Object.values(reasons).reduce((sum, count) => sum + count, 0),
    reasons,
    orderIds,
    malformedBodies,
  };
}

export function reportGroup(
  expectation: GroupExpectation,
  effects: readonly EffectRow[],
  workload: PublishedWorkload,
  deadLetters: DeadLetterContents,
): GroupReport {
  const mine = effects.filter(
    (effect) => effect.group === expectation.group && workload.orders.has(effect.orderId),
  );
  const perMessage = new Map<string, number>();
  const firstByKey = new Map<string, EffectRow>();
  for (const effect of mine) {
    perMessage.set(effect.messageId, (perMessage.get(effect.messageId) ?? 0) + 1);
    const key = `${effect.orderId}#${effect.type}`;
    const first = firstByKey.get(key);
    if (!first || earlier(effect, first)) firstByKey.set(key, effect);
  }
  let processed = 0;
  let lost = 0;
  const lostOrders: string[] = [];
  const latencies: number[] = [];
  for (const [orderId, { publishedAt }] of workload.orders) {
    for (const type of expectation.types) {
      const first = firstByKey.get(`${orderId}#${type}`);
      if (first) {
        processed++;
        latencies.push(first.at - publishedAt);
      } else if (!deadLetters.orderIds.has(orderId)) {
        lost++;
        if (lostOrders.length < 5) lostOrders.push(`${orderId} (${type})`);
      }
    }
  }
  const poisonExpected = expectation.poisonFrom ? workload.poisonPublished[expectation.poisonFrom] : 0;
  return {
    group: expectation.group,
    expected: workload.orders.size * expectation.types.length,
    poisonExpected,
    processed,
    lost: lost + Math.max(0, poisonExpected - deadLetters.malformedBodies.size),
    lostOrders,
    processedTwice: [...perMessage.values()].filter((count) => count > 1).length,
    orderViolations: expectation.ordered ? orderViolations(firstByKey) : 0,
    dlq: deadLetters.total,
    dlqReasons: deadLetters.reasons,
    latencyMs: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
    },
  };
}

/** Per customer, each order's first processing must come after its predecessor's. */
function orderViolations(firstByKey: ReadonlyMap<string, EffectRow>): number {
  const byCustomer = new Map<string, EffectRow[]>();
  for (const effect of firstByKey.values()) {
    const effects = byCustomer.get(effect.customerId);
    if (effects) effects.push(effect);
    else byCustomer.set(effect.customerId, [effect]);
  }
  let violations = 0;
  for (const effects of byCustomer.values()) {
    effects.sort((left, right) => left.sequence - right.sequence);
    for (let index = 1; index < effects.length; index++) {
      if (earlier(effects[index] as EffectRow, effects[index - 1] as EffectRow)) violations++;
    }
  }
  return violations;
}

const earlier = (left: EffectRow, right: EffectRow) =>
  left.at < right.at || (left.at === right.at && left.tick < right.tick);

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function lambdaCondition(body: string | undefined): string | undefined {
  try {
    return (JSON.parse(body ?? "") as { requestContext?: { condition?: string } }).requestContext?.condition;
  } catch {
    return undefined;
  }
}

function orderIdOf(body: string | undefined): string | undefined {
  try {
    const orderId = (JSON.parse(body ?? "") as { payload?: { orderId?: unknown } }).payload?.orderId;
    return typeof orderId === "string" ? orderId : undefined;
  } catch {
    return undefined;
  }
}
