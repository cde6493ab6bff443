import { describe, expect, it } from "vitest";
import {
  dynamoDbStreamConsumer,
  type StreamChange,
} from "../../../lambdas/runtime/consumers/dynamodb-stream-consumer.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import { PoisonMessageError } from "../../../lambdas/runtime/errors.js";
import { dynamodbEvent, dynamodbRecord } from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

type Row = { pk: string; total: number };

describe("dynamoDbStreamConsumer", () => {
  it("hands over unmarshalled images, in order, and stops at the first failure", async () => {
    const seen: Row[] = [];
    const handler = dynamoDbStreamConsumer<Row>({
      group: "relay",
      deadLetterSink: new RecordingDeadLetters(),
      observer: new RecordingObserver(),
      handler: (change: StreamChange<Row>) => {
        if (change.newImage?.pk === "o-2") throw new Error("topic unavailable");
        if (change.newImage) seen.push(change.newImage);
      },
    });
    const response = await handler(
      dynamodbEvent(
        dynamodbRecord("100", { pk: "o-1", total: 5 }),
        dynamodbRecord("101", { pk: "o-2", total: 6 }),
        dynamodbRecord("102", { pk: "o-3", total: 7 }),
      ),
    );

    expect(seen).toEqual([{ pk: "o-1", total: 5 }]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "101" }, { itemIdentifier: "102" }]);
  });

  it("hands over the whole change: event, keys, both images and creation time, as AWS wrote them", async () => {
    const seen: StreamChange<Row>[] = [];
    const handler = dynamoDbStreamConsumer<Row>({
      group: "relay",
      deadLetterSink: new RecordingDeadLetters(),
      observer: new RecordingObserver(),
      handler: (change: StreamChange<Row>) => {
        seen.push(change);
      },
    });
    const modify = dynamodbRecord("200", { pk: "o-1", total: 9 });
    modify.eventName = "MODIFY";
    modify.eventID = "evt-200";
    if (modify.dynamodb) {
      modify.dynamodb.OldImage = { pk: { S: "o-1" }, total: { N: "5" } };
      modify.dynamodb.ApproximateCreationDateTime = 1_764_900_000;
    }
    const insert = dynamodbRecord("201", { pk: "o-2", total: 1 });

    await handler(dynamodbEvent(modify, insert));

    expect(seen[0]).toEqual({
      eventName: "MODIFY",
      eventId: "evt-200",
      sequenceNumber: "200",
      keys: { pk: "o-1" },
      newImage: { pk: "o-1", total: 9 },
      oldImage: { pk: "o-1", total: 5 },
      approximateCreationTime: 1_764_900_000,
    });
    expect(seen[1]).toMatchObject({ eventName: "INSERT", eventId: "event-201", sequenceNumber: "201" });
    expect(seen[1]).not.toHaveProperty("oldImage");
    expect(seen[1]).not.toHaveProperty("approximateCreationTime");
  });

  it("with ordering key, stops only the failed item's key; other items' changes run on", async () => {
    const seen: string[] = [];
    const handler = dynamoDbStreamConsumer<Row>({
      group: "relay",
      ordering: "key",
      deadLetterSink: new RecordingDeadLetters(),
      observer: new RecordingObserver(),
      handler: (change: StreamChange<Row>) => {
        if (change.sequenceNumber === "301") throw new Error("not yet");
        seen.push(change.sequenceNumber);
      },
    });
    const response = await handler(
      dynamodbEvent(
        dynamodbRecord("300", { pk: "a", total: 1 }),
        dynamodbRecord("301", { pk: "b", total: 1 }),
        dynamodbRecord("302", { pk: "a", total: 2 }),
        dynamodbRecord("303", { pk: "b", total: 2 }),
      ),
    );
    expect(seen.sort()).toEqual(["300", "302"]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "301" }, { itemIdentifier: "303" }]);
  });
});

describe("dynamoDbStreamConsumer: what it reports about a change", () => {
  const TABLE_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/dedup/stream/2026-11-22T00:00:00.000";

  it("dead-letters a change the handler rejects with the whole record, its event id and its stream", async () => {
    const deadLetters = new RecordingDeadLetters();
    const observer = new RecordingObserver();
    const handler = dynamoDbStreamConsumer<Row>({
      group: "relay",
      deadLetterSink: deadLetters,
      observer,
      handler: () => {
        throw new PoisonMessageError("total must be positive");
      },
    });
    const record = dynamodbRecord("200", { pk: "o-9", total: -1 });

    await handler(dynamodbEvent(record));

    expect(deadLetters.letters).toEqual([
      expect.objectContaining({
        messageId: "event-200",
        sourceRecordId: "200",
        source: TABLE_STREAM,
        body: JSON.stringify(record),
        detail: "total must be positive",
      }),
    ]);
    expect(observer.batches[0]?.source).toBe(TABLE_STREAM);
  });

  it("names itself in the errors of a guard it cannot use and of a windowed event it was not built for", async () => {
    expect(() =>
      dynamoDbStreamConsumer({
        group: "relay",
        dedup: kinesisCheckpoints({ store: new InMemoryDedupStore() }),
        handler: () => undefined,
      }),
    ).toThrow(/^kinesisCheckpoints\(\) cannot guard dynamoDbStreamConsumer: /);

    const handler = dynamoDbStreamConsumer({ group: "relay", handler: () => undefined });
    const windowed = { ...dynamodbEvent(dynamodbRecord("1", { pk: "a" })), window: { start: "s", end: "e" } };
    await expect(handler(windowed as never)).rejects.toThrow(
      /^dynamoDbStreamConsumer received a tumbling-window event/,
    );
  });
});
