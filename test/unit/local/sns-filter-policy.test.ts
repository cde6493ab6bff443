import { describe, expect, it } from "vitest";
import { matchesFilterPolicy } from "../../../infra/local/cloud/sns-filter-policy.js";

const body = (value: unknown, policy: Record<string, unknown>) =>
  matchesFilterPolicy(policy, "MessageBody", { body: JSON.stringify(value), attributes: {} });

describe("SNS filter policies", () => {
  it("matches a body array when any element matches, through nested keys too", () => {
    expect(body({ tags: ["low", "urgent"] }, { tags: ["urgent"] })).toBe(true);
    expect(body({ tags: ["low"] }, { tags: ["urgent"] })).toBe(false);
    expect(
      body(
        { order: { lines: [{ sku: "B" }, { sku: "A-1" }] } },
        { order: { lines: { sku: [{ prefix: "A-" }] } } },
      ),
    ).toBe(true);
  });

  it("matches a String.Array attribute by any element, and Number attributes numerically", () => {
    const attributes = {
      interests: { DataType: "String.Array", StringValue: '["soccer","rugby"]' },
      price: { DataType: "Number", StringValue: "210.75" },
    };
    const matches = (policy: Record<string, unknown>) =>
      matchesFilterPolicy(policy, "MessageAttributes", { body: "", attributes });
    expect(matches({ interests: ["rugby"] })).toBe(true);
    expect(matches({ interests: ["tennis"] })).toBe(false);
    expect(matches({ price: [{ numeric: [">=", 100, "<", 300] }] })).toBe(true);
    expect(matches({ price: [{ numeric: ["<", 100] }] })).toBe(false);
  });

  it("supports $or, exists, anything-but and equals-ignore-case", () => {
    expect(body({ a: 1 }, { $or: [{ a: [2] }, { a: [1] }] })).toBe(true);
    expect(body({ a: 1 }, { b: [{ exists: false }] })).toBe(true);
    expect(body({ a: 1 }, { a: [{ exists: false }] })).toBe(false);
    expect(body({ state: "done" }, { state: [{ "anything-but": ["open", "pending"] }] })).toBe(true);
    expect(body({ state: "open" }, { state: [{ "anything-but": ["open", "pending"] }] })).toBe(false);
    expect(body({ state: "DONE" }, { state: [{ "equals-ignore-case": "done" }] })).toBe(true);
  });

  it("matches no body policy when the body is not JSON", () => {
    expect(matchesFilterPolicy({ a: ["x"] }, "MessageBody", { body: "plain text", attributes: {} })).toBe(
      false,
    );
  });
});
