/**
 * The local dev loop as a developer meets it: `npm start` (the CLI's `start`, as its own process tree, on a
 * free port) timed from the outside, its resident memory summed over every process of the tree (the CLI and
 * its function workers, the gateway, fauxqs, kinesis-mock, the DynamoDB Local JVM) sampled from /proc.
 *
 * `node --import tsx test/bench/dev-loop.ts [--runs N] [--messages N] [--memory-messages N]` runs it alone;
 * `npm run bench` runs it as a section of its own. Linux only (/proc).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { IDLE_ENVIRONMENT_LIFETIME_MS } from "../../infra/local/runner/function-host.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

/** issue #14's "now", measured on this 2-core machine before the dev-loop work. */
export const DEV_LOOP_BASELINE = {
  consumersRunningS: 23,
  burstS: 88,
  burstMsgsPerSecond: 68,
  idleRssMb: 600,
  peakRssMb: 1600,
} as const;

export interface DevLoopRun {
  readonly consumersRunningS: number;
  readonly durationS?: number;
  readonly msgsPerSecond?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly ok?: boolean;
  /** Why a demo was not ok: the groups that lost, repeated or reordered messages. */
  readonly problems?: string;
  readonly idleRssMb: number;
  /** Idle once the function environments started with the app have outlived their idle lifetime. */
  readonly idleSettledRssMb?: number;
  readonly peakRssMb: number;
  /** Idle RSS by process, and at the moment of the peak (MB). */
  readonly idleByProcessMb?: Record<string, number>;
  readonly idleSettledByProcessMb?: Record<string, number>;
  readonly peakByProcessMb?: Record<string, number>;
  readonly wallS: number;
}

/** RSS (MB) of `root` and every process below it. */
export function treeRssMb(root: number): number {
  return Object.values(treeRssByProcessMb(root)).reduce((sum, mb) => sum + mb, 0);
}

/** Which engine a process of start's tree is, from its command line. */
function processLabel(pid: number, root: number): string {
  if (pid === root) return "cli";
  let command = "";
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    // gone meanwhile
  }
  if (command.includes("DynamoDBLocal")) return "dynamodb-local";
  if (command.includes("gateway-server")) return "gateway";
  if (command.includes("fauxqs-server")) return "fauxqs";
  if (/main\.js\0?$/.test(command)) return "kinesis-mock";
  return "other";
}

/** RSS (MB) of `root` and every process below it, by engine (`cli` is root: the CLI with its functions). */
export function treeRssByProcessMb(root: number): Record<string, number> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const mb: Record<string, number> = {};
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      const label = processLabel(pid, root);
      mb[label] = (mb[label] ?? 0) + Number(match?.[1] ?? 0) / 1024;
    } catch {
      // gone meanwhile
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return mb;
}

const rounded = (mb: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(mb).map(([label, value]) => [label, Math.round(value)]));

/**
 * One `start` from the outside. With `demoArgs` it runs the demo with `--json` and exits; without, it starts
 * the app, samples it `idleSeconds` after its consumers run and again once the function environments
 * started with it have outlived their idle lifetime, and stops it with SIGINT (as Ctrl-C does).
 */
