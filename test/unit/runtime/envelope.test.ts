import { describe, expect, it } from "vitest";
import { causedBy, createEnvelope, isEnvelope, newMessageId } from "../../../lambdas/runtime/envelope.js";

describe("message envelope", () => {
  it("fills in a time-ordered id and the time it occurred", () => {
    const before = new Date().toISOString();
    const first = createEnvelope({ type: "order.placed", payload: { orderId: "o-1" } });
    const second = createEnvelope({ type: "order.placed", payload: { orderId: "o-2" } });

    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second.id > first.id).toBe(true);
    expect(first.occurredAt >= before).toBe(true);
    expect(first).not.toHaveProperty("key");
  });

  it("keeps an id given by the producer, so a retried publish deduplicates", () => {
    const id = newMessageId();
    expect(createEnvelope({ id, type: "t", payload: 1, occurredAt: new Date(0) })).toEqual({
      id,
      type: "t",
      payload: 1,
      occurredAt: "1970-01-01T00:00:00.000Z",
    });
  });

  it("threads correlation and causation through follow-up messages", () => {
    const placed = createEnvelope({ type: "order.placed", payload: {} });
    const billed = createEnvelope(causedBy(placed, { type: "order.billed", payload: {} }));
    const shipped = createEnvelope(causedBy(billed, { type: "order.shipped", payload: {} }));

    expect(billed).toMatchObject({ correlationId: placed.id, causationId: placed.id });
    expect(shipped).toMatchObject({ correlationId: placed.id, causationId: billed.id });
  });

  it("recognises the envelope shape and rejects look-alikes", () => {
    expect(isEnvelope(createEnvelope({ type: "t", payload: null }))).toBe(true);
    expect(isEnvelope({ id: "1", type: "t", occurredAt: "x" })).toBe(false);
    expect(isEnvelope({ id: "", type: "t", occurredAt: "x", payload: 1 })).toBe(false);
    expect(isEnvelope({ id: "1", type: "t", occurredAt: "x", payload: 1, key: 5 })).toBe(false);
  });
});
