/**
 * The outbox relay as a DynamoDB Streams handler: what it publishes, where, and what it reports back to
 * Lambda when a destination fails. SNS and Kinesis are fakes here, for the refusals and throttling an
 * emulator cannot produce on demand; the relay on the local cloud is tested in test/integration.
 */
import type { PutRecordsCommandInput } from "@aws-sdk/client-kinesis";
import type { PublishBatchCommandInput } from "@aws-sdk/client-sns";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumerLogger } from "../../../lambdas/runtime/consumers/observability.js";
import { createEnvelope } from "../../../lambdas/runtime/envelope.js";
import { outboxRelay } from "../../../lambdas/runtime/outbox/outbox-relay.js";
import { AccessDenied, FakeClient, ThrottlingError } from "../../support/fake-clients.js";
import { dynamodbEvent, dynamodbRecord } from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

const PAID = "arn:aws:sns:us-east-1:000000000000:paid";
const SHIPPED = "arn:aws:sns:us-east-1:000000000000:shipped";
const STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/dedup/stream/2026-11-22T00:00:00.000";

const envelopeOf = (id: string, type = "order.paid") =>
  JSON.stringify(createEnvelope({ id, type, key: "customer-1", payload: { id } }));
const topicRow = (sequence: string, id: string, topicArn = PAID) =>
  dynamodbRecord(sequence, { pk: `outbox#${id}`, topicArn, envelope: envelopeOf(id) });

type Failure = { Id: string; Code: string; SenderFault: boolean; Message: string };

/** SNS that answers each PublishBatch with `failures(ids)` failed and the rest published. */
function fakeSns(
  failures: (ids: string[], call: number) => Array<Omit<Failure, "Id"> & { id: string }> = () => [],
) {
  return new FakeClient<PublishBatchCommandInput>((input, call) => {
    const entries = input.PublishBatchRequestEntries ?? [];
    const ids = entries.map((entry) => JSON.parse(entry.Message ?? "{}").id as string);
    const failed = failures(ids, call).map(({ id, ...rest }) => ({ ...rest, Id: String(ids.indexOf(id)) }));
    return {
      Successful: entries
        .filter((entry) => !failed.some((failure) => failure.Id === entry.Id))
        .map((entry) => ({ Id: entry.Id, MessageId: `sns-${entry.Id}` })),
      Failed: failed,
    };
  });
}

function relay(sns = fakeSns(), options: { deadLetters?: RecordingDeadLetters | null; group?: string } = {}) {
  const observer = new RecordingObserver();
  const deadLetters = options.deadLetters === undefined ? new RecordingDeadLetters() : options.deadLetters;
  const handler = outboxRelay({
    snsClient: sns as never,
    observer,
    retry: { baseDelayMs: 1, maxDelayMs: 2 },
    ...(deadLetters ? { deadLetterSink: deadLetters } : {}),
    ...(options.group ? { group: options.group } : {}),
  });
  return { handler, sns, observer, deadLetters };
}

