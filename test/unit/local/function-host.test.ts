import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FunctionHost } from "../../../infra/local/runner/function-host.js";

/** A function's pool of execution environments, on plain code (no emulator needed). */
describe("FunctionHost's idle environments", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const host = (idleLifetimeMs: number): FunctionHost => {
    const dir = mkdtempSync(join(tmpdir(), "function-host-"));
    writeFileSync(
      join(dir, "index.mjs"),
      "let invocations = 0;\nexport const handler = async (event) => ({ event, invocations: ++invocations });\n",
    );
    const created = new FunctionHost(
      {
        logicalId: "Idle",
        functionName: "Idle",
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:Idle",
        runtime: "nodejs22.x",
        handler: "index.handler",
        codeDir: dir,
        timeoutMs: 30_000,
        memoryMb: 128,
        endpoint: "",
        maxEnvironments: 3,
        environment: { PATH: process.env.PATH ?? "" },
      },
      join(dir, "logs"),
      { idleLifetimeMs },
    );
    cleanups.push(
      () => created.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
    return created;
  };

  it("ends the environments of a burst once they idle past their lifetime, and starts afresh on the next invocation", async () => {
    const burst = host(50);
    // Three invocations at once, none free: three environments, as Lambda scales out.
    const results = await Promise.all([1, 2, 3].map((event) => burst.invoke(event)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(burst.stats.environments).toBe(3);
    await vi.waitFor(() => expect(burst.environmentCount).toBe(0), { timeout: 20_000, interval: 20 });
    expect(burst.stats.reclaimed).toBe(3);
    // A cold start: a new environment, whose module state (the invocation count) begins again.
    const next = await burst.invoke(4);
    expect(next).toMatchObject({ ok: true, response: { event: 4, invocations: 1 } });
    expect(burst.stats.environments).toBe(4);
  });

  it("keeps an environment warm while invocations come within its lifetime", async () => {
    const warm = host(5_000);
    await warm.invoke(1);
    const next = await warm.invoke(2);
    expect(next).toMatchObject({ ok: true, response: { event: 2, invocations: 2 } });
    expect(warm.stats).toMatchObject({ environments: 1, reclaimed: 0 });
  });
});
