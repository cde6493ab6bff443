import type {
  BatchGetItemCommandInput,
  BatchWriteItemCommandInput,
  DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DynamoDbDedupStore } from "../../../lambdas/runtime/dedup/dynamodb-dedup-store.js";
import { FakeClient } from "../../support/fake-clients.js";

// DynamoDB Local never throttles, so the partial results of batch calls are played by a fake client.
const TABLE = "dedup";

const completions = (count: number) =>
  Array.from({ length: count }, (_, index) => ({
    key: `billing#m${index}`,
    token: `t${index}`,
    fingerprint: `f${index}`,
    expiresAt: 2_000_000_000,
    leaseExpiresAt: Date.now() + 60_000,
  }));

const keysOf = (input: BatchWriteItemCommandInput) =>
  (input.RequestItems?.[TABLE] ?? []).map((request) => request.PutRequest?.Item?.pk?.S);

afterEach(() => {
  vi.useRealTimers();
});

describe("DynamoDbDedupStore", () => {
  it("writes completions in chunks of 25 and sends again only what DynamoDB left unprocessed", async () => {
    const client = new FakeClient<BatchWriteItemCommandInput>((input, call) => {
      const requests = input.RequestItems?.[TABLE] ?? [];
      // The first chunk is throttled in part.
      return call === 1 ? { UnprocessedItems: { [TABLE]: requests.slice(20) } } : {};
    });
    const store = new DynamoDbDedupStore(client as unknown as DynamoDBClient, TABLE);

    await store.complete(completions(30), Date.now());

    expect(client.calls.map((input) => keysOf(input).length)).toEqual([25, 5, 5]);
    expect(keysOf(client.calls[2] as BatchWriteItemCommandInput)).toEqual(
      completions(25)
        .slice(20)
        .map((completion) => completion.key),
    );
  });

  it("fails, naming what stayed unprocessed, when DynamoDB keeps throttling, rather than retrying for ever", async () => {
    vi.useFakeTimers();
    const client = new FakeClient<BatchWriteItemCommandInput>((input) => ({
      UnprocessedItems: input.RequestItems,
    }));
    const store = new DynamoDbDedupStore(client as unknown as DynamoDBClient, TABLE);

    const completing = store.complete(completions(3), Date.now());
    const failure = expect(completing).rejects.toThrow(
      "3 dedup completions stayed unprocessed after 8 attempts",
    );
    await vi.runAllTimersAsync();
    await failure;
    expect(client.calls).toHaveLength(8);
  });

  it("reads again the keys a BatchGetItem left unprocessed", async () => {
    const client = new FakeClient<BatchGetItemCommandInput>((input, call) => {
      const keys = input.RequestItems?.[TABLE]?.Keys ?? [];
      const [first, ...rest] = keys;
      const item = (key: typeof first) => ({
        pk: key?.pk,
        status: { S: "COMPLETED" },
        fingerprint: { S: "f" },
        expiresAt: { N: "2000000000" },
      });
      return call === 1
        ? { Responses: { [TABLE]: [item(first)] }, UnprocessedKeys: { [TABLE]: { Keys: rest } } }
        : { Responses: { [TABLE]: keys.map(item) } };
    });
    const store = new DynamoDbDedupStore(client as unknown as DynamoDBClient, TABLE);

    const found = await store.read(["billing#a", "billing#b", "billing#c"]);

    expect([...found.keys()].sort()).toEqual(["billing#a", "billing#b", "billing#c"]);
    expect(client.calls.map((input) => input.RequestItems?.[TABLE]?.Keys?.length)).toEqual([3, 2]);
    expect(client.calls[1]?.RequestItems?.[TABLE]?.ConsistentRead).toBe(true);
  });
});
