/**
 * DynamoDB Local keeps expired items forever; the local cloud's sweeper deletes them as AWS does (within
 * days on AWS, within a sweep here). Source for the rules (TTL in epoch seconds, a Number attribute, values
 * more than five years old ignored):
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
 */
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { TtlSweeper } from "../../infra/local/cloud/ttl-sweeper.js";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { Cleanup, createDedupTable, dynamodb } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

describe("the local cloud's TTL sweeper", () => {
  it("deletes the items whose TTL has passed and keeps the rest", async () => {
    const { tableName } = await createDedupTable(cleanup, "ttl-sweep");
    // A month ahead: the test cloud's own sweeps (real time) leave every item below alone.
    const now = new Date(Date.now() + 30 * 24 * 3600 * 1000);
    const seconds = Math.floor(now.getTime() / 1000);
    const items: Record<string, Record<string, { N: string } | { S: string }> | Record<string, never>> = {
      expired: { [DEDUP_TABLE.timeToLiveAttribute]: { N: String(seconds - 60) } },
      live: { [DEDUP_TABLE.timeToLiveAttribute]: { N: String(seconds + 3600) } },
      // AWS ignores TTL values more than five years in the past, and attributes that are not Numbers.
      ancient: { [DEDUP_TABLE.timeToLiveAttribute]: { N: String(seconds - 6 * 365 * 24 * 3600) } },
      notANumber: { [DEDUP_TABLE.timeToLiveAttribute]: { S: String(seconds - 60) } },
      noTtl: {},
    };
    for (const [id, attributes] of Object.entries(items))
      await dynamodb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { [DEDUP_TABLE.partitionKey]: { S: id }, ...attributes },
        }),
      );

    const sweeper = new TtlSweeper(
      process.env.AWS_ENDPOINT_URL as string,
      process.env.AWS_REGION ?? "us-east-1",
    );
    try {
      // This table only: other suites share the cloud, and their records expire within the month.
      expect(await sweeper.sweep(now, [tableName])).toBe(1);
    } finally {
      await sweeper.stop();
    }

    const remaining: string[] = [];
    for (const id of Object.keys(items)) {
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: tableName, Key: { [DEDUP_TABLE.partitionKey]: { S: id } } }),
      );
      if (Item) remaining.push(id);
    }
    expect(remaining.sort()).toEqual(["ancient", "live", "noTtl", "notANumber"]);
  });
});
