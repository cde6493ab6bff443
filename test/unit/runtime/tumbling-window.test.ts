import type { KinesisStreamEvent } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { dynamoDbStreamConsumer } from "../../../lambdas/runtime/consumers/dynamodb-stream-consumer.js";
import { kinesisConsumer } from "../../../lambdas/runtime/consumers/kinesis-consumer.js";
import type { ProcessingGuard } from "../../../lambdas/runtime/consumers/processing-guard.js";
import type { TumblingWindow } from "../../../lambdas/runtime/consumers/tumbling-window.js";
import { kinesisCheckpoints } from "../../../lambdas/runtime/dedup/checkpoint-guard.js";
import { dynamoDbDedup } from "../../../lambdas/runtime/dedup/dedup-guard.js";
import { InMemoryDedupStore } from "../../../lambdas/runtime/dedup/memory-dedup-store.js";
import type { MessageEnvelope } from "../../../lambdas/runtime/envelope.js";
import {
  dynamodbEvent,
  dynamodbRecord,
  envelopeBody,
  kinesisEvent,
  kinesisRecord,
  STREAM_ARN,
} from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

type Sale = { amount: number };
type Totals = { total: number; count: number };

const sale = (amount: number, sequenceNumber: string) =>
  kinesisRecord({ sequenceNumber, data: envelopeBody({ payload: { amount } }) });

function inWindow<T extends { Records: unknown[] }>(
  event: T,
  fields: { state?: Record<string, unknown>; final?: boolean } = {},
) {
  return {
    ...event,
    window: { start: "2026-12-02T18:00:00Z", end: "2026-12-02T18:01:00Z" },
    state: fields.state ?? {},
    shardId: "shardId-000000000000",
    eventSourceARN: STREAM_ARN,
    isFinalInvokeForWindow: fields.final ?? false,
    isWindowTerminatedEarly: false,
  } as unknown as KinesisStreamEvent;
}

function salesConsumer(failOn?: number) {
  const ended: Array<{ state: Totals; window: TumblingWindow }> = [];
  const handler = kinesisConsumer<Sale>({
    group: "reports",
    deadLetterSink: new RecordingDeadLetters(),
    observer: new RecordingObserver(),
    handler: (message: MessageEnvelope<Sale>) => {
      if (message.payload.amount === failOn) throw new Error("cannot record");
    },
    window: {
      initial: (): Totals => ({ total: 0, count: 0 }),
      reduce: (state: Totals, message: MessageEnvelope<Sale>) => ({
        total: state.total + message.payload.amount,
        count: state.count + 1,
      }),
      onWindowEnd: (state: Totals, window) => {
        ended.push({ state, window });
      },
    },
  });
  return { handler, ended };
}

/** A consumer that runs each partition key on its own (`ordering: "key"`), with a guard that skips replays. */
function keyedSalesConsumer(dedup?: ProcessingGuard<undefined>) {
  const ended: Totals[] = [];
  const failures = new Set(["a1"]);
  const handler = kinesisConsumer<Sale>({
    group: "reports",
    ordering: "key",
    dedup,
    deadLetterSink: new RecordingDeadLetters(),
    observer: new RecordingObserver(),
    handler: (message: MessageEnvelope<Sale>) => {
      if (failures.delete(message.id)) throw new Error("cannot record yet");
    },
    window: {
      initial: (): Totals => ({ total: 0, count: 0 }),
      reduce: (state: Totals, message: MessageEnvelope<Sale>) => ({
        total: state.total + message.payload.amount,
        count: state.count + 1,
      }),
      onWindowEnd: (state: Totals) => {
        ended.push(state);
      },
    },
  });
  return { handler, ended };
}

const keyedSale = (id: string, key: string, amount: number, sequenceNumber: string) =>
  kinesisRecord({ sequenceNumber, partitionKey: key, data: envelopeBody({ id, key, payload: { amount } }) });

