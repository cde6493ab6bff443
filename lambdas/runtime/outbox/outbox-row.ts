import type { AttributeValue, TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { DEDUP_TABLE } from "../constants.js";
import type { OutboxDestination } from "../dedup/transaction.js";
import { isEnvelope, type MessageEnvelope } from "../envelope.js";
import { POISON_REASONS, PoisonMessageError } from "../errors.js";

/**
 * An outgoing message written in a transaction, for the outbox relay to publish after commit. It lives
 * in the dedup table (whose stream the relay reads) under `outbox#<message id>`.
 */
export interface OutboxRow {
  readonly destination: OutboxDestination;
  readonly envelope: MessageEnvelope;
}

export function outboxPut(tableName: string, row: OutboxRow, expiresAt: number): TransactWriteItem {
  const destination: Record<string, AttributeValue> =
    "topicArn" in row.destination
      ? { topicArn: { S: row.destination.topicArn } }
      : { streamName: { S: row.destination.streamName } };
  return {
    Put: {
      TableName: tableName,
      Item: {
        [DEDUP_TABLE.partitionKey]: { S: `${DEDUP_TABLE.outboxPrefix}${row.envelope.id}` },
        ...destination,
        envelope: { S: JSON.stringify(row.envelope) },
        [DEDUP_TABLE.timeToLiveAttribute]: { N: String(expiresAt) },
      },
    },
  };
}

/**
 * Reads an outbox row from a stream image (unmarshalled); undefined for any other item of the table.
 * Throws for an outbox row that cannot be read: its envelope is not JSON (a SyntaxError), or not an envelope,
 * or it names no destination (a PoisonMessageError with reason `not-an-envelope`).
 */
export function outboxRowOf(image: Record<string, unknown> | undefined): OutboxRow | undefined {
  const key = image?.[DEDUP_TABLE.partitionKey];
  if (typeof key !== "string" || !key.startsWith(DEDUP_TABLE.outboxPrefix)) return undefined;
  const envelope: unknown = JSON.parse(String(image?.envelope));
  if (!isEnvelope(envelope)) {
    throw new PoisonMessageError(
      `Outbox row ${key} holds no message envelope (id, type, occurredAt, payload).`,
      POISON_REASONS.notAnEnvelope,
    );
  }
  if (typeof image?.topicArn === "string") return { destination: { topicArn: image.topicArn }, envelope };
  if (typeof image?.streamName === "string")
    return { destination: { streamName: image.streamName }, envelope };
  // Poison, not a configuration error: the row is data in the table, and the relay must move past it.
  throw new PoisonMessageError(
    `Outbox row ${key} names neither a topicArn nor a streamName.`,
    POISON_REASONS.notAnEnvelope,
  );
}
