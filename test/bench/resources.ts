import { CreateTableCommand, DeleteTableCommand, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import { uniqueName } from "../support/names.js";
import { type Cleanup, createDedupTable, createTopic, dynamodb } from "../support/resources.js";

export interface BenchResources {
  readonly topicArn: string;
  readonly dedupTable: string;
  /** Shaped as Powertools idempotency expects: partition key `id`. */
  readonly powertoolsTable: string;
}

/** What every benchmark shares, deleted by `cleanup.run()` at the end. */
export async function createBenchResources(cleanup: Cleanup): Promise<BenchResources> {
  return {
    topicArn: await createTopic(cleanup, "bench-orders"),
    dedupTable: (await createDedupTable(cleanup, "bench-dedup")).tableName,
    powertoolsTable: await createPowertoolsTable(cleanup),
  };
}

async function createPowertoolsTable(cleanup: Cleanup): Promise<string> {
  const tableName = uniqueName("bench-powertools");
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  cleanup.add(() => dynamodb.send(new DeleteTableCommand({ TableName: tableName })));
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60, minDelay: 1 }, { TableName: tableName });
  return tableName;
}
