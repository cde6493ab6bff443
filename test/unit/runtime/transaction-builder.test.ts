/**
 * What a handler may put in its transaction, checked in the handler against DynamoDB's limits
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html: 100 actions,
 * 4 MB) and its outgoing messages against their destination's (SNS 256 KiB, Kinesis 1 MiB).
 */
import { describe, expect, it } from "vitest";
import { describeAction, TransactionBuilder } from "../../../lambdas/runtime/dedup/transaction.js";
import { createEnvelope } from "../../../lambdas/runtime/envelope.js";
import {
  ConfigurationError,
  PoisonMessageError,
  TransactionTooLargeError,
} from "../../../lambdas/runtime/errors.js";
import {
  assertPublishable,
  KINESIS_RECORD_MAX_BYTES,
  outgoingBytes,
  SNS_MESSAGE_MAX_BYTES,
} from "../../../lambdas/runtime/outbox/outbox-limits.js";
import { outboxPut, outboxRowOf } from "../../../lambdas/runtime/outbox/outbox-row.js";

const topic = { topicArn: "arn:aws:sns:us-east-1:000000000000:orders" };
const fifoTopic = { topicArn: "arn:aws:sns:us-east-1:000000000000:orders.fifo" };
const stream = { streamName: "payments" };
const put = (id: string) => ({ Put: { TableName: "ledger", Item: { id: { S: id } } } });

describe("a transaction's writes", () => {
  it("are the handler's writes, then its outbox rows, in the order given", () => {
    const tx = new TransactionBuilder("dedup", 1_800_000_000);
    tx.write(put("a"));
    const envelope = tx.publish(topic, { type: "OrderPaid", payload: { id: 1 }, id: "m-1" });
    tx.write(put("b"));

    const items = tx.items();

    expect(items.slice(0, 2)).toEqual([put("a"), put("b")]);
    expect(items[2]).toEqual(outboxPut("dedup", { destination: topic, envelope }, 1_800_000_000));
    expect(envelope).toMatchObject({ id: "m-1", type: "OrderPaid", payload: { id: 1 } });
  });

  it("refuse a write holding no action, or two", () => {
    const tx = new TransactionBuilder("dedup", 1);
    expect(() => tx.write({})).toThrow(ConfigurationError);
    expect(() => tx.write({ ...put("a"), Delete: { TableName: "t", Key: { id: { S: "a" } } } })).toThrow(
      "exactly one of Put, Update, Delete or ConditionCheck; this one holds 2",
    );
    for (const kind of ["Update", "Delete", "ConditionCheck"] as const)
      expect(() => tx.write({ [kind]: { TableName: "t", Key: { id: { S: "a" } } } } as never)).not.toThrow();
  });

  it("may hold 99 actions beside the dedup completion, not 100 (101 in all)", () => {
    const tx = new TransactionBuilder("dedup", 1);
    for (let index = 0; index < 98; index++) tx.write(put(`w${index}`));
    tx.publish(stream, { type: "Paid", payload: {}, key: "k" });
    expect(tx.items()).toHaveLength(99);

    tx.write(put("one-too-many"));
    expect(() => tx.items()).toThrow(TransactionTooLargeError);
    expect(() => tx.items()).toThrow(
      "The transaction has 101 actions (the dedup completion, 99 writes and 1 outbox messages); DynamoDB allows 100.",
    );
  });

  it("may come to 4 MB counted as DynamoDB counts binary, and not a byte more", () => {
    const item = (bytes: number) => ({ Put: { TableName: "t", Item: { b: { B: new Uint8Array(bytes) } } } });
    const fits = new TransactionBuilder("dedup", 1);
    fits.write(item(4 * 1024 * 1024 - 1)); // plus the attribute name "b": exactly 4 MiB
    expect(fits.items()).toHaveLength(1);

    const over = new TransactionBuilder("dedup", 1);
    over.write(item(4 * 1024 * 1024));
    expect(() => over.items()).toThrow(
      `The transaction's items come to ${4 * 1024 * 1024 + 1} bytes; DynamoDB allows 4194304.`,
    );
  });
});