describe("tumbling windows", () => {
  for (const [name, guard] of [
    ["no guard (the retry runs them again)", () => undefined],
    ["dynamoDbDedup", () => dynamoDbDedup({ store: new InMemoryDedupStore() })],
    ["kinesisCheckpoints", () => kinesisCheckpoints({ store: new InMemoryDedupStore() })],
  ] as const) {
    it(`with ordering "key" and ${name}, folds the other keys' records past a failure exactly once`, async () => {
      const { handler, ended } = keyedSalesConsumer(guard());
      const records = [
        keyedSale("a1", "a", 1, "10"),
        keyedSale("b1", "b", 10, "11"),
        keyedSale("b2", "b", 100, "12"),
      ];

      // Key a fails; key b finishes the batch. Lambda checkpoints before a1 and retries from it with the
      // state of this response: b1 and b2 come again and the guard skips them as already processed.
      const first = await handler(inWindow(kinesisEvent(...records)));
      expect(first.batchItemFailures).toEqual([{ itemIdentifier: "10" }]);
      const retry = await handler(
        inWindow(kinesisEvent(...records), { state: first.state as Totals, final: true }),
      );

      expect(retry.batchItemFailures).toEqual([]);
      expect(ended).toEqual([{ total: 111, count: 3 }]);
    });
  }

  it("starts a window from the initial state and returns the folded state", async () => {
    const { handler, ended } = salesConsumer();
    const response = await handler(inWindow(kinesisEvent(sale(5, "1"), sale(7, "2"))));

    expect(response).toEqual({ batchItemFailures: [], state: { total: 12, count: 2 } });
    expect(ended).toEqual([]);
  });

  it("carries the incoming state on and calls onWindowEnd on the final invoke", async () => {
    const { handler, ended } = salesConsumer();
    const response = await handler(
      inWindow(kinesisEvent(sale(3, "3")), { state: { total: 12, count: 2 }, final: true }),
    );

    expect(response.state).toEqual({ total: 15, count: 3 });
    expect(ended).toHaveLength(1);
    expect(ended[0]?.state).toEqual({ total: 15, count: 3 });
    expect(ended[0]?.window).toMatchObject({
      start: "2026-12-02T18:00:00Z",
      shardId: "shardId-000000000000",
      isFinalInvokeForWindow: true,
    });
  });

  it("counts only the records ahead of the first failure, and holds back onWindowEnd", async () => {
    const { handler, ended } = salesConsumer(7);
    const response = await handler(
      inWindow(kinesisEvent(sale(5, "4"), sale(7, "5"), sale(9, "6")), { final: true }),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "5" }, { itemIdentifier: "6" }]);
    expect(response.state).toEqual({ total: 5, count: 1 });
    expect(ended).toEqual([]);
  });

  it("refuses a windowed event when the consumer has no window option, naming the fix", async () => {
    const handler = kinesisConsumer<Sale>({
      group: "reports",
      observer: new RecordingObserver(),
      handler: () => {},
    });
    await expect(handler(inWindow(kinesisEvent(sale(1, "8"))))).rejects.toThrow(
      /kinesisConsumer received a tumbling-window event .* Pass `window: \{ initial, reduce, onWindowEnd \}`/,
    );
  });

  it("tells onWindowEnd that Lambda ended the window early, and runs without onWindowEnd", async () => {
    const { handler, ended } = salesConsumer();
    const early = {
      ...inWindow(kinesisEvent(sale(2, "20")), { final: true }),
      isWindowTerminatedEarly: true,
    };
    await handler(early);
    expect(ended[0]?.window).toEqual({
      start: "2026-12-02T18:00:00Z",
      end: "2026-12-02T18:01:00Z",
      shardId: "shardId-000000000000",
      eventSourceARN: STREAM_ARN,
      isFinalInvokeForWindow: true,
      isWindowTerminatedEarly: true,
    });

    const withoutEnd = kinesisConsumer<Sale>({
      group: "reports",
      observer: new RecordingObserver(),
      handler: () => undefined,
      window: { initial: () => ({ n: 0 }), reduce: (state: { n: number }) => ({ n: state.n + 1 }) },
    });
    expect(await withoutEnd(inWindow(kinesisEvent(sale(1, "21")), { final: true }))).toEqual({
      batchItemFailures: [],
      state: { n: 1 },
    });
    // processEvent stays available on a windowed consumer (each record's outcome, for tests and tools).
    expect((await withoutEnd.processEvent(kinesisEvent(sale(1, "22")))).outcomes).toEqual([
      { kind: "processed" },
    ]);
  });

  it("without a guard, with ordering key, counts nothing from the batch's first failure on: the retry replays it", async () => {
    const { handler } = keyedSalesConsumer();
    const response = await handler(
      inWindow(kinesisEvent(keyedSale("a1", "a", 1, "30"), keyedSale("b1", "b", 10, "31"))),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "30" }]);
    expect(response.state).toEqual({ total: 0, count: 0 });
  });

  it("returns no state for an event without a window", async () => {
    const { handler } = salesConsumer();
    expect(await handler(kinesisEvent(sale(1, "7")))).toEqual({ batchItemFailures: [] });
  });

  it("folds DynamoDB stream changes too", async () => {
    const handler = dynamoDbStreamConsumer<{ pk: string; qty: number }>({
      group: "reports",
      observer: new RecordingObserver(),
      handler: () => {},
      window: {
        initial: () => ({ qty: 0 }),
        reduce: (state: { qty: number }, change) => ({ qty: state.qty + (change.newImage?.qty ?? 0) }),
      },
    });
    const event = dynamodbEvent(
      dynamodbRecord("1", { pk: "a", qty: 2 }),
      dynamodbRecord("2", { pk: "b", qty: 3 }),
    );
    const response = await handler(inWindow(event, { state: { qty: 10 } }) as unknown as typeof event);

    expect(response).toEqual({ batchItemFailures: [], state: { qty: 15 } });
  });
});