export async function timeStart(
  demoArgs: readonly string[] | undefined,
  idleSeconds = 10,
): Promise<DevLoopRun> {
  const args = ["--import", "tsx", "infra/cli/main.ts", "start", "--port", "0"];
  if (demoArgs) args.push("--demo", "--json", ...demoArgs);
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: repo,
    env: { ...process.env, AWS_ENDPOINT_URL: "", LOCAL_CLOUD_PORT: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let consumersRunningS: number | undefined;
  let idleRssMb = 0;
  let peakRssMb = 0;
  let idleByProcessMb: Record<string, number> = {};
  let idleSettledByProcessMb: Record<string, number> = {};
  let peakByProcessMb: Record<string, number> = {};
  const onLine = (text: string) => {
    const match = /✓ consumers running ([\d.]+) s after start/.exec(text);
    if (match && consumersRunningS === undefined) {
      consumersRunningS = Number(match[1]);
      if (!demoArgs) {
        setTimeout(() => {
          idleByProcessMb = treeRssByProcessMb(child.pid as number);
          idleRssMb = Object.values(idleByProcessMb).reduce((sum, mb) => sum + mb, 0);
        }, idleSeconds * 1000);
        // The environments are reclaimed on a 10 s tick once idle past their lifetime.
        setTimeout(() => {
          idleSettledByProcessMb = treeRssByProcessMb(child.pid as number);
          child.kill("SIGINT");
        }, IDLE_ENVIRONMENT_LIFETIME_MS + 15_000);
      }
    }
  };
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    onLine(String(chunk));
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    onLine(String(chunk));
  });
  const sampler = setInterval(() => {
    const byProcess = treeRssByProcessMb(child.pid as number);
    const total = Object.values(byProcess).reduce((sum, mb) => sum + mb, 0);
    if (total > peakRssMb) {
      peakRssMb = total;
      peakByProcessMb = byProcess;
    }
  }, 250);
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  clearInterval(sampler);
  const wallS = (performance.now() - started) / 1000;
  if (consumersRunningS === undefined)
    throw new Error(`start exited (${code}) before its consumers ran:\n${(stderr || stdout).slice(-3000)}`);
  if (!demoArgs)
    return {
      consumersRunningS,
      idleRssMb,
      peakRssMb,
      idleByProcessMb: rounded(idleByProcessMb),
      idleSettledRssMb: Object.values(idleSettledByProcessMb).reduce((sum, mb) => sum + mb, 0),
      idleSettledByProcessMb: rounded(idleSettledByProcessMb),
      peakByProcessMb: rounded(peakByProcessMb),
      wallS,
    };
  const summary = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as {
    ok: boolean;
    durationMs: number;
    throughputPerSecond: number;
    groups: Record<
      string,
      {
        latencyMs: { p50: number; p99: number };
        expected: number;
        processed: number;
        lost: number;
        processedTwice: number;
        orderViolations: number;
      }
    >;
  };
  const problems = Object.entries(summary.groups)
    .filter(
      ([, group]) =>
        group.lost + group.processedTwice + group.orderViolations > 0 || group.processed < group.expected,
    )
    .map(
      ([name, group]) =>
        `${name}: ${group.processed}/${group.expected} processed, lost ${group.lost}, twice ${group.processedTwice}, order violations ${group.orderViolations}`,
    )
    .join("; ");
  const groups = Object.values(summary.groups);
  return {
    consumersRunningS,
    ok: summary.ok,
    ...(problems ? { problems } : {}),
    durationS: summary.durationMs / 1000,
    msgsPerSecond: summary.throughputPerSecond,
    // The slowest group's: what a developer waiting for every consumer sees.
    p50Ms: Math.max(...groups.map((group) => group.latencyMs.p50)),
    p99Ms: Math.max(...groups.map((group) => group.latencyMs.p99)),
    idleRssMb,
    peakRssMb,
    peakByProcessMb: rounded(peakByProcessMb),
    wallS,
  };
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

export interface DevLoopOptions {
  readonly runs: number;
  /** Orders of the burst demo (each is 6 deliveries: the default 1,000 makes 6,000). */
  readonly messages: number;
  /** Orders a second of the steady-rate demo, and how many. */
  readonly steadyRate: number;
  readonly steadyMessages: number;
  /** Orders of the memory run (`--messages 4000` in the issue). */
  readonly memoryMessages: number;
  readonly onRun?: (what: string, run: DevLoopRun) => void;
}

export interface DevLoopRow {
  readonly measure: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: number;
  readonly target: string;
}

