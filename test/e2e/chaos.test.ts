import { describe, expect, it } from "vitest";
import { CHAOS_DEFAULTS, chaosTable, runChaos } from "./chaos.js";

describe("chaos (small; npm run chaos runs 10,000 messages)", () => {
  it("loses nothing, processes nothing twice in transactional mode, and keeps every key in order", async () => {
    const result = await runChaos({
      ...CHAOS_DEFAULTS,
      messages: 300,
      customers: 30,
      // More of the rarer faults, so that a small run meets each of them.
      crashRate: 0.03,
      stallRate: 0.03,
      restartAfterMs: 4_000,
      timeoutMs: 240_000,
      log: () => undefined,
    });
    console.log(
      `${chaosTable(result)}\ncrashes ${result.crashes}, DynamoDB Local restart ${Math.round(result.restartMs)} ms`,
    );

    expect(result.violations).toEqual([]);
    expect(result.crashes).toBeGreaterThan(0);
    expect(result.restartMs).toBeGreaterThan(0);
    for (const group of result.groups) expect(group.processed, group.group).toBe(group.expected);
  }, 300_000);
});
