import { randomUUID } from "node:crypto";
import { PutItemCommand, type TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { defaultDynamoDbClient } from "../runtime/aws-clients/dynamodb.js";
import { ConfigurationError, RetryLaterError } from "../runtime/errors.js";
import type { HandlerContext, MessageEnvelope } from "../runtime/index.js";
import { ORDERS_ENV, type Order } from "./order-events.js";

/**
 * Every side effect a reference handler performs is one row in the orders table, keyed by consumer group
 * and message id with a fresh id per execution: a message processed twice leaves two rows. The demo and
 * the chaos suite count these rows, so their figures come from what handlers did, not from what was sent.
 */
interface Effect {
  readonly group: string;
  readonly messageId: string;
  readonly type: string;
  readonly order: Order;
}

export const EFFECT_KEY_PREFIX = "effect#";

let executionCounter = 0;

function effectItem(effect: Effect): TransactWriteItem {
  const now = Date.now();
  return {
    Put: {
      TableName: ordersTableName(),
      Item: {
        pk: { S: `${EFFECT_KEY_PREFIX}${effect.group}#${effect.messageId}` },
        sk: { S: randomUUID() },
        group: { S: effect.group },
        messageId: { S: effect.messageId },
        type: { S: effect.type },
        customerId: { S: effect.order.customerId },
        sequence: { N: String(effect.order.sequence) },
        orderId: { S: effect.order.orderId },
        // Milliseconds plus a per-process counter: orders effects of one consumer even within a millisecond.
        at: { N: String(now) },
        tick: { N: String(++executionCounter) },
      },
    },
  };
}

/** Performs the side effect: in the handler's transaction when there is one, else as a plain write. */
/**
 * What every reference handler does with an order: fail now and then when a demo or chaos run asks
 * for it, then write the side effect (into the transaction, when there is one).
 */
export async function actOnOrder(message: MessageEnvelope<Order>, context: HandlerContext): Promise<void> {
  await maybeInjectFailure(context.group);
  const item = effectItem({
    group: context.group,
    messageId: message.id,
    type: message.type,
    order: message.payload,
  });
  if (context.transaction) {
    context.transaction.write(item);
    return;
  }
  await defaultDynamoDbClient().send(new PutItemCommand(item.Put as never));
}

/** Demo and chaos runs only: fail transiently, or stall (outliving a short lease), with the configured probabilities. */
async function maybeInjectFailure(group: string): Promise<void> {
  const rate = chance(ORDERS_ENV.chaosFailRate);
  if (rate > 0 && Math.random() < rate)
    throw new RetryLaterError(`injected failure in ${group} (chaos rate ${rate})`);
  const stall = chance(ORDERS_ENV.chaosStallRate);
  if (stall > 0 && Math.random() < stall)
    await new Promise((resolve) => setTimeout(resolve, Number(process.env[ORDERS_ENV.chaosStallMs] ?? 0)));
}

const crashDecisions = new Map<string, boolean>();

/**
 * Chaos runs only: with the configured probability per invocation, the execution environment dies right
 * after one side effect, before the dedup completion (or, in transactional mode, before the commit), as a
 * Lambda killed mid-invocation would.
 */
export function maybeCrash(context: HandlerContext): void {
  const rate = chance(ORDERS_ENV.chaosCrashRate);
  if (rate === 0) return;
  const invocation = context.lambdaContext?.awsRequestId ?? "";
  if (!crashDecisions.has(invocation)) crashDecisions.set(invocation, Math.random() < rate);
  if (crashDecisions.get(invocation)) process.exit(137);
}

const chance = (name: string) => Number(process.env[name] ?? 0);

function ordersTableName(): string {
  return requiredEnv(ORDERS_ENV.tableName);
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new ConfigurationError(`${name} is not set; the reference stack sets it for its handlers.`);
  return value;
}