export async function benchmarkDevLoop(options: DevLoopOptions): Promise<DevLoopRow[]> {
  const idle: DevLoopRun[] = [];
  const burst: DevLoopRun[] = [];
  const steady: DevLoopRun[] = [];
  const record = (what: string, list: DevLoopRun[], run: DevLoopRun) => {
    list.push(run);
    options.onRun?.(what, run);
  };
  for (let index = 0; index < options.runs; index++) {
    record("idle", idle, await timeStart(undefined));
    record("burst", burst, await timeStart(["--messages", String(options.messages)]));
    record(
      "steady",
      steady,
      await timeStart([
        "--messages",
        String(options.steadyMessages),
        "--rate",
        String(options.steadyRate),
        "--fail-rate",
        "0",
      ]),
    );
  }
  const memory = await timeStart(["--messages", String(options.memoryMessages), "--timeout", "600"]);
  options.onRun?.("memory", memory);
  const deliveries = options.messages * 6;
  const pick = (list: DevLoopRun[], key: keyof DevLoopRun) => median(list.map((run) => Number(run[key])));
  return [
    {
      measure: "consumers running after start",
      value: median([...idle, ...burst, ...steady].map((run) => run.consumersRunningS)),
      unit: "s",
      baseline: DEV_LOOP_BASELINE.consumersRunningS,
      target: "≤ 10",
    },
    {
      measure: `demo burst, ${deliveries.toLocaleString("en-US")} deliveries`,
      value: pick(burst, "durationS"),
      unit: "s",
      baseline: DEV_LOOP_BASELINE.burstS,
      target: "≤ 40",
    },
    {
      measure: "demo burst throughput",
      value: pick(burst, "msgsPerSecond"),
      unit: "msg/s",
      baseline: DEV_LOOP_BASELINE.burstMsgsPerSecond,
      target: "≥ 150",
    },
    {
      measure: `latency p50 at ${options.steadyRate} orders/s (slowest group)`,
      value: pick(steady, "p50Ms"),
      unit: "ms",
      target: "-",
    },
    {
      measure: `latency p99 at ${options.steadyRate} orders/s (slowest group)`,
      value: pick(steady, "p99Ms"),
      unit: "ms",
      target: "-",
    },
    {
      measure: "RSS of all processes, idle after start",
      value: pick(idle, "idleRssMb"),
      unit: "MB",
      baseline: DEV_LOOP_BASELINE.idleRssMb,
      target: "≤ 500",
    },
    {
      measure: `RSS of all processes, idle ${(IDLE_ENVIRONMENT_LIFETIME_MS + 15_000) / 1000} s after start (environments reclaimed)`,
      value: pick(idle, "idleSettledRssMb"),
      unit: "MB",
      baseline: DEV_LOOP_BASELINE.idleRssMb,
      target: "≤ 500",
    },
    {
      measure: `RSS of all processes, peak during --messages ${options.memoryMessages}`,
      value: memory.peakRssMb,
      unit: "MB",
      baseline: DEV_LOOP_BASELINE.peakRssMb,
      target: "≤ 800",
    },
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      messages: { type: "string", default: "1000" },
      "memory-messages": { type: "string", default: "4000" },
    },
  });
  const { renderTable } = await import("../../infra/local/demo/table.js");
  console.log(
    `## Dev loop: npm start on ${cpus().length} cores / ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version} (medians of ${values.runs})`,
  );
  const rows = await benchmarkDevLoop({
    runs: Number(values.runs),
    messages: Number(values.messages),
    steadyRate: 20,
    steadyMessages: 300,
    memoryMessages: Number(values["memory-messages"]),
    onRun: (what, run) => console.log(`  ${what}: ${JSON.stringify(run)}`),
  });
  console.log(renderDevLoop(rows, renderTable));
}

export function renderDevLoop(
  rows: readonly DevLoopRow[],
  renderTable: (head: string[], body: Array<Array<string | number>>) => string,
): string {
  return renderTable(
    ["measure", "now", "before (#14)", "vs before", "target"],
    rows.map((row) => [
      row.measure,
      `${Math.round(row.value * 10) / 10} ${row.unit}`,
      row.baseline === undefined ? "-" : `${row.baseline} ${row.unit}`,
      row.baseline === undefined ? "-" : `${(row.value / row.baseline).toFixed(2)}x`,
      row.target,
    ]),
  );
}
