/**
 * Killing an emulator mid-run, as the chaos suite does: with a data directory DynamoDB Local comes back
 * with its tables, and, stopped with SIGTERM, with every write it acknowledged while clients were writing.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  TransactWriteItemsCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "../../infra/local/cloud/index.js";

const TABLE = "restart-durability";
const ACKNOWLEDGED_BEFORE_RESTART = 60;
const ACKNOWLEDGED_AFTER_RESTART = 10;

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
};
let cloud: LocalCloud;
let client: DynamoDBClient;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "restart-"));
  cloud = await startLocalCloud({ port: 0, dataDir, logDir: join(dataDir, "logs") });
  client = new DynamoDBClient({ endpoint: cloud.endpoint, maxAttempts: 1 });
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
      StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_IMAGE" },
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: TABLE });
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await cloud?.stop();
});

describe("restarting DynamoDB Local with a data directory", () => {
  it("keeps every transaction it acknowledged when stopped with SIGTERM, while requests in flight fail", async () => {
    const acknowledged: string[] = [];
    let refused = 0;
    let writing = true;
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      for (let index = 0; writing; index++) {
        const key = `${writer}-${index}`;
        try {
          await client.send(
            new TransactWriteItemsCommand({
              TransactItems: [
                { Put: { TableName: TABLE, Item: { pk: { S: `claim#${key}` } } } },
                { Put: { TableName: TABLE, Item: { pk: { S: `effect#${key}` } } } },
              ],
            }),
          );
          acknowledged.push(key);
        } catch {
          refused++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    });
    // Conditions, not a clock: a busy machine writes fewer transactions a second, not fewer in all.
    await until(() => acknowledged.length >= ACKNOWLEDGED_BEFORE_RESTART);
    await cloud.restart("dynamodb-local", { signal: "SIGTERM" });
    const afterRestart = acknowledged.length;
    await until(() => acknowledged.length >= afterRestart + ACKNOWLEDGED_AFTER_RESTART);
    writing = false;
    await Promise.all(writers);

    const lost: string[] = [];
    for (const key of acknowledged) {
      for (const pk of [`claim#${key}`, `effect#${key}`]) {
        const { Item } = await client.send(
          new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk } }, ConsistentRead: true }),
        );
        if (!Item) lost.push(pk);
      }
    }
    expect(refused, "writes failed while it was down").toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThanOrEqual(
      ACKNOWLEDGED_BEFORE_RESTART + ACKNOWLEDGED_AFTER_RESTART,
    );
    expect(lost).toEqual([]);
  }, 60_000);
});
