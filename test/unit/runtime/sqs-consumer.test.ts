import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type SqsConsumerOptions, sqsConsumer } from "../../../lambdas/runtime/consumers/sqs-consumer.js";
import type { MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import { ConfigurationError, PoisonMessageError, RetryLaterError } from "../../../lambdas/runtime/errors.js";
import { envelopeBody, sqsEvent, sqsRecord } from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

function consumer<T>(options: Partial<SqsConsumerOptions<T>> & Pick<SqsConsumerOptions<T>, "handler">) {
  const deadLetters = new RecordingDeadLetters();
  const observer = new RecordingObserver();
  const handler = sqsConsumer<T>({ group: "billing", deadLetterSink: deadLetters, observer, ...options });
  return { handler, deadLetters, observer };
}

const order = (id: string, extra: Record<string, unknown> = {}) =>
  envelopeBody({ payload: { orderId: id, ...extra } });

describe("sqsConsumer on a standard queue", () => {
  it("reports exactly the messages whose handler failed", async () => {
    const { handler } = consumer<{ orderId: string }>({
      handler: (message) => {
        if (message.payload.orderId.startsWith("bad")) throw new Error("billing system rejected it");
      },
    });
    const event = sqsEvent(
      sqsRecord({ messageId: "a", body: order("ok-1") }),
      sqsRecord({ messageId: "b", body: order("bad-1") }),
      sqsRecord({ messageId: "c", body: order("ok-2") }),
      sqsRecord({ messageId: "d", body: order("bad-2") }),
    );

    expect(await handler(event)).toEqual({
      batchItemFailures: [{ itemIdentifier: "b" }, { itemIdentifier: "d" }],
    });
  });

  it("runs messages concurrently, never more than `concurrency` at once", async () => {
    let running = 0;
    let peak = 0;
    const { handler } = consumer({
      concurrency: 3,
      handler: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
      },
    });
    const response = await handler(sqsEvent(...Array.from({ length: 10 }, () => sqsRecord())));

    expect(response.batchItemFailures).toEqual([]);
    expect(peak).toBe(3);
  });

  it("passes the typed payload validated by a Standard Schema (zod) and dead-letters a mismatch", async () => {
    const OrderPlaced = z.object({ orderId: z.string(), total: z.number().positive() });
    const totals: number[] = [];
    const { handler, deadLetters } = consumer({
      schema: OrderPlaced,
      handler: (message: MessageEnvelope<z.infer<typeof OrderPlaced>>) => {
        totals.push(message.payload.total);
      },
    });
    const response = await handler(
      sqsEvent(
        sqsRecord({ messageId: "good", body: order("o-1", { total: 12.5 }) }),
        sqsRecord({ messageId: "wrong", body: order("o-2", { total: "twelve" }), receiveCount: 2 }),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(totals).toEqual([12.5]);
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]).toMatchObject({
      reason: "schema-mismatch",
      sourceRecordId: "wrong",
      consumerGroup: "billing",
      attempt: 2,
    });
    expect(deadLetters.letters[0]?.detail).toMatch(/^total: /);
  });

  it.each([
    ["not JSON", "{not json", "not-json"],
    ["JSON but not an envelope", '{"hello":"world"}', "not-an-envelope"],
    ["larger than the limit", order("o-1", { blob: "x".repeat(300) }), "too-large"],
  ])(
    "dead-letters a body that is %s with its reason, keeping the body as delivered",
    async (_, body, reason) => {
      const { handler, deadLetters } = consumer({ maxBodyBytes: 256, handler: () => undefined });
      const response = await handler(
        sqsEvent(sqsRecord({ messageId: "poison", body }), sqsRecord({ messageId: "fine" })),
      );

      expect(response.batchItemFailures).toEqual([]);
      expect(deadLetters.letters).toEqual([
        expect.objectContaining({
          reason,
          body,
          sourceRecordId: "poison",
          source: expect.stringContaining("orders-billing"),
        }),
      ]);
    },
  );

  it("dead-letters what the handler rejects with PoisonMessageError, with its message as the detail", async () => {
    const { handler, deadLetters } = consumer({
      handler: () => {
        throw new PoisonMessageError("order o-9 references an unknown currency XYZ");
      },
    });
    const response = await handler(sqsEvent(sqsRecord({ messageId: "x" })));

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters[0]).toMatchObject({
      reason: "rejected-by-handler",
      detail: "order o-9 references an unknown currency XYZ",
    });
  });

  it("reports poison failed when it cannot be dead-lettered, so that it is never lost", async () => {
    const { handler, deadLetters, observer } = consumer({ handler: () => undefined });
    deadLetters.failing = true;
    const response = await handler(sqsEvent(sqsRecord({ messageId: "poison", body: "nope" })));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "poison" }]);
    expect(observer.deadLetterFailures).toEqual(["poison"]);
  });

  it("reports poison failed when no dead-letter queue is configured, and says why", async () => {
    const observer = new RecordingObserver();
    const handler = sqsConsumer({ group: "billing", observer, handler: () => undefined });
    const result = await handler.processEvent(sqsEvent(sqsRecord({ messageId: "poison", body: "nope" })));

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: "poison" }]);
    expect(result.outcomes[0]).toMatchObject({ kind: "failed", error: expect.stringMatching(/^not-json: /) });
    expect(observer.deadLetterFailures).toEqual(["poison"]);
    expect(observer.batches[0]).toMatchObject({ failed: 1, deadLettered: 0 });
  });

  it("on the queue's last receive, dead-letters a failing message with the error instead of losing the reason", async () => {
    const { handler, deadLetters } = consumer({
      maxReceiveCount: 3,
      handler: () => {
        throw new RetryLaterError("payment provider timed out");
      },
    });
    const early = await handler(sqsEvent(sqsRecord({ messageId: "m", receiveCount: 2 })));
    const last = await handler(sqsEvent(sqsRecord({ messageId: "m", receiveCount: 3 })));

    expect(early.batchItemFailures).toEqual([{ itemIdentifier: "m" }]);
    expect(last.batchItemFailures).toEqual([]);
    expect(deadLetters.letters[0]).toMatchObject({
      reason: "retries-exhausted",
      detail: "RetryLaterError: payment provider timed out (attempt 3 of 3)",
    });
  });

  it("unwraps an SNS notification (a subscription without raw delivery)", async () => {
    const seen: string[] = [];
    const { handler } = consumer<{ orderId: string }>({
      handler: (message) => {
        seen.push(message.payload.orderId);
      },
    });
    const notification = JSON.stringify({
      Type: "Notification",
      MessageId: "sns-1",
      TopicArn: "arn:aws:sns:us-east-1:000000000000:orders",
      Message: order("o-7"),
    });
    await handler(sqsEvent(sqsRecord({ body: notification })));

    expect(seen).toEqual(["o-7"]);
  });

  it("consumes plain JSON with format: json, taking the id, type and time from the record", async () => {
    const seen: MessageEnvelope[] = [];
    const { handler } = consumer({
      format: "json",
      handler: (message) => {
        seen.push(message);
      },
    });
    await handler(sqsEvent(sqsRecord({ messageId: "sqs-1", body: '{"sku":"A-1"}', type: "stock.changed" })));

    expect(seen).toEqual([
      { id: "sqs-1", type: "stock.changed", occurredAt: "2025-11-22T08:26:40.000Z", payload: { sku: "A-1" } },
    ]);
  });

  it("summarises each batch for logs and metrics", async () => {
    const { handler, observer } = consumer({
      handler: (message: MessageEnvelope<{ orderId: string }>) => {
        if (message.payload.orderId === "bad") throw new Error("boom");
      },
    });
    await handler(
      sqsEvent(sqsRecord({ body: order("ok") }), sqsRecord({ body: order("bad") }), sqsRecord({ body: "x" })),
    );

    expect(observer.batches[0]).toMatchObject({
      group: "billing",
      received: 3,
      processed: 1,
      failed: 1,
      deadLettered: 1,
      deadLetterReasons: { "not-json": 1 },
    });
  });

  it("fails at cold start, naming the fix, when no consumer group is given", () => {
    delete process.env.BROKER_CONSUMER_GROUP;
    expect(() => sqsConsumer({ handler: () => undefined })).toThrow(ConfigurationError);
    expect(() => sqsConsumer({ handler: () => undefined })).toThrow(/set BROKER_CONSUMER_GROUP/);
  });
});

