import { v7 as uuidv7 } from "uuid";

/**
 * The JSON every producer writes and every consumer reads: one message of one type, with the ids that
 * make deduplication, ordering and tracing work.
 *
 * ```json
 * { "id": "0193…", "type": "order.placed", "key": "customer-42", "occurredAt": "2026-11-22T10:00:00.000Z",
 *   "payload": { … }, "correlationId": "0193…", "causationId": "0193…" }
 * ```
 */
export interface MessageEnvelope<TPayload = unknown> {
  /** Unique and time-ordered (UUIDv7). The dedup key, with the consumer group. */
  readonly id: string;
  /** What happened, e.g. `order.placed`; also sent as the SNS message attribute `type` for filter policies. */
  readonly type: string;
  /** The ordering key: MessageGroupId on FIFO topics, partition key on streams. */
  readonly key?: string;
  /** ISO-8601 time the producer created the message. */
  readonly occurredAt: string;
  readonly payload: TPayload;
  /** The id of the first message of the conversation this one belongs to. */
  readonly correlationId?: string;
  /** The id of the message whose processing produced this one. */
  readonly causationId?: string;
}

/** What a producer supplies; the rest of the envelope is filled in. */
export interface NewMessage<TPayload = unknown> {
  readonly type: string;
  readonly payload: TPayload;
  readonly key?: string;
  /** Reuse an id to make a retry of the same logical message deduplicate. @default - a new UUIDv7 */
  readonly id?: string;
  /** @default - now */
  readonly occurredAt?: Date | string;
  readonly correlationId?: string;
  readonly causationId?: string;
}

/** A new message id: a UUIDv7, unique and sortable by creation time. */
export function newMessageId(): string {
  return uuidv7();
}

export function createEnvelope<TPayload>(
  message: NewMessage<TPayload> | MessageEnvelope<TPayload>,
): MessageEnvelope<TPayload> {
  const occurredAt = message.occurredAt ?? new Date();
  return {
    id: message.id ?? newMessageId(),
    type: message.type,
    ...(message.key === undefined ? {} : { key: message.key }),
    occurredAt: typeof occurredAt === "string" ? occurredAt : occurredAt.toISOString(),
    payload: message.payload,
    ...(message.correlationId === undefined ? {} : { correlationId: message.correlationId }),
    ...(message.causationId === undefined ? {} : { causationId: message.causationId }),
  };
}

/** A follow-up message caused by `cause`: it inherits the conversation (correlation) and names its cause. */
export function causedBy<TPayload>(
  cause: MessageEnvelope,
  message: NewMessage<TPayload>,
): NewMessage<TPayload> {
  return { ...message, correlationId: cause.correlationId ?? cause.id, causationId: cause.id };
}

/** True when `value` has the shape of an envelope (payload itself is checked by a schema, if any). */
export function isEnvelope(value: unknown): value is MessageEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.id === "string" &&
    candidate.id.length > 0 &&
    typeof candidate.type === "string" &&
    typeof candidate.occurredAt === "string" &&
    "payload" in candidate &&
    (candidate.key === undefined || typeof candidate.key === "string")
  );
}
