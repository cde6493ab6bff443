import { fileURLToPath } from "node:url";
import { ORDERS_GROUPS } from "../../infra/local/demo/effects-report.js";
import { runOrdersScenario } from "../../infra/local/demo/orders-scenario.js";
import { renderTable } from "../../infra/local/demo/table.js";
import { startLocalRun } from "../../infra/local/local-run.js";
import { round } from "./measure.js";

export interface EndToEndRow {
  readonly channel: string;
  readonly group: string;
  readonly paced: { readonly ratePerSecond: number; readonly p50Ms: number; readonly p99Ms: number };
  readonly burst: { readonly messages: number; readonly msgsPerSecond: number };
}

const CHANNEL: Readonly<Record<string, string>> = {
  billing: "SNS → SQS standard",
  fulfillment: "SNS FIFO → SQS FIFO",
  ledger: "Kinesis (2 shards)",
  shipping: "outbox → SNS → SQS",
};

/** The sizes of `npm run bench` (not --quick), which the README's rows come from. */
export const FULL_END_TO_END = { pacedMessages: 600, ratePerSecond: 30, burstMessages: 2_000 } as const;

/**
 * Publish → processed through the whole reference topology on the local cloud (the functions running
 * in-process, dedup included): latency at a steady pace, and throughput draining a burst.
 */
export async function benchmarkEndToEnd(
  endpoint: string,
  sizes: { pacedMessages: number; ratePerSecond: number; burstMessages: number },
): Promise<EndToEndRow[]> {
  const run = await startLocalRun({ endpoint });
  try {
    const common = { customers: 100, duplicateRate: 0, poisonRate: 0, seed: 1, timeoutMs: 600_000 };
    const paced = await runOrdersScenario(run, {
      ...common,
      messages: sizes.pacedMessages,
      ratePerSecond: sizes.ratePerSecond,
    });
    const burst = await runOrdersScenario(run, { ...common, messages: sizes.burstMessages });
    return ORDERS_GROUPS.filter((group) => CHANNEL[group.group]).map((group) => {
      const pacedGroup = paced.groups.find((entry) => entry.group === group.group);
      const burstGroup = burst.groups.find((entry) => entry.group === group.group);
      return {
        channel: CHANNEL[group.group] as string,
        group: group.group,
        paced: {
          ratePerSecond: sizes.ratePerSecond,
          p50Ms: pacedGroup?.latencyMs.p50 ?? 0,
          p99Ms: pacedGroup?.latencyMs.p99 ?? 0,
        },
        burst: {
          messages: sizes.burstMessages,
          msgsPerSecond: (burstGroup?.processed ?? 0) / ((burstGroup?.latencyMs.max ?? 1) / 1000),
        },
      };
    });
  } finally {
    await run.stop();
  }
}

/** The rows as `npm run bench` prints them. */
export function renderEndToEnd(rows: readonly EndToEndRow[]): string {
  return renderTable(
    ["channel", "group", "paced msgs/s", "p50 ms", "p99 ms", "burst messages", "burst msgs/s"],
    rows.map((row) => [
      row.channel,
      row.group,
      row.paced.ratePerSecond,
      Math.round(row.paced.p50Ms),
      Math.round(row.paced.p99Ms),
      row.burst.messages,
      round(row.burst.msgsPerSecond),
    ]),
  );
}

// Alone, at the full sizes: `node --import tsx test/bench/end-to-end.ts`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  process.env.POWERTOOLS_METRICS_DISABLED = "true";
  const { startLocalCloud } = await import("../../infra/local/cloud/index.js");
  const cloud = await startLocalCloud({ port: 0, logDir: ".local-cloud/bench-logs" });
  try {
    const rows = await benchmarkEndToEnd(cloud.endpoint, FULL_END_TO_END);
    console.log(renderEndToEnd(rows));
  } finally {
    await cloud.stop();
  }
}
