/**
 * `npm start` as a user runs it: the reference topology applied to the endpoint, its consumers run
 * in-process, a demo workload with duplicates, handler failures and poison, and a summary computed from
 * what the handlers did. Runs on the test cloud (AWS_ENDPOINT_URL), with a small workload.
 */
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const npmStart = (args: string[]) => runCli(["start", "--demo", ...args]);

describe("npm start", () => {
  it("runs the orders topology locally and reports nothing lost, nothing twice, nothing out of order", {
    timeout: 300_000,
  }, async () => {
    const run = await npmStart([
      "--messages",
      "150",
      "--customers",
      "15",
      "--duplicates",
      "0.1",
      "--fail-rate",
      "0.05",
      "--poison-rate",
      "0.02",
      "--json",
    ]);
    const lastLine = run.stdout.trim().split("\n").at(-1) ?? "";
    const summary = JSON.parse(lastLine);

    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stderr).toContain("Applying ServerlessBrokerOrders:");
    expect(run.stderr).toMatch(/✓ consumers running [\d.]+ s after start/);
    expect(summary).toMatchObject({
      ok: true,
      messages: 150,
      published: { orders: 150, poisonPerChannel: 3 },
    });
    for (const group of ["billing", "shipping", "analytics", "fulfillment", "ledger"]) {
      expect(summary.groups[group], group).toMatchObject({ lost: 0, processedTwice: 0, orderViolations: 0 });
      expect(summary.groups[group].processed).toBe(summary.groups[group].expected);
    }
    // Poison ends in each group's dead-letter queue with its reason.
    expect(summary.groups.billing).toMatchObject({ dlq: 3, dlqReasons: { "not-json": 3 } });
    expect(summary.groups.analytics).toMatchObject({ dlq: 3, dlqReasons: { "not-json": 3 } });
    expect(summary.groups.fulfillment).toMatchObject({ dlq: 3, dlqReasons: { "schema-mismatch": 3 } });
    expect(summary.groups.ledger).toMatchObject({ dlq: 3, dlqReasons: { "not-json": 3 } });
    // Producer retries were suppressed by the consumers' dedup (the FIFO topic drops them itself). The
    // ledger, ordered by key, also skips the records Lambda replays past a failure of another key.
    expect(summary.groups.billing.duplicatesSuppressed).toBe(summary.published.duplicates);
    expect(summary.groups.ledger.duplicatesSuppressed).toBeGreaterThanOrEqual(summary.published.duplicates);
  });

  it("refuses a rate out of range, naming the flag", async () => {
    const run = await npmStart(["--fail-rate", "2"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--fail-rate must be a rate from 0 to 1 (e.g. 0.05 for 5%), but "2" was given.',
    );
  });
});
