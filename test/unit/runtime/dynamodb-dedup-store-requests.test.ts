/**
 * What the DynamoDB dedup store asks DynamoDB: the conditions that make a claim, a completion, a release
 * and a checkpoint safe against other workers, and what it makes of DynamoDB's refusals. The behaviour of
 * those conditions on a real engine is tested against DynamoDB Local (test/integration/exactly-once.test.ts);
 * here a fake client pins the requests and plays the refusals, so that a mutation of either shows.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { COMPLETION_CLOCK_MARGIN_MS } from "../../../lambdas/runtime/dedup/dedup-store.js";
import { DynamoDbDedupStore } from "../../../lambdas/runtime/dedup/dynamodb-dedup-store.js";
import { TransactionCancelledError } from "../../../lambdas/runtime/errors.js";
import { FakeClient } from "../../support/fake-clients.js";

const TABLE = "dedup";
const NOW = 1_800_000_000_123;
type Input = Record<string, unknown> & {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
};

const conditionFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({
    message: "The conditional request failed",
    $metadata: {},
    ...(item ? { Item: item as never } : {}),
  });
const throttled = () => new ProvisionedThroughputExceededException({ message: "slow down", $metadata: {} });

function storeAnswering(respond: (input: Input, call: number) => unknown) {
  const client = new FakeClient<Input>(respond);
  return { client, store: new DynamoDbDedupStore(client as unknown as DynamoDBClient, TABLE) };
}

/** Every #placeholder in the expressions is named, and every name given is used. */
function expectNamesMatch(input: Input) {
  const text = [input.ConditionExpression, input.UpdateExpression].filter(Boolean).join(" ");
  const used = new Set(text.match(/#\w+/g));
  expect(new Set(Object.keys(input.ExpressionAttributeNames ?? {}))).toEqual(used);
}

const claim = {
  key: "billing#m1",
  fingerprint: "fp1",
  token: "tok1",
  leaseExpiresAt: NOW + 30_000,
  expiresAt: 1_800_100_000,
};

describe("claiming a message", () => {
  it("writes an IN_PROGRESS record only if none exists, a claim on the same content ran out of lease, or it is past retention", async () => {
    const { client, store } = storeAnswering(() => ({}));

    expect(await store.claim([claim], NOW)).toEqual([{ outcome: "claimed" }]);

    const [put] = client.calls;
    expect(put).toMatchObject({
      TableName: TABLE,
      Item: {
        pk: { S: "billing#m1" },
        status: { S: "IN_PROGRESS" },
        token: { S: "tok1" },
        leaseExpiresAt: { N: String(NOW + 30_000) },
        fingerprint: { S: "fp1" },
        expiresAt: { N: "1800100000" },
      },
      ConditionExpression:
        "attribute_not_exists(#pk) OR (#status = :inProgress AND #lease < :now AND #fingerprint = :fingerprint) OR #ttl < :nowSeconds",
      ExpressionAttributeNames: {
        "#pk": "pk",
        "#status": "status",
        "#lease": "leaseExpiresAt",
        "#fingerprint": "fingerprint",
        "#ttl": "expiresAt",
      },
      ExpressionAttributeValues: {
        ":inProgress": { S: "IN_PROGRESS" },
        ":now": { N: String(NOW) },
        ":fingerprint": { S: "fp1" },
        ":nowSeconds": { N: "1800000000" },
      },
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    expectNamesMatch(put as Input);
  });

  it("answers a refused claim with the record DynamoDB returned, no second read", async () => {
    const existing = {
      pk: { S: "billing#m1" },
      status: { S: "IN_PROGRESS" },
      token: { S: "other" },
      leaseExpiresAt: { N: String(NOW + 5_000) },
      fingerprint: { S: "fp0" },
      expiresAt: { N: "1800100000" },
    };
    const { client, store } = storeAnswering(() => {
      throw conditionFailed(existing);
    });

    expect(await store.claim([claim], NOW)).toEqual([
      {
        outcome: "exists",
        record: {
          key: "billing#m1",
          status: "IN_PROGRESS",
          token: "other",
          leaseExpiresAt: NOW + 5_000,
          fingerprint: "fp0",
          expiresAt: 1_800_100_000,
        },
      },
    ]);
    expect(client.calls).toHaveLength(1);
  });

  it("reads a completed record as COMPLETED, without a token or lease", async () => {
    const { store } = storeAnswering(() => {
      throw conditionFailed({
        pk: { S: "billing#m1" },
        status: { S: "COMPLETED" },
        fingerprint: { S: "fp1" },
        expiresAt: { N: "9" },
      });
    });
    expect(await store.claim([claim], NOW)).toEqual([
      {
        outcome: "exists",
        record: { key: "billing#m1", status: "COMPLETED", fingerprint: "fp1", expiresAt: 9 },
      },
    ]);
  });

  it("lets a refusal without the old record, or any other error, reach the caller", async () => {
    await expect(
      storeAnswering(() => {
        throw conditionFailed();
      }).store.claim([claim], NOW),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    await expect(
      storeAnswering(() => {
        throw throttled();
      }).store.claim([claim], NOW),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
  });
});

describe("reading records (the duplicate prefilter)", () => {
  it("asks BatchGetItem for at most 100 keys a call, strongly consistent, and keys the answer by record", async () => {
    const { client, store } = storeAnswering((input) => {
      const keys =
        (input.RequestItems as Record<string, { Keys: Array<{ pk: { S: string } }> }>)[TABLE]?.Keys ?? [];
      return {
        Responses: {
          [TABLE]: keys.slice(0, 1).map((key) => ({
            ...key,
            status: { S: "COMPLETED" },
            fingerprint: { S: "f" },
            expiresAt: { N: "5" },
          })),
        },
      };
    });
    const keys = Array.from({ length: 250 }, (_, index) => `billing#m${index}`);

    const found = await store.read(keys);

    const sizes = client.calls.map(
      (input) => (input.RequestItems as Record<string, { Keys: unknown[]; ConsistentRead: boolean }>)[TABLE],
    );
    expect(sizes.map((request) => request?.Keys.length)).toEqual([100, 100, 50]);
    expect(sizes.every((request) => request?.ConsistentRead === true)).toBe(true);
    expect([...found.keys()].sort()).toEqual(["billing#m0", "billing#m100", "billing#m200"]);
    expect(found.get("billing#m100")).toEqual({
      key: "billing#m100",
      status: "COMPLETED",
      fingerprint: "f",
      expiresAt: 5,
    });
  });

  it("returns nothing for keys DynamoDB does not hold", async () => {
    const { store } = storeAnswering(() => ({}));
    expect((await store.read(["billing#x"])).size).toBe(0);
  });
});

describe("completing records", () => {
  const completion = (key: string, leaseExpiresAt: number) => ({
    key,
    token: `t-${key}`,
    fingerprint: `f-${key}`,
    expiresAt: 1_800_100_000,
    leaseExpiresAt,
  });

  it("writes a claim still well inside its lease in a batch, and one near or past its end only if still held", async () => {
    const { client, store } = storeAnswering(() => ({}));
    const live = completion("billing#live", NOW + COMPLETION_CLOCK_MARGIN_MS + 1);
    const atMargin = completion("billing#margin", NOW + COMPLETION_CLOCK_MARGIN_MS);

    expect(await store.complete([live, atMargin], NOW)).toEqual([]);

    const batch = client.calls.find((input) => "RequestItems" in input);
    expect(batch?.RequestItems).toEqual({
      [TABLE]: [
        {
          PutRequest: {
            Item: {
              pk: { S: "billing#live" },
              status: { S: "COMPLETED" },
              fingerprint: { S: "f-billing#live" },
              completedAt: { N: String(NOW) },
              expiresAt: { N: "1800100000" },
            },
          },
        },
      ],
    });
    const update = client.calls.find((input) => "Key" in input) as Input;
    expect(update).toMatchObject({
      TableName: TABLE,
      Key: { pk: { S: "billing#margin" } },
      UpdateExpression:
        "SET #status = :completed, #completedAt = :now, #ttl = :ttl, #fingerprint = :fingerprint REMOVE #token, #lease",
      ConditionExpression: "#token = :token AND #status = :inProgress",
      ExpressionAttributeValues: {
        ":completed": { S: "COMPLETED" },
        ":inProgress": { S: "IN_PROGRESS" },
        ":now": { N: String(NOW) },
        ":ttl": { N: "1800100000" },
        ":fingerprint": { S: "f-billing#margin" },
        ":token": { S: "t-billing#margin" },
      },
    });
    expectNamesMatch(update);
    expect(update.ExpressionAttributeNames).toEqual({
      "#status": "status",
      "#completedAt": "completedAt",
      "#ttl": "expiresAt",
      "#fingerprint": "fingerprint",
      "#token": "token",
      "#lease": "leaseExpiresAt",
    });
  });

  it("names the expired claims another worker took over, and completes the rest", async () => {
    const { store } = storeAnswering((input) => {
      if ((input.Key as { pk: { S: string } } | undefined)?.pk.S === "billing#lost") throw conditionFailed();
      return {};
    });
    const lost = await store.complete(
      [completion("billing#lost", NOW - 1), completion("billing#kept", NOW - 1)],
      NOW,
    );
    expect(lost).toEqual(["billing#lost"]);
  });

  it("lets any other error of a conditional completion reach the caller", async () => {
    const { store } = storeAnswering(() => {
      throw throttled();
    });
    await expect(store.complete([completion("billing#a", NOW)], NOW)).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
  });
});

describe("releasing claims", () => {
  it("deletes each claim only while this worker's token holds it, and ignores one another worker holds", async () => {
    const { client, store } = storeAnswering((input) => {
      if ((input.Key as { pk: { S: string } }).pk.S === "billing#taken") throw conditionFailed();
      return {};
    });

    await store.release([
      { key: "billing#mine", token: "t1" },
      { key: "billing#taken", token: "t2" },
    ]);

    expect(client.calls[0]).toEqual({
      TableName: TABLE,
      Key: { pk: { S: "billing#mine" } },
      ConditionExpression: "#token = :token",
      ExpressionAttributeNames: { "#token": "token" },
      ExpressionAttributeValues: { ":token": { S: "t1" } },
    });
    expect(client.calls).toHaveLength(2);
  });

  it("lets any other error reach the caller, who retries the release", async () => {
    const { store } = storeAnswering(() => {
      throw throttled();
    });
    await expect(store.release([{ key: "billing#a", token: "t" }])).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
  });
});

describe("committing a transaction", () => {
  const completion = {
    key: "ledger#m1",
    token: "tok",
    fingerprint: "fp",
    expiresAt: 1_800_100_000,
    leaseExpiresAt: NOW + 10_000,
  };
  const business = { Put: { TableName: "ledger", Item: { id: { S: "entry-1" } } } };

  it("puts the completion first, conditional on this worker's claim, then the handler's writes", async () => {
    const { client, store } = storeAnswering(() => ({}));

    await store.commit(completion, [business], NOW);

    const items = client.calls[0]?.TransactItems as Array<{ Update?: Input }>;
    expect(items[1]).toEqual(business);
    expect(items[0]?.Update).toEqual({
      TableName: TABLE,
      Key: { pk: { S: "ledger#m1" } },
      UpdateExpression: "SET #status = :completed, #completedAt = :now, #ttl = :ttl REMOVE #token, #lease",
      ConditionExpression: "#token = :token AND #status = :inProgress",
      ExpressionAttributeNames: {
        "#status": "status",
        "#completedAt": "completedAt",
        "#ttl": "expiresAt",
        "#token": "token",
        "#lease": "leaseExpiresAt",
      },
      ExpressionAttributeValues: {
        ":completed": { S: "COMPLETED" },
        ":inProgress": { S: "IN_PROGRESS" },
        ":now": { N: String(NOW) },
        ":ttl": { N: "1800100000" },
        ":token": { S: "tok" },
      },
    });
  });

  it("turns a cancellation into an error naming each refused action and why, skipping those that were fine", async () => {
    const { store } = storeAnswering(() => {
      throw new TransactionCanceledException({
        message: "Transaction cancelled",
        $metadata: {},
        CancellationReasons: [
          { Code: "ConditionalCheckFailed", Message: "The conditional request failed" },
          { Code: "None" },
          { Code: "ValidationError" },
        ],
      });
    });

    const error = await store
      .commit(completion, [business, business], NOW)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(TransactionCancelledError);
    const cancelled = error as TransactionCancelledError;
    expect(cancelled.reasons).toEqual([
      {
        index: 0,
        action: "dedup completion of ledger#m1",
        code: "ConditionalCheckFailed",
        message: "The conditional request failed",
      },
      { index: 2, action: "Put ledger entry-1", code: "ValidationError" },
    ]);
    expect(cancelled.claimLost).toBe(true);
    expect(cancelled.cause).toBeInstanceOf(TransactionCanceledException);
  });

  it("lets any other error reach the caller", async () => {
    const { store } = storeAnswering(() => {
      throw throttled();
    });
    await expect(store.commit(completion, [], NOW)).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
  });
});

describe("a shard's checkpoint", () => {
  it("is leased only when no one holds it or the holder's lease ran out, and comes back with its ids", async () => {
    const { client, store } = storeAnswering(() => ({
      Attributes: { sequenceNumber: { S: "4950" }, recentIds: { S: "a1 b2" }, pastIds: { S: "c3 d4" } },
    }));

    const lease = await store.acquireCheckpoint("checkpoint#ledger#shard-0", "tok", NOW + 60_000, NOW);

    expect(lease).toEqual({
      outcome: "acquired",
      checkpoint: { sequenceNumber: "4950", recentIds: ["a1", "b2"], pastIds: ["c3", "d4"] },
    });
    expect(client.calls[0]).toEqual({
      TableName: TABLE,
      Key: { pk: { S: "checkpoint#ledger#shard-0" } },
      UpdateExpression: "SET #token = :token, #lease = :until",
      ConditionExpression: "attribute_not_exists(#token) OR #lease < :now",
      ExpressionAttributeNames: { "#token": "token", "#lease": "leaseExpiresAt" },
      ExpressionAttributeValues: {
        ":token": { S: "tok" },
        ":until": { N: String(NOW + 60_000) },
        ":now": { N: String(NOW) },
      },
      ReturnValues: "ALL_NEW",
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
  });

  it("starts empty on a shard never checkpointed", async () => {
    const { store } = storeAnswering(() => ({ Attributes: { token: { S: "tok" } } }));
    expect(await store.acquireCheckpoint("checkpoint#ledger#shard-1", "tok", NOW + 1, NOW)).toEqual({
      outcome: "acquired",
      checkpoint: { recentIds: [], pastIds: [] },
    });
  });

  it("says until when another worker holds it", async () => {
    const { store } = storeAnswering(() => {
      throw conditionFailed({ token: { S: "other" }, leaseExpiresAt: { N: String(NOW + 9_000) } });
    });
    expect(await store.acquireCheckpoint("checkpoint#ledger#shard-0", "tok", NOW + 1, NOW)).toEqual({
      outcome: "held",
      leaseExpiresAt: NOW + 9_000,
    });
    const { store: throttledStore } = storeAnswering(() => {
      throw throttled();
    });
    await expect(throttledStore.acquireCheckpoint("k", "tok", NOW, NOW)).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
  });

  it("is written and its lease dropped only while this worker's token holds it; moving it sets the sequence", async () => {
    const { client, store } = storeAnswering(() => ({}));

    expect(
      await store.commitCheckpoint("k", "tok", {
        sequenceNumber: "4960",
        recentIds: ["a", "b"],
        pastIds: ["c", "d"],
      }),
    ).toBe(true);
    expect(await store.commitCheckpoint("k", "tok", { recentIds: ["e"] })).toBe(true);

    expect(client.calls[0]).toMatchObject({
      TableName: TABLE,
      Key: { pk: { S: "k" } },
      UpdateExpression: "SET #recent = :recent, #past = :past, #sequence = :sequence REMOVE #token, #lease",
      ExpressionAttributeNames: {
        "#recent": "recentIds",
        "#past": "pastIds",
        "#sequence": "sequenceNumber",
        "#token": "token",
        "#lease": "leaseExpiresAt",
      },
      ConditionExpression: "#token = :token",
      ExpressionAttributeValues: {
        ":token": { S: "tok" },
        ":recent": { S: "a b" },
        ":past": { S: "c d" },
        ":sequence": { S: "4960" },
      },
    });
    expectNamesMatch(client.calls[0] as Input);
    expect(client.calls[1]).toMatchObject({
      UpdateExpression: "SET #recent = :recent, #past = :past REMOVE #token, #lease",
      ExpressionAttributeValues: { ":token": { S: "tok" }, ":recent": { S: "e" }, ":past": { S: "" } },
    });
    expect(client.calls[1]?.ExpressionAttributeValues).not.toHaveProperty(":sequence");
    expectNamesMatch(client.calls[1] as Input);
  });

  it("is not written when another worker took the lease over, and other errors reach the caller", async () => {
    expect(
      await storeAnswering(() => {
        throw conditionFailed();
      }).store.commitCheckpoint("k", "tok", { recentIds: [] }),
    ).toBe(false);
    await expect(
      storeAnswering(() => {
        throw throttled();
      }).store.commitCheckpoint("k", "tok", { recentIds: [] }),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
  });
});
