/**
 * DynamoDB Local answers a Scan with every item of the table on its Java heap. Under the 128 MB cap an
 * earlier version set, a table of 6,000 items of 100 attributes (or a full chaos run's effect rows) failed
 * every Scan with InternalFailure (java.lang.OutOfMemoryError in its log); the local cloud's cap must leave
 * room for tables that size.
 */
import { BatchWriteItemCommand, paginateScan } from "@aws-sdk/client-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { dynamoDbLocalHeapMb } from "../../infra/local/cloud/emulators.js";
import { Cleanup, createTable, dynamodb } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

const ITEMS = 6_000;
const ATTRIBUTES = 100;
// BatchWriteItem takes at most 25 put or delete requests:
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
const BATCH_WRITE_MAX = 25;

describe("DynamoDB Local's heap", () => {
  it("scans a table of 6,000 items of 100 attributes to its end", async () => {
    const { tableName } = await createTable(cleanup, "heap-scan");

    const attributes = Object.fromEntries(
      Array.from({ length: ATTRIBUTES }, (_, index) => [`a${index}`, { N: String(index) }]),
    );
    for (let first = 0; first < ITEMS; first += BATCH_WRITE_MAX) {
      const puts = Array.from({ length: Math.min(BATCH_WRITE_MAX, ITEMS - first) }, (_, offset) => ({
        PutRequest: { Item: { pk: { S: `item-${first + offset}` }, ...attributes } },
      }));
      const { UnprocessedItems } = await dynamodb.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: puts } }),
      );
      expect(UnprocessedItems?.[tableName] ?? []).toEqual([]);
    }

    let scanned = 0;
    for await (const page of paginateScan({ client: dynamodb }, { TableName: tableName }))
      scanned += page.Count ?? 0;
    expect(scanned).toBe(ITEMS);
  });

  it("takes its cap from LOCAL_CLOUD_DYNAMODB_HEAP_MB, and says what a wrong value should be", () => {
    expect(dynamoDbLocalHeapMb({})).toBe(512);
    expect(dynamoDbLocalHeapMb({ LOCAL_CLOUD_DYNAMODB_HEAP_MB: "2048" })).toBe(2048);
    expect(() => dynamoDbLocalHeapMb({ LOCAL_CLOUD_DYNAMODB_HEAP_MB: "1g" })).toThrow(
      /LOCAL_CLOUD_DYNAMODB_HEAP_MB=1g .*whole megabytes, at least 64/,
    );
  });
});