const publishedIds = (sns: FakeClient<PublishBatchCommandInput>) =>
  sns.calls.map((call) =>
    (call.PublishBatchRequestEntries ?? []).map((entry) => JSON.parse(entry.Message ?? "").id),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe("the outbox relay", () => {
  it("publishes each committed row to its topic, one batch a destination, keeping id, type and order", async () => {
    const { handler, sns, observer } = relay();

    const response = await handler(
      dynamodbEvent(
        topicRow("1", "a"),
        topicRow("2", "b", SHIPPED),
        topicRow("3", "c"),
        topicRow("4", "d", SHIPPED),
      ),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(sns.calls.map((call) => call.TopicArn)).toEqual([PAID, SHIPPED]);
    expect(publishedIds(sns)).toEqual([
      ["a", "c"],
      ["b", "d"],
    ]);
    expect(sns.calls[0]?.PublishBatchRequestEntries?.[0]?.MessageAttributes).toEqual({
      type: { DataType: "String", StringValue: "order.paid" },
    });
    expect(observer.batches[0]).toMatchObject({
      group: "outbox-relay",
      source: STREAM_ARN,
      received: 4,
      processed: 4,
      skipped: 0,
      failed: 0,
      deadLettered: 0,
    });
  });

  it("publishes a row for a stream to that stream, keyed by the message key", async () => {
    const kinesis = new FakeClient<PutRecordsCommandInput>((input) => ({
      FailedRecordCount: 0,
      Records: (input.Records ?? []).map((_, index) => ({
        SequenceNumber: String(index),
        ShardId: "shardId-0",
      })),
    }));
    const handler = outboxRelay({ kinesisClient: kinesis as never, observer: new RecordingObserver() });

    await handler(
      dynamodbEvent(
        dynamodbRecord("1", { pk: "outbox#s1", streamName: "payments", envelope: envelopeOf("s1") }),
      ),
    );

    expect(kinesis.calls).toHaveLength(1);
    expect(kinesis.calls[0]?.StreamName).toBe("payments");
    expect(kinesis.calls[0]?.Records?.map((record) => record.PartitionKey)).toEqual(["customer-1"]);
  });

  it("leaves the table's other items and changes alone", async () => {
    const { handler, sns, observer } = relay();
    const modified = { ...topicRow("2", "b"), eventName: "MODIFY" as const };
    const removed = { ...topicRow("3", "c"), eventName: "REMOVE" as const };
    const claim = dynamodbRecord("4", { pk: "billing#m1", status: "COMPLETED" });
    const keysOnly = topicRow("5", "e");
    delete keysOnly.dynamodb?.NewImage;

    const response = await handler(dynamodbEvent(topicRow("1", "a"), modified, removed, claim, keysOnly));

    expect(response.batchItemFailures).toEqual([]);
    expect(publishedIds(sns)).toEqual([["a"]]);
    expect(observer.batches[0]).toMatchObject({ received: 5, processed: 1, skipped: 4 });
  });

  it("dead-letters a row SNS refuses as too large with that reason, and where it came from", async () => {
    const sns = fakeSns((ids) =>
      ids.includes("big")
        ? [{ id: "big", Code: "MessageTooLarge", SenderFault: true, Message: "too big" }]
        : [],
    );
    const { handler, deadLetters, observer } = relay(sns, { group: "payments-relay" });

    const response = await handler(dynamodbEvent(topicRow("7", "big"), topicRow("8", "next")));

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters?.letters).toEqual([
      {
        body: expect.stringContaining('"big"'),
        reason: "too-large",
        detail: `${PAID} refused it: MessageTooLarge: too big`,
        consumerGroup: "payments-relay",
        messageId: "big",
        source: STREAM_ARN,
        sourceRecordId: "7",
      },
    ]);
    expect(JSON.parse(deadLetters?.letters[0]?.body ?? "")).toMatchObject({
      destination: { topicArn: PAID },
    });
    expect(observer.deadLetters).toEqual(["7"]);
    expect(observer.batches[0]).toMatchObject({
      processed: 1,
      deadLettered: 1,
      failed: 0,
      skipped: 0,
      deadLetterReasons: { "too-large": 1 },
    });
  });

  it("dead-letters a row whose FIFO topic needs a key it lacks, before sending anything", async () => {
    const { handler, sns, deadLetters } = relay();
    const fifo = "arn:aws:sns:us-east-1:000000000000:paid.fifo";
    const unkeyed = JSON.stringify(createEnvelope({ id: "u1", type: "order.paid", payload: {} }));

    const response = await handler(
      dynamodbEvent(dynamodbRecord("1", { pk: "outbox#u1", topicArn: fifo, envelope: unkeyed })),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters?.letters.map((letter) => [letter.messageId, letter.reason])).toEqual([
      ["u1", "rejected-by-destination"],
    ]);
    expect(sns.calls).toEqual([]);
  });

  it("reports a row a destination keeps failing and every later row, so Lambda retries from it in order", async () => {
    vi.useFakeTimers();
    const sns = fakeSns((ids) =>
      ids.includes("b") ? [{ id: "b", Code: "Throttled", SenderFault: false, Message: "slow down" }] : [],
    );
    const { handler, deadLetters, observer } = relay(sns);

    const responding = handler(
      dynamodbEvent(topicRow("1", "a"), topicRow("2", "b"), topicRow("3", "c", SHIPPED)),
    );
    await vi.runAllTimersAsync();
    const response = await responding;

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "2" }, { itemIdentifier: "3" }]);
    expect(deadLetters?.letters).toEqual([]);
    expect(observer.batches[0]).toMatchObject({ received: 3, processed: 2, failed: 2, skipped: 0 });
  });

  it("reports an unpublishable row instead of losing it when no dead-letter queue is configured, or it fails", async () => {
    const sns = fakeSns((ids) =>
      ids.includes("refused")
        ? [{ id: "refused", Code: "InvalidParameter", SenderFault: true, Message: "no" }]
        : [],
    );
    const withoutQueue = relay(sns, { deadLetters: null });
    expect(
      (await withoutQueue.handler(dynamodbEvent(topicRow("1", "ok"), topicRow("2", "refused"))))
        .batchItemFailures,
    ).toEqual([{ itemIdentifier: "2" }]);

    const broken = new RecordingDeadLetters();
    broken.failing = true;
    const failingQueue = relay(fakeSns(), { deadLetters: broken });
    const unreadable = dynamodbRecord("5", { pk: "outbox#x", topicArn: PAID, envelope: "{not json" });
    expect(
      (await failingQueue.handler(dynamodbEvent(unreadable, topicRow("6", "after")))).batchItemFailures,
    ).toEqual([{ itemIdentifier: "5" }, { itemIdentifier: "6" }]);
    expect(failingQueue.observer.batches[0]).toMatchObject({ deadLettered: 0, failed: 2 });
  });

  it("dead-letters an unreadable row with the image it found: not-json, or not-an-envelope (no envelope, no destination)", async () => {
    const { handler, deadLetters } = relay();
    const notJson = dynamodbRecord("1", { pk: "outbox#x", topicArn: PAID, envelope: "{not json" });
    const notEnvelope = dynamodbRecord("2", { pk: "outbox#y", topicArn: PAID, envelope: '{"hello":1}' });

    await handler(dynamodbEvent(notJson, notEnvelope));

    expect(deadLetters?.letters.map((letter) => letter.reason)).toEqual(["not-json", "not-an-envelope"]);
    await handler(dynamodbEvent(dynamodbRecord("3", { pk: "outbox#z", envelope: envelopeOf("z") })));
    expect(deadLetters?.letters[2]).toMatchObject({
      reason: "not-an-envelope",
      detail:
        "unreadable outbox row: PoisonMessageError: Outbox row outbox#z names neither a topicArn nor a streamName.",
    });
    expect(deadLetters?.letters[0]?.detail).toMatch(/^unreadable outbox row: /);
    expect(JSON.parse(deadLetters?.letters[0]?.body ?? "")).toMatchObject({ pk: { S: "outbox#x" } });
    expect(deadLetters?.letters[0]).not.toHaveProperty("messageId");
  });
});

