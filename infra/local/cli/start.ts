/**
 * `npm start`: the CDK app's topology and Lambda consumers running locally, without Docker.
 *   1. synthesizes the app (cdk.out) while the embedded local cloud starts (or uses AWS_ENDPOINT_URL);
 *   2. applies the templates: topics, subscriptions, queues, streams, tables;
 *   3. runs the functions in-process and plays their event source mappings;
 *   4. drives a demo workload through the reference orders topology and reports what happened.
 *
 *   npm start -- [--messages 1000] [--duplicates 0.05] [--fail-rate 0.02] [--poison-rate 0.01]
 *                [--customers 50] [--json] [--watch] [--port 4566] [--real-timeouts] [--timeout 120]
 */
import { watch } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ApplyEvent } from "../apply/apply-template.js";
import { readCloudAssembly } from "../apply/cloud-assembly.js";
import { synthesize } from "../apply/synth.js";
import { LocalCloudError, localCloudEnv } from "../cloud/index.js";
import { renderGroupTable } from "../demo/group-table.js";
import { ordersChannels, runOrdersScenario, type ScenarioResult } from "../demo/orders-scenario.js";
import { type LocalRun, startLocalRun } from "../local-run.js";
import type { RuntimeEvent } from "../runner/local-runtime.js";
import { stopWhenOrphaned } from "./orphan-watch.js";

const { values: flags } = parseArgs({
  options: {
    messages: { type: "string" },
    duplicates: { type: "string", default: "0.05" },
    "fail-rate": { type: "string", default: "0.02" },
    "poison-rate": { type: "string", default: "0.01" },
    customers: { type: "string", default: "50" },
    json: { type: "boolean", default: false },
    watch: { type: "boolean", default: false },
    port: { type: "string" },
    "real-timeouts": { type: "boolean", default: false },
    timeout: { type: "string", default: "120" },
    seed: { type: "string", default: "42" },
  },
});

const options = {
  messages: whole("--messages", flags.messages ?? (flags.watch ? "0" : "1000")),
  duplicateRate: rate("--duplicates", flags.duplicates),
  failRate: rate("--fail-rate", flags["fail-rate"]),
  poisonRate: rate("--poison-rate", flags["poison-rate"]),
  customers: Math.max(1, whole("--customers", flags.customers)),
  timeoutMs: whole("--timeout", flags.timeout) * 1000,
  seed: whole("--seed", flags.seed),
};
// With --json the last line of stdout is the summary; everything else goes to stderr.
const out = flags.json ? process.stderr : process.stdout;
const say = (line: string) => out.write(`${line}\n`);

let run: LocalRun | undefined;
const shutdown = async (code: number) => {
  await run?.stop();
  process.exit(code);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void shutdown(130));
stopWhenOrphaned(() => void shutdown(143));

try {
  say("serverless-broker: the CDK app's topology and consumers, running locally");
  run = await startLocalRun({
    ...(flags.port === undefined ? {} : { cloud: { port: whole("--port", flags.port) } }),
    maxVisibilityTimeoutSeconds: flags["real-timeouts"] ? undefined : 5,
    extraEnvironment: options.failRate > 0 ? { BROKER_CHAOS_FAIL_RATE: String(options.failRate) } : {},
    onStep: say,
    onApply: (event) => say(describeApply(event)),
    onRuntime: (event) => say(describeRuntime(event)),
  });
  if (!flags["real-timeouts"])
    say(
      "  (queue visibility timeouts above 5 s are lowered locally so that retries come quickly; --real-timeouts keeps them)",
    );
  say(
    `✓ consumers running ${(run.startupMs / 1000).toFixed(1)} s after start; function logs in .local-cloud/logs/functions`,
  );

  let exitCode = 0;
  if (options.messages > 0) {
    if (!ordersChannels(run.outputs)) {
      say(
        "This app is not the reference orders topology, so there is no demo workload; use --watch to keep it running.",
      );
    } else {
      say(
        `Demo: ${options.messages} orders over ${options.customers} customers to OrderEvents, OrderLifecycle (FIFO) and Ledger (Kinesis); ` +
          `${pct(options.duplicateRate)} published twice, ${pct(options.failRate)} handler failures, ${pct(options.poisonRate)} poison per channel`,
      );
      const live = out.isTTY === true;
      let lastHeartbeat = 0;
      const result = await runOrdersScenario(run, {
        ...options,
        onStep: say,
        onProgress: (line) => {
          if (live) out.write(`\r\x1b[K${line}`);
          else if (performance.now() - lastHeartbeat > 5_000) {
            lastHeartbeat = performance.now();
            say(line);
          }
        },
      });
      if (live) out.write("\n");
      report(result, run.startupMs);
      exitCode = result.ok ? 0 : 1;
    }
  }
  if (flags.watch) await keepWatching(run);
  await shutdown(exitCode);
} catch (error) {
  if (!(error instanceof LocalCloudError)) throw error;
  process.stderr.write(`error: ${error.message}\n`);
  await shutdown(1);
}

