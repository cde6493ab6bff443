import {
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";

/**
 * DynamoDB Local never expires items: it stores a table's TTL setting and ignores it. Left running all day
 * (dedup records carry a TTL), its tables and its memory grow without bound. This sweeper does locally what
 * AWS does: it deletes the items whose TTL attribute (a Number, epoch seconds) is in the past.
 *
 * Differences from AWS, by design:
 * - AWS deletes expired items "typically within a few days" of expiry, at no cost and in the background;
 *   this deletes them within one sweep interval. Code must not count on either: expired items are still
 *   readable until deleted, on AWS too (filter on the TTL attribute where that matters).
 * - AWS ignores TTL values more than five years in the past; so does this.
 * - AWS's stream record of a TTL delete carries `userIdentity: { type: "Service", principalId:
 *   "dynamodb.amazonaws.com" }`; DynamoDB Local's REMOVE record of this delete carries none.
 * Source: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
 */
export class TtlSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly client: DynamoDBClient;

  constructor(endpoint: string, region: string) {
    this.client = new DynamoDBClient({
      endpoint,
      region,
      // DynamoDB Local accepts only letters and digits in an access key id.
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
  }

  /** Sweeps every `intervalMs` until stopped; a failed sweep (the emulator restarting) waits for the next. */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Deletes every expired item of every table with TTL enabled (or of `tableNames` only); returns how many.
   * One sweep at a time.
   */
  sweep(now: Date = new Date(), tableNames?: readonly string[]): Promise<number> {
    this.running ??= this.sweepAll(now, tableNames).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
    this.client.destroy();
  }

  private async sweepAll(now: Date, only: readonly string[] | undefined): Promise<number> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    // "Items with a TTL older than five years are not deleted" (the TTL page above).
    const oldestSeconds = nowSeconds - 5 * 365 * 24 * 3600;
    let deleted = 0;
    let startTable: string | undefined;
    do {
      const page = await this.client.send(new ListTablesCommand({ ExclusiveStartTableName: startTable }));
      for (const tableName of page.TableNames ?? [])
        if (!only || only.includes(tableName))
          deleted += await this.sweepTable(tableName, nowSeconds, oldestSeconds);
      startTable = page.LastEvaluatedTableName;
    } while (startTable);
    return deleted;
  }

  private async sweepTable(tableName: string, nowSeconds: number, oldestSeconds: number): Promise<number> {
    const ttl = await this.client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const attribute =
      ttl.TimeToLiveDescription?.TimeToLiveStatus === "ENABLED"
        ? ttl.TimeToLiveDescription.AttributeName
        : undefined;
    if (!attribute) return 0;
    const table = await this.client.send(new DescribeTableCommand({ TableName: tableName }));
    const keys = (table.Table?.KeySchema ?? []).map((key) => key.AttributeName as string);
    const names: Record<string, string> = { "#ttl": attribute };
    keys.forEach((key, index) => {
      names[`#k${index}`] = key;
    });
    let deleted = 0;
    let startKey: Record<string, import("@aws-sdk/client-dynamodb").AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: tableName,
          // A non-Number TTL attribute never expires an item (as on AWS): BETWEEN only matches Numbers.
          FilterExpression: "#ttl BETWEEN :oldest AND :now",
          ProjectionExpression: keys.map((_, index) => `#k${index}`).join(", "),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ":oldest": { N: String(oldestSeconds) },
            ":now": { N: String(nowSeconds - 1) },
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        await this.client
          .send(
            new DeleteItemCommand({
              TableName: tableName,
              Key: item,
              // Only if it is still expired: a writer may have renewed it since the scan.
              ConditionExpression: "#ttl < :now",
              ExpressionAttributeNames: { "#ttl": attribute },
              ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
            }),
          )
          .then(
            () => {
              deleted++;
            },
            (error: Error) => {
              if (error.name !== "ConditionalCheckFailedException") throw error;
            },
          );
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return deleted;
  }
}
