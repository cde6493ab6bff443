import { createHash } from "node:crypto";
import { MESSAGE_ATTRIBUTES } from "../constants.js";
import { isEnvelope, type MessageEnvelope } from "../envelope.js";
import { POISON_REASONS, type PoisonReason } from "../errors.js";
import { type StandardSchemaV1, validate } from "../schema.js";
import type { EnvelopeConsumerOptions } from "./consumer-options.js";
import type { Decoded } from "./engine-record.js";

export interface EnvelopeDecoding<TPayload> {
  readonly maxBodyBytes: number;
  readonly schema?: StandardSchemaV1<unknown, TPayload>;
  /**
   * `envelope`: the body is a MessageEnvelope (what this library's producers write).
   * `json`: any JSON body; it becomes the payload of an envelope built from the record (`fallback`).
   */
  readonly format: "envelope" | "json";
}

/** A wrapper's decoding settings from its options; the size limit defaults to the channel's own maximum. */
export function envelopeDecoding<TPayload>(
  options: Pick<EnvelopeConsumerOptions<TPayload>, "maxBodyBytes" | "format" | "schema">,
  channelMaxBodyBytes: number,
): EnvelopeDecoding<TPayload> {
  return {
    maxBodyBytes: options.maxBodyBytes ?? channelMaxBodyBytes,
    format: options.format ?? "envelope",
    ...(options.schema ? { schema: options.schema } : {}),
  };
}

/** What the record itself knows, for the `json` format: its id, time and key. */
export interface EnvelopeFallback {
  readonly id: string;
  readonly occurredAt: string;
  readonly key?: string;
  readonly type?: string;
}

/**
 * Turns a body into a typed envelope, or says why it is poison: too large, not JSON, not an envelope, or
 * not what the schema expects. An SNS notification (subscription without raw delivery) is unwrapped.
 * Synchronous unless there is a schema (a Standard Schema validator may answer with a promise): a batch of
 * a thousand records does not pay for a thousand promises it does not need.
 */
export function decodeEnvelope<TPayload>(
  body: string,
  decoding: EnvelopeDecoding<TPayload>,
  fallback: EnvelopeFallback,
): Decoded<MessageEnvelope<TPayload>> | Promise<Decoded<MessageEnvelope<TPayload>>> {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: a body that short cannot be over, and is not measured.
  const bytes = body.length * 3 <= decoding.maxBodyBytes ? 0 : Buffer.byteLength(body);
  if (bytes > decoding.maxBodyBytes) {
    return poison(
      POISON_REASONS.tooLarge,
      `${bytes} bytes exceeds the consumer's limit of ${decoding.maxBodyBytes}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return poison(POISON_REASONS.notJson, (error as Error).message);
  }
  let type = fallback.type;
  let id = fallback.id;
  if (isSnsNotification(parsed)) {
    type = parsed.MessageAttributes?.[MESSAGE_ATTRIBUTES.type]?.Value ?? type;
    // SNS may deliver one notification twice, as two SQS messages: its MessageId is what they share.
    if (typeof parsed.MessageId === "string" && parsed.MessageId) id = parsed.MessageId;
    try {
      parsed = JSON.parse(parsed.Message);
    } catch (error) {
      return poison(POISON_REASONS.notJson, `SNS Message: ${(error as Error).message}`);
    }
  }

  let envelope: MessageEnvelope;
  if (decoding.format === "json") {
    envelope = {
      id,
      type: type ?? "unknown",
      occurredAt: fallback.occurredAt,
      payload: parsed,
      ...(fallback.key === undefined ? {} : { key: fallback.key }),
    };
  } else if (isEnvelope(parsed)) {
    envelope = parsed;
  } else {
    return poison(
      POISON_REASONS.notAnEnvelope,
      'expected a JSON object with id, type, occurredAt and payload (set format: "json" to consume plain JSON)',
    );
  }

  if (decoding.schema) return validated(envelope, decoding.schema);
  return new DecodedEnvelope(envelope as MessageEnvelope<TPayload>);
}

async function validated<TPayload>(
  envelope: MessageEnvelope,
  schema: StandardSchemaV1<unknown, TPayload>,
): Promise<Decoded<MessageEnvelope<TPayload>>> {
  const result = await validate(schema, envelope.payload);
  if (!result.ok) return poison(POISON_REASONS.schemaMismatch, result.issues, envelope.id);
  return new DecodedEnvelope({ ...envelope, payload: result.value });
}

/** A readable envelope (a class: its fingerprint is a method, not a closure made for every record). */
class DecodedEnvelope<TPayload> {
  readonly ok = true;
  readonly messageId: string;

  constructor(readonly message: MessageEnvelope<TPayload>) {
    this.messageId = message.id;
  }

  /** What makes two messages the same: type, key and payload (not occurredAt, which a resend may change). */
  fingerprint(): string {
    const { type, key, payload } = this.message;
    return fingerprintOf(`${type}\n${key ?? ""}\n${JSON.stringify(payload)}`);
  }
}

/** A short hash of some content (base64url, 132 bits). */
export function fingerprintOf(content: string): string {
  return createHash("sha256").update(content).digest("base64url").slice(0, 22);
}

function poison(reason: PoisonReason, detail: string, messageId?: string): Decoded<never> {
  return { ok: false, reason, detail, ...(messageId ? { messageId } : {}) };
}

interface SnsNotification {
  readonly Type: "Notification";
  readonly MessageId?: string;
  readonly Message: string;
  readonly TopicArn: string;
  readonly MessageAttributes?: Record<string, { Type: string; Value: string }>;
}

function isSnsNotification(value: unknown): value is SnsNotification {
  const candidate = value as Partial<SnsNotification> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    candidate.Type === "Notification" &&
    typeof candidate.Message === "string" &&
    typeof candidate.TopicArn === "string"
  );
}
