import { describe, expect, it } from "vitest";
import { createEnvelope } from "../../../lambdas/runtime/envelope.js";
import { PublishError } from "../../../lambdas/runtime/errors.js";
import type {
  PreparedMessage,
  Publishable,
  Publisher,
} from "../../../lambdas/runtime/producers/batch-publisher.js";
import { BufferedPublisher } from "../../../lambdas/runtime/producers/buffered-publisher.js";
import type { PublishReport } from "../../../lambdas/runtime/producers/publish-report.js";

/** A publisher that records each flush, and fails the ids in `failing`, answering after `delayMs`. */
class FakePublisher implements Publisher {
  readonly destination = "arn:aws:sns:us-east-1:000000000000:orders";
  readonly batchEntries = 10;
  readonly batchBytes = 1_000;
  readonly flushes: string[][] = [];
  failing = new Set<string>();
  inFlight = 0;
  peakInFlight = 0;

  constructor(
    readonly ordered = false,
    private readonly delayMs = 1,
  ) {}

  prepare(message: Publishable): PreparedMessage {
    const envelope = createEnvelope(message);
    return {
      id: envelope.id,
      orderKey: this.ordered ? envelope.key : undefined,
      bytes: JSON.stringify(envelope).length,
      entry: envelope,
    };
  }

  async publishPrepared(prepared: readonly PreparedMessage[]): Promise<PublishReport> {
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    this.flushes.push(prepared.map((message) => message.id));
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.inFlight--;
    const results = prepared.map((message) =>
      this.failing.has(message.id)
        ? {
            id: message.id,
            status: "failed" as const,
            attempts: 8,
            error: { code: "InternalError", message: "down" },
          }
        : { id: message.id, status: "published" as const, attempts: 1 },
    );
    return {
      destination: this.destination,
      results,
      failed: results.filter((result) => result.status === "failed"),
    };
  }

  publish(): Promise<PublishReport> {
    throw new Error("not used");
  }
  publishSettled(): Promise<PublishReport> {
    throw new Error("not used");
  }
}

const message = (id: string, key?: string) => ({ id, type: "t", payload: {}, ...(key ? { key } : {}) });

describe("BufferedPublisher", () => {
  it("sends a full batch as soon as it fills, without waiting for the linger time", async () => {
    const inner = new FakePublisher();
    const publisher = new BufferedPublisher(inner, { lingerMs: 60_000 });
    const sent = Array.from({ length: 10 }, (_, index) => publisher.send(message(`m${index}`)));

    expect((await Promise.all(sent)).every((result) => result.status === "published")).toBe(true);
    expect(inner.flushes).toEqual([Array.from({ length: 10 }, (_, index) => `m${index}`)]);
  });

  it("sends a partial batch once the linger time has passed", async () => {
    const inner = new FakePublisher();
    const publisher = new BufferedPublisher(inner, { lingerMs: 5 });
    await Promise.all([publisher.send(message("a")), publisher.send(message("b"))]);

    expect(inner.flushes).toEqual([["a", "b"]]);
  });

  it("cuts batches at the byte limit", async () => {
    const inner = new FakePublisher();
    const publisher = new BufferedPublisher(inner, { lingerMs: 60_000, maxBatchBytes: 300 });
    const sends = ["a", "b", "c"].map((id) => publisher.send({ id, type: "t", payload: "x".repeat(60) }));
    await publisher.flush();
    await Promise.all(sends);

    expect(inner.flushes).toEqual([["a", "b"], ["c"]]);
  });

  it("rejects the send of a message that failed with a PublishError for that message alone", async () => {
    const inner = new FakePublisher();
    inner.failing.add("bad");
    const publisher = new BufferedPublisher(inner, { lingerMs: 1 });
    const [good, bad] = await Promise.allSettled([
      publisher.send(message("good")),
      publisher.send(message("bad")),
    ]);

    expect(good.status).toBe("fulfilled");
    expect(bad.status).toBe("rejected");
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(PublishError);
    expect(((bad as PromiseRejectedResult).reason as PublishError).report.results).toEqual([
      { id: "bad", status: "failed", attempts: 8, error: { code: "InternalError", message: "down" } },
    ]);
  });

  it("flushes one batch at a time for an ordered publisher, and never sends a key's later message after it failed", async () => {
    const inner = new FakePublisher(true, 5);
    inner.failing.add("a1");
    const publisher = new BufferedPublisher(inner, {
      lingerMs: 1,
      maxBatchMessages: 2,
      maxConcurrentFlushes: 4,
    });
    const results = await Promise.allSettled([
      publisher.send(message("a1", "a")),
      publisher.send(message("b1", "b")),
      publisher.send(message("a2", "a")),
      publisher.send(message("b2", "b")),
    ]);

    expect(inner.peakInFlight).toBe(1);
    expect(inner.flushes.flat()).toEqual(["a1", "b1", "b2"]);
    expect(
      ((results[2] as PromiseRejectedResult).reason as PublishError).report.results[0]?.error?.code,
    ).toBe("PrecedingMessageFailed");
  });

  it("applies backpressure: whenWritable waits while maxPendingMessages are buffered or in flight", async () => {
    const inner = new FakePublisher(false, 20);
    const publisher = new BufferedPublisher(inner, { lingerMs: 1, maxPendingMessages: 3 });
    const sends = ["a", "b", "c"].map((id) => publisher.send(message(id)));
    let writable = false;
    const waiting = publisher.whenWritable().then(() => {
      writable = true;
    });

    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(writable).toBe(false);
    await Promise.all([...sends, waiting]);
    expect(writable).toBe(true);
    expect(publisher.pending).toBe(0);
  });

  it("refuses sends after close, once everything buffered is published", async () => {
    const inner = new FakePublisher();
    const publisher = new BufferedPublisher(inner, { lingerMs: 60_000 });
    const pending = publisher.send(message("last"));
    await publisher.close();

    await expect(pending).resolves.toMatchObject({ status: "published" });
    await expect(publisher.send(message("late"))).rejects.toThrow(/is closed/);
  });
});
