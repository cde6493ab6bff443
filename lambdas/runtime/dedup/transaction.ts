import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import type { NewMessage } from "../envelope.js";

/** Where an outbox row is relayed to after its transaction commits. */
export type OutboxDestination = { readonly topicArn: string } | { readonly streamName: string };

/**
 * The writes a handler makes in transactional mode. They commit in ONE DynamoDB TransactWriteItems with
 * the record's dedup completion: all happen exactly once, or none does and the record is retried.
 */
export interface Transaction {
  /** Adds a DynamoDB write (Put, Update, Delete or ConditionCheck, in low-level attribute-value form). */
  write(item: TransactWriteItem): void;
  /** Adds an outgoing message as an outbox row; the outbox relay publishes it with its id after commit. */
  publish<TPayload>(destination: OutboxDestination, message: NewMessage<TPayload>): void;
}
