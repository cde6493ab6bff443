/**
 * What lands in a group's dead-letter queue: the original body unchanged (base64 only where SQS cannot
 * carry it), the reason and provenance as message attributes, and on a FIFO DLQ one copy per record.
 * A fake SQS client records the SendMessage calls; the DLQ path on a real queue is tested end to end in
 * test/integration/runtime.test.ts.
 */
import type { SendMessageCommandInput, SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { type DeadLetter, SqsDeadLetterSink } from "../../../lambdas/runtime/consumers/dead-letter.js";
import { FakeClient } from "../../support/fake-clients.js";

const letter: DeadLetter = {
  body: '{"id":"m1"}',
  reason: "schema-mismatch",
  detail: "payload.amount: expected a number",
  consumerGroup: "billing",
  messageId: "m1",
  source: "arn:aws:sqs:us-east-1:000000000000:billing",
  sourceRecordId: "sqs-id-1",
};

async function sent(queueUrl: string, deadLetter: DeadLetter): Promise<SendMessageCommandInput> {
  const client = new FakeClient<SendMessageCommandInput>(() => ({ MessageId: "dlq-1" }));
  await new SqsDeadLetterSink(queueUrl, client as unknown as SQSClient).send(deadLetter);
  expect(client.calls).toHaveLength(1);
  return client.calls[0] as SendMessageCommandInput;
}

const attribute = (input: SendMessageCommandInput, name: string) =>
  input.MessageAttributes?.[name]?.StringValue;

describe("a dead letter on its way to the group's DLQ", () => {
  it("keeps the original body and carries the reason, detail, group, message id and where it came from", async () => {
    const before = Date.now();
    const input = await sent("https://sqs.us-east-1.amazonaws.com/000000000000/billing-dlq", letter);

    expect(input.QueueUrl).toBe("https://sqs.us-east-1.amazonaws.com/000000000000/billing-dlq");
    expect(input.MessageBody).toBe('{"id":"m1"}');
    expect(input.MessageAttributes).toMatchObject({
      "broker.reason": { DataType: "String", StringValue: "schema-mismatch" },
      "broker.detail": { DataType: "String", StringValue: "payload.amount: expected a number" },
      "broker.consumerGroup": { DataType: "String", StringValue: "billing" },
      "broker.messageId": { DataType: "String", StringValue: "m1" },
      "broker.source": { DataType: "String", StringValue: "arn:aws:sqs:us-east-1:000000000000:billing" },
      "broker.sourceRecordId": { DataType: "String", StringValue: "sqs-id-1" },
    });
    const failedAt = Date.parse(attribute(input, "broker.failedAt") ?? "");
    expect(failedAt).toBeGreaterThanOrEqual(before - 1);
    expect(failedAt).toBeLessThanOrEqual(Date.now() + 1);
    expect(input.MessageAttributes).not.toHaveProperty("broker.bodyEncoding");
    expect(input.MessageAttributes).not.toHaveProperty("broker.attempt");
    // A standard queue takes neither a group nor a deduplication id.
    expect(input).not.toHaveProperty("MessageGroupId");
    expect(input).not.toHaveProperty("MessageDeduplicationId");
  });

  it("carries the delivery attempt it failed on, where the source counts attempts", async () => {
    const input = await sent("https://q/dlq", { ...letter, attempt: 5 });
    expect(input.MessageAttributes?.["broker.attempt"]).toEqual({ DataType: "Number", StringValue: "5" });
    // SQS takes at most 10 attributes a message.
    expect(Object.keys(input.MessageAttributes ?? {}).length).toBeLessThanOrEqual(10);
  });

  it("fills what SQS will not take empty, and cuts a long detail, so the send is never refused", async () => {
    const input = await sent("https://q/dlq", {
      ...letter,
      detail: "",
      source: "",
      messageId: undefined,
    } as DeadLetter);
    expect(attribute(input, "broker.detail")).toBe("-");
    expect(attribute(input, "broker.source")).toBe("-");
    expect(input.MessageAttributes).not.toHaveProperty("broker.messageId");

    const long = await sent("https://q/dlq", { ...letter, detail: "x".repeat(5_000) });
    expect(attribute(long, "broker.detail")).toBe("x".repeat(1_000));
  });

  it("sends a body SQS cannot carry (control characters) base64-encoded, and says so", async () => {
    const raw = "\u0000\u0001binary";
    const input = await sent("https://q/dlq", { ...letter, body: raw });
    expect(input.MessageBody).toBe(Buffer.from(raw).toString("base64"));
    expect(attribute(input, "broker.bodyEncoding")).toBe("base64");

    // Tabs, newlines and carriage returns are allowed: such a body goes as it is.
    const text = await sent("https://q/dlq", { ...letter, body: "line\tone\r\nline two" });
    expect(text.MessageBody).toBe("line\tone\r\nline two");
  });

  it("keeps a body already base64-encoded by the source as it is", async () => {
    const input = await sent("https://q/dlq", { ...letter, body: "AAEC", bodyEncoding: "base64" });
    expect(input.MessageBody).toBe("AAEC");
    expect(attribute(input, "broker.bodyEncoding")).toBe("base64");
  });

  it("on a FIFO DLQ keeps the message group, and sends a record dead-lettered twice only once", async () => {
    const url = "https://q/billing-dlq.fifo";
    const first = await sent(url, { ...letter, messageGroupId: "customer-7" });
    const again = await sent(url, { ...letter, messageGroupId: "customer-7", detail: "second attempt" });
    const other = await sent(url, { ...letter, sourceRecordId: "sqs-id-2" });

    expect(first.MessageGroupId).toBe("customer-7");
    expect(first.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
    expect(again.MessageDeduplicationId).toBe(first.MessageDeduplicationId);
    expect(other.MessageDeduplicationId).not.toBe(first.MessageDeduplicationId);
    // Without a group of its own, the consumer group orders its dead letters.
    expect(other.MessageGroupId).toBe("billing");
  });
});
