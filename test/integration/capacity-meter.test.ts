/**
 * The benchmarks' cost meter bills what AWS bills (Developer Guide, "DynamoDB read and write operations"
 * and "Capacity management for transactions"), checked against the local cloud's DynamoDB.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { dollarsPerMillionMessages, itemBytes, meterCapacity } from "../bench/capacity.js";
import { Cleanup, createDedupTable } from "../support/resources.js";

const cleanup = new Cleanup();
const client = new DynamoDBClient({});
let tableName = "";
beforeAll(async () => {
  ({ tableName } = await createDedupTable(cleanup, "capacity"));
});
afterAll(async () => {
  client.destroy();
  await cleanup.run();
});

const key = (id: string) => ({ [DEDUP_TABLE.partitionKey]: { S: id } });
const fresh = () => `item-${Math.random().toString(36).slice(2)}`;

describe("meterCapacity", () => {
  it("bills a batch write per item, one unit per KB rounded up", async () => {
    const meter = meterCapacity(client);
    await client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [tableName]: [fresh(), fresh(), fresh()].map((id) => ({ PutRequest: { Item: key(id) } })),
        },
      }),
    );
    expect(meter).toEqual({ writeUnits: 3, readUnits: 0 });

    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { ...key(fresh()), blob: { S: "x".repeat(11.5 * 1024) } },
      }),
    );
    expect(meter.writeUnits).toBe(3 + 12);
  });

  it("bills a transaction twice per item, as AWS does (DynamoDB Local reports it once)", async () => {
    const meter = meterCapacity(client);
    await client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: tableName, Item: key(fresh()) } },
          { Put: { TableName: tableName, Item: key(fresh()) } },
        ],
      }),
    );
    expect(meter.writeUnits).toBe(4);
  });

  it("bills a write whose condition fails, though the error carries no consumed capacity", async () => {
    const id = fresh();
    await client.send(new PutItemCommand({ TableName: tableName, Item: key(id) }));
    const meter = meterCapacity(client);
    await expect(
      client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: key(id),
          ConditionExpression: "attribute_not_exists(#key)",
          ExpressionAttributeNames: { "#key": DEDUP_TABLE.partitionKey },
        }),
      ),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(meter.writeUnits).toBe(1);
  });

  it("bills an eventually consistent batch read half a unit per item of up to 4 KB", async () => {
    const ids = [fresh(), fresh()];
    for (const id of ids) await client.send(new PutItemCommand({ TableName: tableName, Item: key(id) }));
    const meter = meterCapacity(client);
    await client.send(new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: ids.map(key) } } }));
    expect(meter).toEqual({ writeUnits: 0, readUnits: 1 });
  });
});

describe("item sizes and prices", () => {
  it("counts names and values in UTF-8 bytes, binaries by length and numbers by significant digits", () => {
    expect(itemBytes({ id: { S: "é" } })).toBe(2 + 2);
    expect(itemBytes({ b: { B: new Uint8Array(600) } })).toBe(1 + 600);
    expect(itemBytes({ n: { N: "12345" } })).toBe(1 + 4);
    expect(itemBytes({ n: { N: "-0.00120" } })).toBe(1 + 2);
  });

  it("turns units per message into dollars per million messages at on-demand prices", () => {
    // 2 write units per message at $0.625 per million write units: $1.25 per million messages.
    expect(dollarsPerMillionMessages({ writeUnits: 2_000, readUnits: 0 }, 1_000)).toBeCloseTo(1.25);
    expect(dollarsPerMillionMessages({ writeUnits: 0, readUnits: 500 }, 1_000)).toBeCloseTo(0.0625);
  });
});