describe("outbox relay: rows that can never be published among rows that can", () => {
  const FIFO = "arn:aws:sns:us-east-1:000000000000:paid.fifo";
  const row = (sequence: string, id: string, payload: unknown = { id }, topicArn = FIFO) =>
    dynamodbRecord(sequence, {
      pk: `outbox#${id}`,
      topicArn,
      envelope: JSON.stringify(createEnvelope({ id, type: "order.paid", key: "customer-1", payload })),
    });

  it("on a FIFO topic, publishes the rows of a key behind one it dead-letters, in order, in the same invocation", async () => {
    const { handler, sns, deadLetters } = relay(
      fakeSns((ids) =>
        ids.includes("refused")
          ? [{ id: "refused", Code: "InvalidParameter", SenderFault: true, Message: "bad attribute" }]
          : [],
      ),
    );
    const response = await handler(
      dynamodbEvent(row("1", "first"), row("2", "refused"), row("3", "after"), row("4", "last")),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters?.letters.map((letter) => [letter.messageId, letter.reason])).toEqual([
      ["refused", "rejected-by-destination"],
    ]);
    expect(
      publishedIds(sns)
        .flat()
        .filter((id) => id !== "refused"),
    ).toEqual(["first", "after", "last"]);
  });

  it("dead-letters a row past a transient failure once, when Lambda's retry brings it back", async () => {
    let throttled = 8; // the publisher's attempts: the first row comes back to Lambda
    const { handler, deadLetters } = relay(
      fakeSns((ids) =>
        ids.includes("flaky") && throttled-- > 0
          ? [{ id: "flaky", Code: "InternalError", SenderFault: false, Message: "try again" }]
          : [],
      ),
    );
    const batch = dynamodbEvent(row("1", "flaky", {}, PAID), row("2", "big", "x".repeat(300_000), PAID));
    expect((await handler(batch)).batchItemFailures).toEqual([
      { itemIdentifier: "1" },
      { itemIdentifier: "2" },
    ]);
    expect(deadLetters?.letters).toEqual([]);
    expect((await handler(batch)).batchItemFailures).toEqual([]);
    expect(deadLetters?.letters.map((letter) => [letter.messageId, letter.reason])).toEqual([
      ["big", "too-large"],
    ]);
  });
});