describe("an outgoing message's size, as its destination counts it", () => {
  const envelope = createEnvelope({ type: "OrderPaid", payload: { note: "é" }, key: "order-1", id: "m-1" });
  const body = Buffer.byteLength(JSON.stringify(envelope));

  it("is, for a topic, the body plus the type attribute (name, data type and value)", () => {
    expect(outgoingBytes(topic, envelope)).toBe(body + "type".length + "String".length + "OrderPaid".length);
  });

  it("is, for a stream, the data plus the partition key: the message key, else its id", () => {
    expect(outgoingBytes(stream, envelope)).toBe(body + "order-1".length);
    const unkeyed = createEnvelope({ type: "OrderPaid", payload: {}, id: "m-22" });
    expect(outgoingBytes(stream, unkeyed)).toBe(Buffer.byteLength(JSON.stringify(unkeyed)) + "m-22".length);
  });

  it("is refused in the handler past 256 KiB for a topic and 1 MiB for a stream, naming both figures", () => {
    const sized = (total: number, destination: typeof topic | typeof stream) => {
      const base = createEnvelope({ type: "T", payload: "", key: "k", id: "m" });
      const padding = total - outgoingBytes(destination, base);
      return createEnvelope({ type: "T", payload: "x".repeat(padding), key: "k", id: "m" });
    };
    expect(() => assertPublishable(topic, sized(SNS_MESSAGE_MAX_BYTES, topic))).not.toThrow();
    expect(() => assertPublishable(topic, sized(SNS_MESSAGE_MAX_BYTES + 1, topic))).toThrow(
      `Message m (T) comes to ${SNS_MESSAGE_MAX_BYTES + 1} bytes, but ${topic.topicArn} accepts at most ${SNS_MESSAGE_MAX_BYTES}`,
    );
    expect(() => assertPublishable(stream, sized(KINESIS_RECORD_MAX_BYTES, stream))).not.toThrow();
    const error = (() => {
      try {
        assertPublishable(stream, sized(KINESIS_RECORD_MAX_BYTES + 1, stream));
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PoisonMessageError);
    expect(error).toMatchObject({ reason: "too-large" });
    expect(String((error as Error).message)).toContain(
      `but payments accepts at most ${KINESIS_RECORD_MAX_BYTES}`,
    );
  });

  it("needs a key on a FIFO topic, where it becomes the message group", () => {
    expect(() => assertPublishable(fifoTopic, createEnvelope({ type: "T", payload: {}, id: "m" }))).toThrow(
      "Message m (T) has no key, but arn:aws:sns:us-east-1:000000000000:orders.fifo is a FIFO topic",
    );
    expect(() =>
      assertPublishable(fifoTopic, createEnvelope({ type: "T", payload: {}, key: "k" })),
    ).not.toThrow();
    expect(() => assertPublishable(topic, createEnvelope({ type: "T", payload: {} }))).not.toThrow();
  });
});

describe("an outbox row", () => {
  const envelope = createEnvelope({ type: "OrderPaid", payload: { id: 1 }, id: "m-1", key: "order-1" });

  it("is stored under outbox#<id> with its destination, its envelope as JSON and its expiry", () => {
    expect(outboxPut("dedup", { destination: stream, envelope }, 1_800_000_000)).toEqual({
      Put: {
        TableName: "dedup",
        Item: {
          pk: { S: "outbox#m-1" },
          streamName: { S: "payments" },
          envelope: { S: JSON.stringify(envelope) },
          expiresAt: { N: "1800000000" },
        },
      },
    });
    expect(outboxPut("dedup", { destination: topic, envelope }, 1).Put?.Item?.topicArn).toEqual({
      S: topic.topicArn,
    });
  });

  it("is read back from a stream image to the same destination and envelope", () => {
    const image = { pk: "outbox#m-1", envelope: JSON.stringify(envelope) };
    expect(outboxRowOf({ ...image, topicArn: topic.topicArn })).toEqual({ destination: topic, envelope });
    expect(outboxRowOf({ ...image, streamName: "payments" })).toEqual({ destination: stream, envelope });
  });

  it("is told apart from the table's other items, which the relay leaves alone", () => {
    expect(outboxRowOf(undefined)).toBeUndefined();
    expect(outboxRowOf({ pk: "billing#m-1", envelope: "{}" })).toBeUndefined();
    expect(outboxRowOf({ pk: 7 })).toBeUndefined();
  });

  it("that cannot be read is not JSON, or poison: not an envelope, or no destination", () => {
    expect(() => outboxRowOf({ pk: "outbox#x", envelope: '{"id":"x"}', topicArn: "t" })).toThrow(
      "Outbox row outbox#x holds no message envelope",
    );
    expect(() => outboxRowOf({ pk: "outbox#x", envelope: "not json", topicArn: "t" })).toThrow(SyntaxError);
    expect(() => outboxRowOf({ pk: "outbox#m-1", envelope: JSON.stringify(envelope) })).toThrow(
      PoisonMessageError,
    );
  });
});

describe("an action named in a cancellation reason", () => {
  it("says its kind, table and first key value", () => {
    expect(
      describeAction({
        Update: { TableName: "ledger", Key: { id: { S: "entry-1" } }, UpdateExpression: "SET a = :a" },
      }),
    ).toBe("Update ledger entry-1");
    expect(describeAction(put("entry-2"))).toBe("Put ledger entry-2");
    expect(
      describeAction({
        ConditionCheck: { TableName: "stock", Key: { sku: { N: "42" } }, ConditionExpression: "x" },
      }),
    ).toBe("ConditionCheck stock 42");
  });

  it("says what it can of an action without a table or key", () => {
    expect(describeAction({})).toBe("?");
    expect(describeAction({ Put: undefined, Delete: { Key: {} } } as never)).toBe("Delete");
  });
});
