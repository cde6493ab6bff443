import { describe, expect, it } from "vitest";
import { filterView, parseFilterCriteria, passesFilters } from "../../../infra/local/runner/event-filter.js";
import { reportedFailures } from "../../../infra/local/runner/event-sources/settings.js";

const patterns = (...items: object[]) =>
  parseFilterCriteria({ Filters: items.map((pattern) => ({ Pattern: JSON.stringify(pattern) })) });

describe("Lambda event filtering", () => {
  const insert = { eventName: "INSERT", dynamodb: { Keys: { pk: { S: "outbox#0193" } } } };
  const claim = { eventName: "INSERT", dynamodb: { Keys: { pk: { S: "billing#0193" } } } };

  it("matches values, prefixes and nested fields (the outbox relay's filter)", () => {
    const outboxOnly = patterns({
      eventName: ["INSERT"],
      dynamodb: { Keys: { pk: { S: [{ prefix: "outbox#" }] } } },
    });
    expect(passesFilters(insert, outboxOnly)).toBe(true);
    expect(passesFilters(claim, outboxOnly)).toBe(false);
    expect(passesFilters({ ...insert, eventName: "REMOVE" }, outboxOnly)).toBe(false);
  });

  it("matches JSON bodies, numeric ranges, anything-but and exists, and passes everything without filters", () => {
    const sqsRecord = filterView({ body: JSON.stringify({ total: 250, status: "paid" }) });
    expect(
      passesFilters(sqsRecord, patterns({ body: { total: [{ numeric: [">", 100, "<=", 300] }] } })),
    ).toBe(true);
    expect(passesFilters(sqsRecord, patterns({ body: { status: [{ "anything-but": ["paid"] }] } }))).toBe(
      false,
    );
    expect(passesFilters(sqsRecord, patterns({ body: { coupon: [{ exists: false }] } }))).toBe(true);
    expect(
      passesFilters(sqsRecord, patterns({ body: { status: ["x"] } }, { body: { status: ["paid"] } })),
    ).toBe(true);
    expect(passesFilters(sqsRecord, [])).toBe(true);
  });
});

describe("partial batch responses", () => {
  const ids = new Set(["a", "b"]);
  it("reads the failed ids, and treats an empty or absent response as all succeeded", () => {
    expect(reportedFailures({ batchItemFailures: [{ itemIdentifier: "b" }] }, ids)).toEqual(["b"]);
    expect(reportedFailures({ batchItemFailures: [] }, ids)).toEqual([]);
    expect(reportedFailures(undefined, ids)).toEqual([]);
  });

  it("treats an unknown or empty identifier as a failure of the whole batch, as Lambda does", () => {
    expect(reportedFailures({ batchItemFailures: [{ itemIdentifier: "zzz" }] }, ids)).toBeUndefined();
    expect(reportedFailures({ batchItemFailures: [{ itemIdentifier: "" }] }, ids)).toBeUndefined();
    expect(reportedFailures({ batchItemFailures: "nope" }, ids)).toBeUndefined();
  });
});