describe("outbox relay: failures it reports, logs and keeps in order", () => {
  const FIFO = "arn:aws:sns:us-east-1:000000000000:paid.fifo";
  const fifoRow = (sequence: string, id: string, payload: unknown = { id }) =>
    dynamodbRecord(sequence, {
      pk: `outbox#${id}`,
      topicArn: FIFO,
      envelope: JSON.stringify(createEnvelope({ id, type: "order.paid", key: "customer-1", payload })),
    });
  /** The relay group's logger, spied on: what an operator reads in CloudWatch. */
  const errorsLogged = (group: string) => {
    const error = vi.spyOn(consumerLogger(group), "error");
    return () => error.mock.calls.map(([message, fields]) => ({ message, ...(fields as object) }));
  };

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("dead-letters the rows of a destination that refuses the whole call (not authorized), and publishes the others", async () => {
    const sns = new FakeClient<PublishBatchCommandInput>((input) => {
      if (input.TopicArn === PAID) throw new AccessDenied("not authorized to publish to paid");
      return {
        Successful: (input.PublishBatchRequestEntries ?? []).map((entry) => ({
          Id: entry.Id,
          MessageId: "x",
        })),
        Failed: [],
      };
    });
    const { handler, observer, deadLetters } = relay(sns);

    const response = await handler(
      dynamodbEvent(topicRow("1", "a", SHIPPED), topicRow("2", "b"), topicRow("3", "c")),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(publishedIds(sns).filter((ids) => ids.includes("a"))).toEqual([["a"]]);
    expect(deadLetters?.letters.map((letter) => [letter.messageId, letter.reason, letter.detail])).toEqual([
      [
        "b",
        "rejected-by-destination",
        `${PAID} refused it: AuthorizationErrorException: not authorized to publish to paid`,
      ],
      [
        "c",
        "rejected-by-destination",
        `${PAID} refused it: AuthorizationErrorException: not authorized to publish to paid`,
      ],
    ]);
    expect(observer.batches[0]).toMatchObject({ processed: 1, deadLettered: 2, failed: 0 });
  });

  it("on a FIFO topic, holds back the rows of a key behind a transient failure: they come back with it, not before", async () => {
    const sns = fakeSns((ids) =>
      ids.includes("flaky")
        ? [{ id: "flaky", Code: "InternalError", SenderFault: false, Message: "try again" }]
        : [],
    );
    const { handler, deadLetters } = relay(sns);

    const response = await handler(dynamodbEvent(fifoRow("1", "flaky"), fifoRow("2", "after")));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "1" }, { itemIdentifier: "2" }]);
    expect(publishedIds(sns).flat()).not.toContain("after");
    expect(deadLetters?.letters).toEqual([]);
  });

  it("retries a stream destination as the relay's retry policy says", async () => {
    const kinesis = new FakeClient<PutRecordsCommandInput>(() => {
      throw new ThrottlingError("Rate exceeded for shard");
    });
    const handler = outboxRelay({
      kinesisClient: kinesis as never,
      observer: new RecordingObserver(),
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });

    const response = await handler(
      dynamodbEvent(
        dynamodbRecord("1", { pk: "outbox#s1", streamName: "payments", envelope: envelopeOf("s1") }),
      ),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "1" }]);
    expect(kinesis.calls).toHaveLength(2);
  });

  it("dead-letters unpublishable rows in row order: one whose dead letter fails holds back those after it", async () => {
    // Row 2 is refused by SNS (found while publishing), row 3 is unreadable (found before): order decides.
    const sns = fakeSns((ids) =>
      ids.includes("refused")
        ? [{ id: "refused", Code: "InvalidParameter", SenderFault: true, Message: "no" }]
        : [],
    );
    const letters: unknown[] = [];
    const handler = outboxRelay({
      snsClient: sns as never,
      observer: new RecordingObserver(),
      group: "relay-dlq-order",
      deadLetterSink: {
        send: async (letter) => {
          if (letter.sourceRecordId === "2") throw new Error("dead-letter queue unavailable");
          letters.push(letter);
        },
      },
    });
    const logged = errorsLogged("relay-dlq-order");

    const response = await handler(
      dynamodbEvent(
        topicRow("1", "ok"),
        topicRow("2", "refused"),
        dynamodbRecord("3", { pk: "outbox#x", topicArn: PAID, envelope: "{not json" }),
      ),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "2" }, { itemIdentifier: "3" }]);
    expect(letters).toEqual([]);
    expect(logged()).toContainEqual({
      message: "could not dead-letter an outbox row",
      messageId: "refused",
      error: "Error: dead-letter queue unavailable",
    });
  });

  it("without a dead-letter queue, logs each unpublishable row with its id and reason", async () => {
    const sns = fakeSns((ids) =>
      ids.includes("refused")
        ? [{ id: "refused", Code: "InvalidParameter", SenderFault: true, Message: "no" }]
        : [],
    );
    const { handler } = relay(sns, { deadLetters: null, group: "relay-no-dlq" });
    const logged = errorsLogged("relay-no-dlq");

    await handler(dynamodbEvent(topicRow("1", "refused")));

    expect(logged()).toContainEqual({
      message: "an outbox row cannot be published and no dead-letter queue is configured",
      messageId: "refused",
      reason: "rejected-by-destination",
      detail: expect.stringContaining("InvalidParameter"),
    });
  });

  it("tells the observer of each dead letter with the row's message id", async () => {
    const sns = fakeSns((ids) =>
      ids.includes("refused")
        ? [{ id: "refused", Code: "InvalidParameter", SenderFault: true, Message: "no" }]
        : [],
    );
    const { handler, observer } = relay(sns);

    await handler(dynamodbEvent(topicRow("7", "refused")));

    expect(observer.events).toEqual([
      expect.objectContaining({
        kind: "dead-lettered",
        sourceRecordId: "7",
        messageId: "refused",
        reason: "rejected-by-destination",
      }),
    ]);
  });

  it("summarises an empty batch, and reports a batch's duration no longer than the call took", async () => {
    const { handler, observer } = relay(
      new FakeClient<PublishBatchCommandInput>(async (input) => {
        await new Promise((resolve) => setTimeout(resolve, 25));
        return {
          Successful: (input.PublishBatchRequestEntries ?? []).map((entry) => ({
            Id: entry.Id,
            MessageId: "x",
          })),
          Failed: [],
        };
      }),
    );
    await handler(dynamodbEvent());
    const before = performance.now();
    await handler(dynamodbEvent(topicRow("1", "a")));
    const elapsed = performance.now() - before;

    expect(observer.batches[0]).toMatchObject({ source: "", received: 0, processed: 0 });
    // A 25 ms timer never fires early by more than Node's 1 ms rounding; the upper bound is the call itself.
    expect(observer.batches[1]?.durationMs).toBeGreaterThanOrEqual(20);
    expect(observer.batches[1]?.durationMs).toBeLessThanOrEqual(elapsed + 0.01);
  });
});