describe("sqsConsumer on a FIFO queue", () => {
  it("keeps each group in order and, after a failure, reports the rest of that group without running it", async () => {
    const ran: string[] = [];
    const { handler } = consumer<{ orderId: string }>({
      handler: (message) => {
        ran.push(message.payload.orderId);
        if (message.payload.orderId === "a2") throw new Error("stock service down");
      },
    });
    const response = await handler(
      sqsEvent(
        sqsRecord({ messageId: "a1", groupId: "customer-a", body: order("a1") }),
        sqsRecord({ messageId: "b1", groupId: "customer-b", body: order("b1") }),
        sqsRecord({ messageId: "a2", groupId: "customer-a", body: order("a2") }),
        sqsRecord({ messageId: "b2", groupId: "customer-b", body: order("b2") }),
        sqsRecord({ messageId: "a3", groupId: "customer-a", body: order("a3") }),
        sqsRecord({ messageId: "a4", groupId: "customer-a", body: order("a4") }),
      ),
    );

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: "a2" },
      { itemIdentifier: "a3" },
      { itemIdentifier: "a4" },
    ]);
    expect(ran.filter((id) => id.startsWith("a"))).toEqual(["a1", "a2"]);
    expect(ran.filter((id) => id.startsWith("b"))).toEqual(["b1", "b2"]);
  });

  it("runs one group's messages one at a time, in order, while groups run side by side", async () => {
    const events: string[] = [];
    const { handler } = consumer<{ orderId: string }>({
      handler: async (message) => {
        events.push(`start ${message.payload.orderId}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
        events.push(`end ${message.payload.orderId}`);
      },
    });
    await handler(
      sqsEvent(
        sqsRecord({ groupId: "g1", body: order("x1") }),
        sqsRecord({ groupId: "g1", body: order("x2") }),
        sqsRecord({ groupId: "g2", body: order("y1") }),
      ),
    );

    expect(events.indexOf("end x1")).toBeLessThan(events.indexOf("start x2"));
    expect(events.indexOf("start y1")).toBeLessThan(events.indexOf("end x1"));
  });

  it("dead-letters poison without stopping its group, keeping the message group for the FIFO dead-letter queue", async () => {
    const ran: string[] = [];
    const { handler, deadLetters } = consumer<{ orderId: string }>({
      handler: (message) => {
        ran.push(message.payload.orderId);
      },
    });
    const response = await handler(
      sqsEvent(
        sqsRecord({ groupId: "g", body: order("1") }),
        sqsRecord({ groupId: "g", messageId: "poison", body: "garbage" }),
        sqsRecord({ groupId: "g", body: order("3") }),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toEqual(["1", "3"]);
    expect(deadLetters.letters[0]).toMatchObject({ sourceRecordId: "poison", messageGroupId: "g" });
  });

  it("on the last receive, dead-letters the messages stuck behind a failure rather than letting redrive drop their reason", async () => {
    const { handler, deadLetters } = consumer<{ orderId: string }>({
      maxReceiveCount: 2,
      handler: (message) => {
        if (message.payload.orderId === "1") throw new Error("downstream 503");
      },
    });
    const response = await handler(
      sqsEvent(
        sqsRecord({ groupId: "g", messageId: "first", receiveCount: 1, body: order("1") }),
        sqsRecord({ groupId: "g", messageId: "second", receiveCount: 2, body: order("2") }),
      ),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "first" }]);
    expect(deadLetters.letters).toEqual([
      expect.objectContaining({
        sourceRecordId: "second",
        reason: "retries-exhausted",
        detail: "not run: the earlier message first of its lane failed (attempt 2 of 2)",
      }),
    ]);
  });
});
