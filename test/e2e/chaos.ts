/**
 * The chaos suite: the reference topology on the embedded local cloud, under producer retries, handler
 * failures, poison, workers dying between their side effect and their completion, leases running out
 * mid-processing, and DynamoDB Local killed and restarted mid-run. Judged from the effect rows the
 * handlers wrote. Small inside `npm test`; `npm run chaos` runs 10,000 messages.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderGroupTable } from "../../infra/local/demo/group-table.js";
import {
  type GroupResult,
  runOrdersScenario,
  type ScenarioResult,
} from "../../infra/local/demo/orders-scenario.js";
import { startLocalRun } from "../../infra/local/local-run.js";

export interface ChaosOptions {
  readonly messages: number;
  readonly customers: number;
  readonly duplicateRate: number;
  readonly failRate: number;
  readonly poisonRate: number;
  /** Workers dying after the side effect, before completion. */
  readonly crashRate: number;
  /** Handlers stalling past their (capped) lease, so that another worker takes the message over. */
  readonly stallRate: number;
  readonly stallMs: number;
  readonly maxLeaseMs: number;
  /** Kill and restart DynamoDB Local this long after publishing starts. */
  readonly restartAfterMs: number;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

export const CHAOS_DEFAULTS: Omit<ChaosOptions, "messages" | "customers" | "log"> = {
  duplicateRate: 0.1,
  failRate: 0.05,
  poisonRate: 0.01,
  crashRate: 0.01,
  stallRate: 0.01,
  stallMs: 4_000,
  maxLeaseMs: 3_000,
  restartAfterMs: 8_000,
  timeoutMs: 900_000,
};

/** How each group deduplicates in the reference stack, which decides what the suite demands of it. */
const MODE: Readonly<Record<string, "transactional" | "plain" | "checkpoints">> = {
  billing: "transactional",
  shipping: "transactional",
  fulfillment: "transactional",
  analytics: "plain",
  ledger: "checkpoints",
};

export interface ChaosResult extends ScenarioResult {
  /** Crashes of execution environments, by function. */
  readonly crashes: number;
  readonly restartMs: number;
  /** What failed the run; empty when it passed. */
  readonly violations: readonly string[];
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "chaos-data-"));
  const run = await startLocalRun({
    embeddedCloud: true,
    cloud: { port: 0, dataDir, logDir: join(dataDir, "logs") },
    extraEnvironment: {
      BROKER_CHAOS_FAIL_RATE: String(options.failRate),
      BROKER_CHAOS_CRASH_RATE: String(options.crashRate),
      BROKER_CHAOS_STALL_RATE: String(options.stallRate),
      BROKER_CHAOS_STALL_MS: String(options.stallMs),
      BROKER_DEDUP_MAX_LEASE_MS: String(options.maxLeaseMs),
    },
    onStep: options.log,
  });
  let restartMs = 0;
  try {
    options.log(
      `Chaos: ${options.messages} orders over ${options.customers} customers; ${options.duplicateRate * 100}% duplicates, ` +
        `${options.failRate * 100}% failures, ${options.poisonRate * 100}% poison, ${options.crashRate * 100}% crashes after the side effect, ` +
        `${options.stallRate * 100}% stalls of ${options.stallMs} ms past a ${options.maxLeaseMs} ms lease, DynamoDB Local killed at ${options.restartAfterMs / 1000} s`,
    );
    let lastProgress = 0;
    const result = await runOrdersScenario(run, {
      messages: options.messages,
      customers: options.customers,
      duplicateRate: options.duplicateRate,
      poisonRate: options.poisonRate,
      seed: 7,
      timeoutMs: options.timeoutMs,
      onStep: options.log,
      onProgress: (line) => {
        if (performance.now() - lastProgress > 10_000) {
          lastProgress = performance.now();
          options.log(line);
        }
      },
      whileRunning: async () => {
        await new Promise((resolve) => setTimeout(resolve, options.restartAfterMs));
        const started = performance.now();
        // DynamoDB Local keeps its tables on disk (dataDir): it can be killed and come back with them.
        // SIGTERM, not SIGKILL: it acknowledges a write a moment before the write is on disk, so a SIGKILL
        // can lose writes it already answered, which DynamoDB never does and no consumer could survive.
        // Every request in flight fails either way, and nothing answers until it is back.
        await run.cloud?.restart("dynamodb-local", { signal: "SIGTERM" });
        restartMs = performance.now() - started;
        options.log(`✓ killed DynamoDB Local and started it again (${(restartMs / 1000).toFixed(1)} s)`);
      },
    });
    const crashes = run.runtimes
      .flatMap((runtime) => [...runtime.functions.values()])
      .reduce((sum, host) => sum + host.stats.crashes, 0);
    const violations =
      result.ending === "timed-out"
        ? [
            `timed out after ${options.timeoutMs / 1000} s with records still arriving: ` +
              result.groups
                .filter((group) => group.lost > 0)
                .map((group) => `${group.group} ${group.lost} pending`)
                .join(", ") +
              " (not counted as lost: rerun on a quieter machine, or with a longer timeout)",
            ...violationsOf(result.groups).filter((violation) => !/ lost \(/.test(violation)),
          ]
        : violationsOf(result.groups);
    return { ...result, crashes, restartMs, violations };
  } finally {
    await run.stop();
  }
}

/**
 * Every group: nothing lost, every dead letter with its reason. Transactional groups: nothing processed
 * twice. Ordered groups: nothing out of order. Plain and checkpointed groups may process twice after a
 * crash: that is their at-least-once window, measured, not failed.
 */
function violationsOf(groups: readonly GroupResult[]): string[] {
  const violations: string[] = [];
  for (const group of groups) {
    if (group.lost > 0)
      violations.push(
        `${group.group}: ${group.lost} lost (${group.lostOrders.join(", ") || "malformed messages"})`,
      );
    if (group.dlqReasons.redrive)
      violations.push(`${group.group}: ${group.dlqReasons.redrive} dead letters without a reason`);
    if (MODE[group.group] === "transactional" && group.processedTwice > 0)
      violations.push(`${group.group}: ${group.processedTwice} processed twice`);
    if (group.orderViolations > 0)
      violations.push(`${group.group}: ${group.orderViolations} order violations`);
  }
  return violations;
}

export function chaosTable(result: ChaosResult): string {
  return renderGroupTable(result.groups, { mode: (group) => MODE[group] ?? "?" });
}
