import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { createEnvelope, type MessageEnvelope, type NewMessage } from "../envelope.js";
import { ConfigurationError, TransactionTooLargeError } from "../errors.js";
import { assertPublishable } from "../outbox/outbox-limits.js";
import { outboxPut } from "../outbox/outbox-row.js";
import { actionSize } from "./item-size.js";

/** Where an outbox row is relayed to after its transaction commits. */
export type OutboxDestination = { readonly topicArn: string } | { readonly streamName: string };

/**
 * The writes a handler makes in transactional mode. They commit in ONE DynamoDB TransactWriteItems with
 * the record's dedup completion: all happen exactly once, or none does and the record is retried.
 */
export interface Transaction {
  /** Adds a DynamoDB write (Put, Update, Delete or ConditionCheck, in low-level attribute-value form). */
  write(item: TransactWriteItem): void;
  /**
   * Adds an outgoing message as an outbox row; the outbox relay publishes it, keeping its id, once the
   * transaction has committed. Returns the envelope (with its id) that will be published. Throws a
   * PoisonMessageError (the message is dead-lettered) for an envelope its destination would never accept:
   * larger than 256 KiB for a topic or 1 MiB for a stream, or without a key for a FIFO topic.
   */
  publish<TPayload>(destination: OutboxDestination, message: NewMessage<TPayload>): MessageEnvelope<TPayload>;
}

/** DynamoDB's limits on one TransactWriteItems. */
export const TRANSACTION_MAX_ACTIONS = 100;
export const TRANSACTION_MAX_BYTES = 4 * 1024 * 1024;

export class TransactionBuilder implements Transaction {
  private readonly writes: TransactWriteItem[] = [];
  private readonly outbox: TransactWriteItem[] = [];

  constructor(
    private readonly tableName: string,
    private readonly outboxExpiresAt: number,
  ) {}

  write(item: TransactWriteItem): void {
    const kinds = (["Put", "Update", "Delete", "ConditionCheck"] as const).filter(
      (kind) => item[kind] !== undefined,
    );
    if (kinds.length !== 1) {
      throw new ConfigurationError(
        `A transaction write holds exactly one of Put, Update, Delete or ConditionCheck; this one holds ${kinds.length}.`,
      );
    }
    this.writes.push(item);
  }

  publish<TPayload>(
    destination: OutboxDestination,
    message: NewMessage<TPayload>,
  ): MessageEnvelope<TPayload> {
    const envelope = createEnvelope(message);
    assertPublishable(destination, envelope);
    this.outbox.push(outboxPut(this.tableName, { destination, envelope }, this.outboxExpiresAt));
    return envelope;
  }

  /** The handler's writes, then its outbox rows; checked against DynamoDB's limits with the completion. */
  items(): TransactWriteItem[] {
    const items = [...this.writes, ...this.outbox];
    const actions = items.length + 1;
    if (actions > TRANSACTION_MAX_ACTIONS) {
      throw new TransactionTooLargeError(
        `The transaction has ${actions} actions (the dedup completion, ${this.writes.length} writes and ` +
          `${this.outbox.length} outbox messages); DynamoDB allows ${TRANSACTION_MAX_ACTIONS}. Split the work across messages.`,
      );
    }
    // Counted as DynamoDB counts them (binary by its length, not as the JSON of a byte array).
    const bytes = items.reduce((sum, item) => sum + actionSize(item), 0);
    if (bytes > TRANSACTION_MAX_BYTES) {
      throw new TransactionTooLargeError(
        `The transaction's items come to ${bytes} bytes; DynamoDB allows ${TRANSACTION_MAX_BYTES}.`,
      );
    }
    return items;
  }
}

/** A short description of a transaction action, for cancellation reasons. */
export function describeAction(item: TransactWriteItem): string {
  const [kind, body] = Object.entries(item).find(([, value]) => value !== undefined) ?? ["?", undefined];
  const keyed = body as
    | { TableName?: string; Item?: Record<string, unknown>; Key?: Record<string, unknown> }
    | undefined;
  const key = keyed?.Key ?? keyed?.Item;
  const firstKey = key ? Object.values(key)[0] : undefined;
  const keyText =
    firstKey && typeof firstKey === "object"
      ? Object.values(firstKey as Record<string, unknown>)[0]
      : undefined;
  return `${kind} ${keyed?.TableName ?? ""}${keyText === undefined ? "" : ` ${String(keyText)}`}`.trim();
}