function report(result: ScenarioResult, startupMs: number): void {
  say("");
  say(renderGroupTable(result.groups, { latency: true }));
  const processed = result.groups.reduce((sum, group) => sum + group.processed, 0);
  const none = (key: "lost" | "processedTwice") =>
    result.groups.every((group) => group[key] === 0) ? "yes" : "NO";
  say("");
  say(
    `${result.ok ? "✓" : "✗"} ${processed} messages processed in ${(result.durationMs / 1000).toFixed(1)} s (${Math.round(result.throughputPerSecond)} msg/s); ` +
      `nothing lost: ${none("lost")}; nothing processed twice: ${none("processedTwice")}; consumers were running ${(startupMs / 1000).toFixed(1)} s after start`,
  );
  if (flags.json) {
    const summary = {
      ok: result.ok,
      messages: options.messages,
      published: {
        orders: result.workload.orders.size,
        duplicates: result.workload.duplicatesPublished,
        poisonPerChannel: result.workload.poisonPublished.orderEvents,
      },
      settings: {
        duplicateRate: options.duplicateRate,
        failRate: options.failRate,
        poisonRate: options.poisonRate,
        customers: options.customers,
      },
      startupMs: Math.round(startupMs),
      durationMs: Math.round(result.durationMs),
      throughputPerSecond: Math.round(result.throughputPerSecond),
      groups: Object.fromEntries(result.groups.map(({ group, ...rest }) => [group, rest])),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
}

async function keepWatching(running: LocalRun): Promise<void> {
  const projectDir = process.cwd();
  say("");
  say(`Watching: the topology keeps running at ${running.endpoint}. Point your producers at it:`);
  for (const [name, value] of Object.entries(localCloudEnv(running.endpoint)))
    say(`  export ${name}=${value}`);
  for (const [name, value] of Object.entries(running.outputs)) say(`  ${name} = ${value}`);
  say("Handlers are reloaded when files under lambdas/ or infra/ change. Ctrl-C stops everything.");
  let pending: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();
  const onChange = () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      reloading = reloading.then(async () => {
        const started = performance.now();
        try {
          const stacks = readCloudAssembly(await synthesize({ projectDir }));
          const reloaded = (
            await Promise.all(running.runtimes.map((runtime) => runtime.reloadChangedCode(stacks)))
          ).flat();
          say(
            `↻ ${reloaded.length > 0 ? `reloaded ${reloaded.join(", ")}` : "no handler changed"} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
          );
        } catch (error) {
          say(`✗ reload failed, the previous code keeps running: ${(error as Error).message}`);
        }
      });
    }, 300);
  };
  for (const dir of ["lambdas", "infra"]) {
    watch(join(projectDir, dir), { recursive: true }, (_, file) => {
      if (file && !file.startsWith("local")) onChange();
    });
  }
  await new Promise(() => undefined);
}

function describeApply(event: ApplyEvent | { kind: "stack"; stackName: string }): string {
  switch (event.kind) {
    case "stack":
      return `Applying ${event.stackName}:`;
    case "created":
      return `  + ${event.type.padEnd(28)} ${event.logicalId}  ${event.detail}`;
    case "skipped":
      return `  - ${event.type.padEnd(28)} ${event.logicalId}  skipped: ${event.reason}`;
    case "failed":
      return `  ✗ ${event.type.padEnd(28)} ${event.logicalId}  could not be created: ${event.reason}`;
  }
}

function describeRuntime(event: RuntimeEvent): string {
  switch (event.kind) {
    case "function-started":
      return `  λ ${event.logicalId} running (init ${event.ms} ms)`;
    case "function-failed":
      return `  ✗ function ${event.logicalId} does not run: ${event.reason}`;
    case "function-init-failed":
      return `  ✗ function ${event.logicalId} fails at init: ${event.reason}`;
    case "function-skipped":
      return `  - function ${event.logicalId} not run: ${event.reason}`;
    case "event-source-started":
      return `  ⇢ ${event.description}`;
    case "event-source-skipped":
      return `  ✗ event source ${event.logicalId} does not run: ${event.reason}`;
    case "poll-error":
      return `  ! event source ${event.logicalId}: ${event.error}`;
  }
}

function whole(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    fatal(`${name} must be a whole number of 0 or more, but "${text}" was given.`);
  return value;
}

function rate(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    fatal(`${name} must be a rate from 0 to 1 (e.g. 0.05 for 5%), but "${text}" was given.`);
  return value;
}

function fatal(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

function pct(value: number): string {
  return `${Math.round(value * 1000) / 10}%`;
}
