import { type Cleanup, createDedupTable, createTable, createTopic } from "../support/resources.js";

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
  return (await createTable(cleanup, "bench-powertools", { partitionKey: "id" })).tableName;
}
