import { describe, expect, it } from "vitest";
import { kinesisConsumer } from "../../../lambdas/runtime/consumers/kinesis-consumer.js";
import type { MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import { envelopeBody, kinesisEvent, kinesisRecord } from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

type Step = { key: string; step: number };
const step = (key: string, n: number, sequenceNumber: string) =>
  kinesisRecord({
    partitionKey: key,
    sequenceNumber,
    data: envelopeBody({ key, payload: { key, step: n } }),
  });

function consumer(options: { ordering?: "shard" | "key"; failOn?: string; poison?: boolean } = {}) {
  const ran: string[] = [];
  const deadLetters = new RecordingDeadLetters();
  const handler = kinesisConsumer<Step>({
    group: "ledger",
    deadLetterSink: deadLetters,
    observer: new RecordingObserver(),
    ...(options.ordering ? { ordering: options.ordering } : {}),
    handler: (message: MessageEnvelope<Step>) => {
      const id = `${message.payload.key}${message.payload.step}`;
      ran.push(id);
      if (id === options.failOn) throw new Error(`cannot post ${id}`);
    },
  });
  return { handler, ran, deadLetters };
}

describe("kinesisConsumer", () => {
  it("processes the shard in order and reports nothing when all succeed", async () => {
    const { handler, ran } = consumer();
    const response = await handler(kinesisEvent(step("a", 1, "1"), step("b", 1, "2"), step("a", 2, "3")));

    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toEqual(["a1", "b1", "a2"]);
  });

  it("stops the shard at the first failure and reports it and everything after, so Lambda resumes there", async () => {
    const { handler, ran } = consumer({ failOn: "b1" });
    const response = await handler(
      kinesisEvent(step("a", 1, "10"), step("b", 1, "11"), step("a", 2, "12"), step("c", 1, "13")),
    );

    expect(ran).toEqual(["a1", "b1"]);
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: "11" },
      { itemIdentifier: "12" },
      { itemIdentifier: "13" },
    ]);
  });

  it("with ordering: key, stops only the failed key and lets the other keys finish", async () => {
    const { handler, ran } = consumer({ ordering: "key", failOn: "b1" });
    const response = await handler(
      kinesisEvent(
        step("a", 1, "20"),
        step("b", 1, "21"),
        step("a", 2, "22"),
        step("b", 2, "23"),
        step("c", 1, "24"),
      ),
    );

    expect(ran.sort()).toEqual(["a1", "a2", "b1", "c1"]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "21" }, { itemIdentifier: "23" }]);
  });

  it("sends poison to the on-failure queue with its reason and carries on with the shard", async () => {
    const { handler, ran, deadLetters } = consumer();
    const response = await handler(
      kinesisEvent(
        step("a", 1, "30"),
        kinesisRecord({ sequenceNumber: "31", data: "not json" }),
        step("a", 2, "32"),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(ran).toEqual(["a1", "a2"]);
    expect(deadLetters.letters).toEqual([
      expect.objectContaining({
        reason: "not-json",
        body: "not json",
        sourceRecordId: "31",
        source: expect.stringContaining(":stream/orders"),
      }),
    ]);
  });

  it("dead-letters binary data base64-encoded, as it arrived", async () => {
    const { handler, deadLetters } = consumer();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x81]);
    await handler(kinesisEvent(kinesisRecord({ sequenceNumber: "40", data: binary })));

    expect(deadLetters.letters[0]).toMatchObject({
      reason: "not-json",
      body: binary.toString("base64"),
      bodyEncoding: "base64",
      detail: "the record's data is not UTF-8 text",
    });
  });
});
