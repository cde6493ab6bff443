/**
 * What DynamoDB bills, not how many calls were made: read and write request units by AWS's rules.
 *
 * Rules (Amazon DynamoDB Developer Guide, "DynamoDB read and write operations" and "Amazon DynamoDB
 * Transactions: How it works" → "Capacity management for transactions"):
 * - a write of an item costs 1 write unit per 1 KB of the item (rounded up per item, at least 1), also when
 *   its condition fails; a batch write bills each item on its own;
 * - a read costs 1 read unit per 4 KB per item when strongly consistent, half that when eventually
 *   consistent (BatchGetItem and GetItem's default);
 * - a transaction performs two underlying reads or writes of every item (prepare and commit): 2 units
 *   where a plain call costs 1.
 *
 * DynamoDB Local answers ReturnConsumedCapacity by the same per-item rounding but bills a transaction like a
 * plain write (a 2-item TransactWriteItems reports 2.0 where AWS bills 4), and it reports nothing for a
 * request that fails on its condition; this meter corrects both.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/** US East (N. Virginia) on-demand prices, per million request units (aws.amazon.com/dynamodb/pricing/on-demand, since 2024-11-01). */
export const ON_DEMAND_DOLLARS_PER_MILLION = { write: 0.625, read: 0.125 } as const;

export interface CapacityMeter {
  /** Write request units billed so far. */
  writeUnits: number;
  /** Read request units billed so far. */
  readUnits: number;
}

const WRITES = new Set(["PutItemCommand", "UpdateItemCommand", "DeleteItemCommand", "BatchWriteItemCommand"]);
const READS = new Set(["GetItemCommand", "BatchGetItemCommand", "QueryCommand", "ScanCommand"]);
const TRANSACTIONAL = new Set(["TransactWriteItemsCommand", "TransactGetItemsCommand"]);

interface ConsumedCapacity {
  readonly CapacityUnits?: number;
}

/** Adds a middleware to `client` that counts the request units of every call it sends. */
export function meterCapacity(client: {
  middlewareStack: { add: (...args: never[]) => void };
}): CapacityMeter {
  const meter: CapacityMeter = { writeUnits: 0, readUnits: 0 };
  const bill = (command: string, units: number) => {
    if (command === "TransactGetItemsCommand" || READS.has(command)) meter.readUnits += units;
    else meter.writeUnits += units;
  };
  (
    client.middlewareStack as unknown as {
      add: (middleware: unknown, options: { step: string; name: string }) => void;
    }
  ).add(
    (
      next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
      context: {
        commandName?: string;
      },
    ) =>
      async (args: { input: Record<string, unknown> }) => {
        const command = context.commandName ?? "";
        const billed = WRITES.has(command) || READS.has(command) || TRANSACTIONAL.has(command);
        if (!billed) return next(args);
        const factor = TRANSACTIONAL.has(command) ? 2 : 1;
        try {
          const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: "TOTAL" } });
          bill(command, factor * reportedUnits(result.output.ConsumedCapacity));
          return result;
        } catch (error) {
          bill(command, factor * unitsOfRejectedWrite(command, args.input, error));
          throw error;
        }
      },
    { step: "initialize", name: `meterCapacity-${Math.random()}` },
  );
  return meter;
}

function reportedUnits(consumed: unknown): number {
  const entries = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as ConsumedCapacity[];
  return entries.reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
}

/**
 * A write rejected by its condition is billed as if it had been written: the larger of the item sent and
 * the item found (returned by ReturnValuesOnConditionCheckFailure), per item of a cancelled transaction.
 * Other errors (throttling, validation) bill nothing.
 */
function unitsOfRejectedWrite(command: string, input: Record<string, unknown>, error: unknown): number {
  const name = (error as { name?: string }).name;
  if (name === "ConditionalCheckFailedException") {
    const found = (error as { Item?: Record<string, AttributeValue> }).Item;
    const sent = input.Item as Record<string, AttributeValue> | undefined;
    return writeUnits(Math.max(itemBytes(sent), itemBytes(found)));
  }
  if (name === "TransactionCanceledException" && command === "TransactWriteItemsCommand") {
    const actions = (input.TransactItems ?? []) as Array<
      Record<string, { Item?: Record<string, AttributeValue> }>
    >;
    return actions.reduce((sum, action) => sum + writeUnits(itemBytes(action.Put?.Item)), 0);
  }
  return 0;
}

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/**
 * An item's size as DynamoDB counts it (Developer Guide, "Item sizes and formats"): each attribute's name
 * in UTF-8 bytes plus its value: strings in UTF-8 bytes, binaries by length, numbers ~1 byte per two
 * significant digits + 1, booleans and null 1 byte, lists and maps 3 bytes + their elements (+1 each).
 */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueBytes(value), 0);
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, entry) => sum + utf8(entry), 0);
  if (value.NS) return value.NS.reduce((sum, entry) => sum + numberBytes(entry), 0);
  if (value.BS) return value.BS.reduce((sum, entry) => sum + entry.length, 0);
  if (value.L) return 3 + value.L.reduce((sum, entry) => sum + 1 + valueBytes(entry), 0);
  if (value.M)
    return (
      3 + Object.entries(value.M).reduce((sum, [key, entry]) => sum + 1 + utf8(key) + valueBytes(entry), 0)
    );
  return 0;
}

const utf8 = (text: string) => Buffer.byteLength(text, "utf8");
/** Significant digits only: sign, exponent, decimal point and leading/trailing zeros are not stored. */
const numberBytes = (text: string) => {
  const digits = text
    .replace(/^[-+]/, "")
    .replace(/[eE].*$/, "")
    .replace(".", "")
    .replace(/^0+|0+$/g, "");
  return Math.ceil(digits.length / 2) + 1;
};

/** Dollars per million messages at on-demand prices, for `units` billed over `messages`. */
export function dollarsPerMillionMessages(
  units: { writeUnits: number; readUnits: number },
  messages: number,
): number {
  const perMessage = (count: number) => count / messages;
  return (
    perMessage(units.writeUnits) * ON_DEMAND_DOLLARS_PER_MILLION.write +
    perMessage(units.readUnits) * ON_DEMAND_DOLLARS_PER_MILLION.read
  );
}
