/**
 * How a record's body becomes a message, or poison with its reason: size, JSON, the envelope's shape, an
 * SNS notification around it (subscriptions without raw delivery), the `json` format and the schema.
 */
import { describe, expect, it } from "vitest";
import {
  decodeEnvelope,
  type EnvelopeDecoding,
  envelopeDecoding,
} from "../../../lambdas/runtime/consumers/decode-envelope.js";

const fallback = { id: "sqs-1", occurredAt: "2026-12-05T00:00:00.000Z" };
const asEnvelope: EnvelopeDecoding<unknown> = { maxBodyBytes: 1_000, format: "envelope" };
const asJson: EnvelopeDecoding<unknown> = { maxBodyBytes: 1_000, format: "json" };
const envelope = {
  id: "m-1",
  type: "order.placed",
  key: "c-1",
  occurredAt: "2026-12-04T00:00:00.000Z",
  payload: { n: 1 },
};
const notification = (message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    Type: "Notification",
    MessageId: "sns-1",
    TopicArn: "arn:aws:sns:us-east-1:000000000000:orders",
    Message: message,
    MessageAttributes: { type: { Type: "String", Value: "order.placed" } },
    ...extra,
  });

describe("decoding a record's body", () => {
  it("takes the channel's own maximum unless the consumer sets one, and the envelope format by default", () => {
    expect(envelopeDecoding({}, 262_144)).toEqual({ maxBodyBytes: 262_144, format: "envelope" });
    expect(envelopeDecoding({ maxBodyBytes: 10, format: "json" }, 262_144)).toEqual({
      maxBodyBytes: 10,
      format: "json",
    });
  });

  it("refuses a body over the limit in bytes, not characters, and accepts one at it", async () => {
    const body = JSON.stringify({ ...envelope, payload: "é".repeat(10) });
    const bytes = Buffer.byteLength(body);
    expect(await decodeEnvelope(body, { ...asEnvelope, maxBodyBytes: bytes - 1 }, fallback)).toEqual({
      ok: false,
      reason: "too-large",
      detail: `${bytes} bytes exceeds the consumer's limit of ${bytes - 1}`,
    });
    expect((await decodeEnvelope(body, { ...asEnvelope, maxBodyBytes: bytes }, fallback)).ok).toBe(true);
  });

  it("calls a body that is not JSON not-json, and JSON that is not an envelope not-an-envelope, naming the fix", async () => {
    expect(await decodeEnvelope("{oops", asEnvelope, fallback)).toMatchObject({
      ok: false,
      reason: "not-json",
    });
    expect(await decodeEnvelope('{"hello":1}', asEnvelope, fallback)).toEqual({
      ok: false,
      reason: "not-an-envelope",
      detail:
        'expected a JSON object with id, type, occurredAt and payload (set format: "json" to consume plain JSON)',
    });
  });

  it("unwraps an SNS notification, keyed by the SNS MessageId that both copies of a redelivery share", async () => {
    const decoded = await decodeEnvelope(notification(JSON.stringify(envelope)), asEnvelope, fallback);
    expect(decoded).toMatchObject({ ok: true, message: envelope, messageId: "m-1" });

    const plain = await decodeEnvelope(notification('{"total":3}'), asJson, fallback);
    expect(plain).toMatchObject({
      ok: true,
      messageId: "sns-1",
      message: { id: "sns-1", type: "order.placed", occurredAt: fallback.occurredAt, payload: { total: 3 } },
    });
    // Without a MessageId or a type attribute, the record's own id and type stand.
    const bare = await decodeEnvelope(
      notification("[1]", { MessageId: "", MessageAttributes: undefined }),
      asJson,
      {
        ...fallback,
        type: "from-record",
      },
    );
    expect(bare).toMatchObject({ ok: true, messageId: "sqs-1", message: { type: "from-record" } });
  });

  it("calls an SNS notification whose Message is not JSON not-json, saying so", async () => {
    const decoded = await decodeEnvelope(notification("{oops"), asEnvelope, fallback);
    expect(decoded).toMatchObject({ ok: false, reason: "not-json" });
    expect((decoded as { detail: string }).detail).toMatch(/^SNS Message: /);
  });

  it("treats a body that only looks like a notification as the message itself", async () => {
    for (const lookalike of [
      { Type: "Notification", Message: "{}" }, // no TopicArn
      { Type: "Notification", TopicArn: "arn", Message: 7 },
      { Type: "SubscriptionConfirmation", TopicArn: "arn", Message: "{}" },
    ]) {
      const decoded = await decodeEnvelope(JSON.stringify(lookalike), asJson, fallback);
      expect(decoded).toMatchObject({ ok: true, messageId: "sqs-1", message: { payload: lookalike } });
    }
    expect(await decodeEnvelope("null", asJson, fallback)).toMatchObject({
      ok: true,
      message: { payload: null },
    });
  });

  it("builds an envelope around plain JSON from the record: its id, time, key, else type unknown", async () => {
    expect(await decodeEnvelope("[1,2]", asJson, { ...fallback, key: "pk-1" })).toMatchObject({
      ok: true,
      message: {
        id: "sqs-1",
        type: "unknown",
        occurredAt: fallback.occurredAt,
        key: "pk-1",
        payload: [1, 2],
      },
    });
    const unkeyed = await decodeEnvelope("[1,2]", asJson, fallback);
    expect((unkeyed as { message: object }).message).not.toHaveProperty("key");
  });

  it("fingerprints type, key and payload, not the time a resend may change", async () => {
    const fingerprint = async (body: object) => {
      const decoded = await decodeEnvelope(JSON.stringify(body), asEnvelope, fallback);
      return (decoded as { fingerprint: () => string }).fingerprint();
    };
    const original = await fingerprint(envelope);
    expect(original).toMatch(/^[\w-]{22}$/);
    expect(await fingerprint({ ...envelope, occurredAt: "2030-01-01T00:00:00.000Z" })).toBe(original);
    expect(await fingerprint({ ...envelope, payload: { n: 2 } })).not.toBe(original);
    expect(await fingerprint({ ...envelope, type: "order.paid" })).not.toBe(original);
    expect(await fingerprint({ ...envelope, key: "c-2" })).not.toBe(original);
    const { key: _key, ...unkeyed } = envelope;
    expect(await fingerprint(unkeyed)).not.toBe(original);
    expect(await fingerprint({ ...unkeyed, key: "" })).toBe(await fingerprint(unkeyed));
  });

  it("validates the payload with the schema: a mismatch is poison naming the message, a match replaces it", async () => {
    const schema = {
      "~standard": {
        version: 1 as const,
        vendor: "test",
        validate: (value: unknown) =>
          typeof (value as { n?: unknown }).n === "number"
            ? { value: { n: (value as { n: number }).n * 10 } }
            : { issues: [{ message: "n: expected a number" }] },
      },
    };
    const withSchema = { ...asEnvelope, schema } as EnvelopeDecoding<{ n: number }>;
    expect(await decodeEnvelope(JSON.stringify(envelope), withSchema, fallback)).toMatchObject({
      ok: true,
      message: { payload: { n: 10 } },
    });
    const wrong = await decodeEnvelope(
      JSON.stringify({ ...envelope, payload: { n: "x" } }),
      withSchema,
      fallback,
    );
    expect(wrong).toMatchObject({ ok: false, reason: "schema-mismatch", messageId: "m-1" });
    expect((wrong as { detail: string }).detail).toContain("n: expected a number");
  });
});
