import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { DEDUP_TABLE } from "../constants.js";
import { TransactionCancelledError } from "../errors.js";
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep } from "../retry.js";
import type {
  Checkpoint,
  CheckpointLease,
  ClaimRequest,
  ClaimResult,
  CompletionRequest,
  DedupRecord,
  DedupStore,
} from "./dedup-store.js";
import { COMPLETION_CLOCK_MARGIN_MS } from "./dedup-store.js";
import { describeAction } from "./transaction.js";

const PK = DEDUP_TABLE.partitionKey;
const TTL = DEDUP_TABLE.timeToLiveAttribute;
const BATCH_WRITE_MAX = 25;
const BATCH_GET_MAX = 100;

/** Every attribute name goes through a placeholder: `status` and `token` are DynamoDB reserved words. */
const NAMES = {
  "#pk": PK,
  "#status": "status",
  "#token": "token",
  "#lease": "leaseExpiresAt",
  "#ttl": TTL,
  "#fingerprint": "fingerprint",
  "#completedAt": "completedAt",
  "#sequence": "sequenceNumber",
  "#recent": "recentIds",
  "#past": "pastIds",
};

const n = (value: number): AttributeValue => ({ N: String(value) });
const s = (value: string): AttributeValue => ({ S: value });

/** The dedup store on a DynamoDB table (the DedupTable construct's). Every call is one round trip. */
export class DynamoDbDedupStore implements DedupStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async claim(claims: readonly ClaimRequest[], now: number): Promise<ClaimResult[]> {
    return Promise.all(
      claims.map(async (claim): Promise<ClaimResult> => {
        try {
          await this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: {
                [PK]: s(claim.key),
                status: s("IN_PROGRESS"),
                token: s(claim.token),
                leaseExpiresAt: n(claim.leaseExpiresAt),
                fingerprint: s(claim.fingerprint),
                [TTL]: n(claim.expiresAt),
              },
              // New; or a claim on the same content whose lease ran out (its worker died: a message reusing
              // the id with other content is told apart, since that worker may have had its effect); or a
              // record past its retention.
              ConditionExpression:
                "attribute_not_exists(#pk) OR (#status = :inProgress AND #lease < :now AND #fingerprint = :fingerprint) OR #ttl < :nowSeconds",
              ExpressionAttributeNames: pick(NAMES, "#pk", "#status", "#lease", "#fingerprint", "#ttl"),
              ExpressionAttributeValues: {
                ":inProgress": s("IN_PROGRESS"),
                ":now": n(now),
                ":fingerprint": s(claim.fingerprint),
                ":nowSeconds": n(Math.floor(now / 1000)),
              },
              // A duplicate costs no second read: the refusal carries the existing record.
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          );
          return { outcome: "claimed" };
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException && error.Item) {
            return { outcome: "exists", record: recordOf(error.Item) };
          }
          throw error;
        }
      }),
    );
  }

  async read(keys: readonly string[]): Promise<Map<string, DedupRecord>> {
    const found = new Map<string, DedupRecord>();
    await Promise.all(
      chunks(keys, BATCH_GET_MAX).map((chunk) =>
        untilProcessed(
          chunk.map((key): Record<string, AttributeValue> => ({ [PK]: s(key) })),
          async (pending) => {
            const response = await this.client.send(
              new BatchGetItemCommand({
                RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
              }),
            );
            for (const item of response.Responses?.[this.tableName] ?? []) {
              const record = recordOf(item);
              found.set(record.key, record);
            }
            return response.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
          },
          "dedup reads",
        ),
      ),
    );
    return found;
  }

  async complete(completions: readonly CompletionRequest[], now: number): Promise<string[]> {
    const live = completions.filter(
      (completion) => completion.leaseExpiresAt - COMPLETION_CLOCK_MARGIN_MS > now,
    );
    const expired = completions.filter((completion) => !live.includes(completion));
    const [, lost] = await Promise.all([
      Promise.all(
        chunks(live, BATCH_WRITE_MAX).map((chunk) =>
          untilProcessed(
            chunk.map(
              (completion): WriteRequest => ({
                PutRequest: {
                  Item: {
                    [PK]: s(completion.key),
                    status: s("COMPLETED"),
                    fingerprint: s(completion.fingerprint),
                    completedAt: n(now),
                    [TTL]: n(completion.expiresAt),
                  },
                },
              }),
            ),
            async (pending) => {
              const response = await this.client.send(
                new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
              );
              return response.UnprocessedItems?.[this.tableName] ?? [];
            },
            "dedup completions",
          ),
        ),
      ),
      Promise.all(expired.map((completion) => this.completeIfHeld(completion, now))),
    ]);
    return expired.filter((_, index) => !lost[index]).map((completion) => completion.key);
  }

  /** Completes a claim whose lease ran out only if this worker still holds it; false if another does. */
  private async completeIfHeld(completion: CompletionRequest, now: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PK]: s(completion.key) },
          UpdateExpression:
            "SET #status = :completed, #completedAt = :now, #ttl = :ttl, #fingerprint = :fingerprint REMOVE #token, #lease",
          ConditionExpression: "#token = :token AND #status = :inProgress",
          ExpressionAttributeNames: pick(
            NAMES,
            "#status",
            "#completedAt",
            "#ttl",
            "#fingerprint",
            "#token",
            "#lease",
          ),
          ExpressionAttributeValues: {
            ":completed": s("COMPLETED"),
            ":inProgress": s("IN_PROGRESS"),
            ":now": n(now),
            ":ttl": n(completion.expiresAt),
            ":fingerprint": s(completion.fingerprint),
            ":token": s(completion.token),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(claims: ReadonlyArray<{ key: string; token: string }>): Promise<void> {
    await Promise.all(
      claims.map(async (claim) => {
        try {
          await this.client.send(
            new DeleteItemCommand({
              TableName: this.tableName,
              Key: { [PK]: s(claim.key) },
              ConditionExpression: "#token = :token",
              ExpressionAttributeNames: pick(NAMES, "#token"),
              ExpressionAttributeValues: { ":token": s(claim.token) },
            }),
          );
        } catch (error) {
          // Someone else holds (or completed) it now: theirs is not ours to release.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }),
    );
  }

  async commit(
    completion: CompletionRequest,
    writes: readonly TransactWriteItem[],
    now: number,
  ): Promise<void> {
    const completionItem: TransactWriteItem = {
      Update: {
        TableName: this.tableName,
        Key: { [PK]: s(completion.key) },
        UpdateExpression: "SET #status = :completed, #completedAt = :now, #ttl = :ttl REMOVE #token, #lease",
        // Only while this worker holds the claim: a worker whose lease was taken over commits nothing.
        ConditionExpression: "#token = :token AND #status = :inProgress",
        ExpressionAttributeNames: pick(NAMES, "#status", "#completedAt", "#ttl", "#token", "#lease"),
        ExpressionAttributeValues: {
          ":completed": s("COMPLETED"),
          ":inProgress": s("IN_PROGRESS"),
          ":now": n(now),
          ":ttl": n(completion.expiresAt),
          ":token": s(completion.token),
        },
      },
    };
    const items = [completionItem, ...writes];
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const reasons = (error.CancellationReasons ?? [])
          .map((reason, index) => ({ reason, index }))
          .filter(({ reason }) => reason.Code && reason.Code !== "None")
          .map(({ reason, index }) => ({
            index,
            action:
              index === 0
                ? `dedup completion of ${completion.key}`
                : describeAction(items[index] as TransactWriteItem),
            code: reason.Code as string,
            ...(reason.Message ? { message: reason.Message } : {}),
          }));
        throw new TransactionCancelledError(completion.key, reasons, { cause: error });
      }
      throw error;
    }
  }

  async acquireCheckpoint(
    key: string,
    token: string,
    leaseExpiresAt: number,
    now: number,
  ): Promise<CheckpointLease> {
    try {
      const response = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PK]: s(key) },
          UpdateExpression: "SET #token = :token, #lease = :until",
          ConditionExpression: "attribute_not_exists(#token) OR #lease < :now",
          ExpressionAttributeNames: pick(NAMES, "#token", "#lease"),
          ExpressionAttributeValues: { ":token": s(token), ":until": n(leaseExpiresAt), ":now": n(now) },
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      const item = response.Attributes ?? {};
      return {
        outcome: "acquired",
        checkpoint: {
          ...(item.sequenceNumber?.S ? { sequenceNumber: item.sequenceNumber.S } : {}),
          recentIds: item.recentIds?.S ? item.recentIds.S.split(" ") : [],
          pastIds: item.pastIds?.S ? item.pastIds.S.split(" ") : [],
        },
      };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return { outcome: "held", leaseExpiresAt: Number(error.Item?.leaseExpiresAt?.N ?? 0) };
      }
      throw error;
    }
  }

  async commitCheckpoint(key: string, token: string, checkpoint: Checkpoint): Promise<boolean> {
    const moves = checkpoint.sequenceNumber !== undefined;
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PK]: s(key) },
          UpdateExpression: `SET #recent = :recent, #past = :past${moves ? ", #sequence = :sequence" : ""} REMOVE #token, #lease`,
          ConditionExpression: "#token = :token",
          ExpressionAttributeNames: pick(
            NAMES,
            "#recent",
            "#past",
            "#token",
            "#lease",
            ...(moves ? (["#sequence"] as const) : []),
          ),
          ExpressionAttributeValues: {
            ":token": s(token),
            ":recent": s(checkpoint.recentIds.join(" ")),
            ":past": s((checkpoint.pastIds ?? []).join(" ")),
            ...(moves ? { ":sequence": s(checkpoint.sequenceNumber as string) } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function recordOf(item: Record<string, AttributeValue>): DedupRecord {
  return {
    key: item[PK]?.S ?? "",
    status: item.status?.S === "COMPLETED" ? "COMPLETED" : "IN_PROGRESS",
    fingerprint: item.fingerprint?.S ?? "",
    ...(item.token?.S ? { token: item.token.S } : {}),
    ...(item.leaseExpiresAt?.N ? { leaseExpiresAt: Number(item.leaseExpiresAt.N) } : {}),
    expiresAt: Number(item[TTL]?.N ?? 0),
  };
}

/**
 * Sends a batch call, then again with what DynamoDB left unprocessed (throttling), backing off between
 * rounds; fails after the retry policy's attempts rather than looping for ever.
 */
async function untilProcessed<T>(
  items: T[],
  send: (pending: T[]) => Promise<T[]>,
  what: string,
): Promise<void> {
  let pending = items;
  for (let attempt = 1; pending.length > 0; attempt++) {
    pending = await send(pending);
    if (pending.length === 0) return;
    if (attempt >= DEFAULT_RETRY_POLICY.maxAttempts)
      throw new Error(`${pending.length} ${what} stayed unprocessed after ${attempt} attempts`);
    await sleep(backoffDelay(attempt, DEFAULT_RETRY_POLICY));
  }
}

function pick<T extends Record<string, string>>(source: T, ...names: Array<keyof T>): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, source[name]])) as Record<string, string>;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}
