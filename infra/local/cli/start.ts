/**
 * `serverless-broker start`: the CDK app in the current directory (its cdk.json) running locally, without
 * Docker: synthesizes it while the embedded local cloud starts (or uses AWS_ENDPOINT_URL), applies its
 * templates, runs its functions in-process and plays their event source mappings, then stays up with a
 * live status line per consumer group until Ctrl-C. `--demo` drives the reference orders workload through
 * this repository's app and reports what happened (what `npm start` runs).
 */
import { watch } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { SQSClient } from "@aws-sdk/client-sqs";
import { GroupStatusBoard, type WatchedGroup } from "../../ops/group-status.js";
import { readTopology } from "../../ops/topology.js";
import type { ApplyEvent } from "../apply/apply-template.js";
import { readCloudAssembly } from "../apply/cloud-assembly.js";
import { synthesize } from "../apply/synth.js";
import { LocalCloudError, localCloudEnv } from "../cloud/index.js";
import { renderGroupTable } from "../demo/group-table.js";
import { ordersChannels, runOrdersScenario, type ScenarioResult } from "../demo/orders-scenario.js";
import { type LocalRun, startLocalRun } from "../local-run.js";
import type { RuntimeEvent } from "../runner/local-runtime.js";
import { recordRunningEndpoint } from "../running-endpoint.js";
import { stopWhenOrphaned } from "./orphan-watch.js";

type Say = (line: string) => void;

export const START_HELP = `serverless-broker start [--app DIR] [--port N] [--watch] [--verbose] [--json] [--demo [demo flags]]

Runs the CDK app of the current directory (its cdk.json) locally: synthesizes it while the embedded local
cloud starts (or uses AWS_ENDPOINT_URL), creates its topics, queues, streams and tables, runs its Lambda
functions in-process and plays their event sources; then shows a live status line per consumer group
(processed ✓, retried ↻, DLQ depth, queue lag) until Ctrl-C.

  --app DIR         the CDK project                                   default: the current directory
  --port N          the local cloud's port (0: a free one)            default: $LOCAL_CLOUD_PORT, else 4566
  --watch           re-synthesize and reload changed handlers when files of the app change
  --verbose         list every resource created or skipped (default: a summary)
  --real-timeouts   retry a failed SQS message after its queue's visibility timeout, not 5 s
  --json            machine-readable lines; with --demo the last stdout line is the summary
  --demo            the reference orders workload (this repository's app), then exit (unless --watch):
                    --messages 1000 --customers 50 --duplicates 0.05 --fail-rate 0.02 --poison-rate 0.01
                    --seed 42 --timeout 120; --rate N publishes N orders a second (a steady rate,
                    whose p50/p99 show latency) instead of all at once (a burst, which shows throughput)`;

export interface DemoOptions {
  readonly messages: number;
  readonly duplicateRate: number;
  readonly failRate: number;
  readonly poisonRate: number;
  readonly customers: number;
  readonly timeoutMs: number;
  readonly seed: number;
  /** Orders a second; undefined publishes all at once. */
  readonly ratePerSecond?: number;
}

/** Thrown for a wrong flag: the CLI prints it with the usage hint. */
export class StartUsageError extends Error {
  override name = "StartUsageError";
}

export async function startCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseStartArgs>;
  try {
    parsed = parseStartArgs(argv);
  } catch (error) {
    throw new StartUsageError((error as Error).message);
  }
  const { values: flags } = parsed;
  if (flags.help) {
    process.stdout.write(`${START_HELP}\n`);
    return 0;
  }
  const options: DemoOptions = {
    messages: flags.demo ? whole("--messages", flags.messages ?? (flags.watch ? "0" : "1000")) : 0,
    duplicateRate: rate("--duplicates", flags.duplicates),
    failRate: flags.demo ? rate("--fail-rate", flags["fail-rate"]) : 0,
    poisonRate: rate("--poison-rate", flags["poison-rate"]),
    customers: Math.max(1, whole("--customers", flags.customers)),
    timeoutMs: whole("--timeout", flags.timeout) * 1000,
    seed: whole("--seed", flags.seed),
    // --rate 0 (like leaving it out) publishes all at once.
    ...(flags.rate === undefined || whole("--rate", flags.rate) === 0
      ? {}
      : { ratePerSecond: whole("--rate", flags.rate) }),
  };
  const projectDir = resolve(flags.app ?? process.cwd());
  // With --json the last line of stdout is the summary; everything else goes to stderr.
  const out = flags.json ? process.stderr : process.stdout;
  const say: Say = (line) => out.write(`${line}\n`);

  let run: LocalRun | undefined;
  let forgetEndpoint: (() => void) | undefined;
  let stopping: Promise<never> | undefined;
  const shutdown = (code: number): Promise<never> => {
    stopping ??= (async () => {
      forgetEndpoint?.();
      await run?.stop();
      process.exit(code);
    })();
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.once(signal, () => void shutdown(130));
  stopWhenOrphaned(() => void shutdown(143));

  try {
    say(`serverless-broker: the CDK app in ${projectDir}, running locally`);
    const applied: Array<ApplyEvent | { kind: "stack"; stackName: string }> = [];
    run = await startLocalRun({
      projectDir,
      ...(flags.port === undefined ? {} : { cloud: { port: whole("--port", flags.port) } }),
      maxVisibilityTimeoutSeconds: flags["real-timeouts"] ? undefined : 5,
      extraEnvironment: options.failRate > 0 ? { BROKER_CHAOS_FAIL_RATE: String(options.failRate) } : {},
      onStep: say,
      onApply: (event) => {
        applied.push(event);
        if (event.kind === "stack") say(`Applying ${event.stackName}:`);
        else if (flags.verbose || event.kind === "failed") say(describeApply(event));
      },
      onRuntime: (event) => say(describeRuntime(event)),
    });
    // What `dlq`, `tail` and `replay` in this project use when AWS_ENDPOINT_URL is not exported.
    forgetEndpoint = recordRunningEndpoint(projectDir, run.endpoint);
    for (const line of applySummary(applied, flags.verbose)) say(line);
    if (!flags["real-timeouts"])
      say(
        "  (a message a function fails is retried after 5 s, not its queue's visibility timeout, so that retries come quickly; --real-timeouts waits it out)",
      );
    say(
      `✓ consumers running ${(run.startupMs / 1000).toFixed(1)} s after start; function logs in ${resolve(projectDir, ".local-cloud/logs/functions")}`,
    );

    if (flags.demo) {
      let exitCode = 0;
      if (options.messages > 0) exitCode = await demo(run, options, flags.json, out, say);
      if (!flags.watch) return await shutdown(exitCode);
    }
    if (flags.watch) watchForChanges(run, projectDir, say);
    await stayUp(run, projectDir, out, say);
    return 0;
  } catch (error) {
    if (!(error instanceof LocalCloudError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return shutdown(1);
  }
}

function parseStartArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: "boolean", short: "h", default: false },
      app: { type: "string" },
      demo: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
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
      rate: { type: "string" },
    },
  });
}

async function demo(run: LocalRun, options: DemoOptions, json: boolean, out: NodeJS.WriteStream, say: Say) {
  if (!ordersChannels(run.outputs)) {
    say("This app is not the reference orders topology, so there is no demo workload; leave --demo out.");
    return 1;
  }
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
  report(result, run.startupMs, options, json, say);
  return result.ok ? 0 : 1;
}

function report(
  result: ScenarioResult,
  startupMs: number,
  options: DemoOptions,
  json: boolean,
  say: Say,
): void {
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
  if (result.ending === "timed-out")
    say(
      "✗ the demo's time ran out while messages were still being processed: what it counts as lost may only be late",
    );
  if (json) {
    const summary = {
      ok: result.ok,
      ending: result.ending,
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

/** Stays up until Ctrl-C: where to point producers, then a live status line per consumer group. */
async function stayUp(run: LocalRun, projectDir: string, out: NodeJS.WriteStream, say: Say): Promise<never> {
  say("");
  say(`The topology keeps running at ${run.endpoint}. Point your producers at it:`);
  for (const [name, value] of Object.entries(localCloudEnv(run.endpoint))) say(`  export ${name}=${value}`);
  for (const [name, value] of Object.entries(run.outputs)) say(`  ${name} = ${value}`);
  say("Ctrl-C stops everything.");
  const sqs = new SQSClient({ region: run.stacks[0]?.region ?? "us-east-1", endpoint: run.endpoint });
  const board = new GroupStatusBoard(watchedGroups(run, projectDir), sqs);
  run.onBatchSummary((summary) => board.record(summary));
  const live = out.isTTY === true;
  let last = "";
  for (;;) {
    await board.refresh();
    const line = board.line();
    if (live) out.write(`\r\x1b[K${line}`);
    else if (line !== last) say(line);
    last = line;
    await new Promise((done) => setTimeout(done, 2_000));
  }
}

/**
 * Each consumer group of the applied stacks with its queue and DLQ as the applier named them, and what its
 * event source mapping has delivered (the counts of a handler that logs no batch summary).
 */
function watchedGroups(run: LocalRun, projectDir: string): WatchedGroup[] {
  const templates = readCloudAssembly(run.stacks[0]?.assemblyDir ?? resolve(projectDir, "cdk.out"));
  const topology = readTopology(templates);
  return topology.groups.map((group) => {
    const resources = run.stacks.find((stack) => stack.stackName === group.stackName)?.resources;
    const queueUrl = group.source.kind === "queue" ? resources?.get(group.source.queue)?.ref : undefined;
    const deadLetterQueueUrl = group.deadLetterQueue ? resources?.get(group.deadLetterQueue)?.ref : undefined;
    const stats = run.runtimes
      .find((runtime) => runtime.stackName === group.stackName)
      ?.pollers.get(group.eventSourceMapping)?.poller.stats;
    return {
      name: group.name,
      ...(queueUrl ? { queueUrl } : {}),
      ...(deadLetterQueueUrl ? { deadLetterQueueUrl } : {}),
      ...(stats && "failed" in stats
        ? {
            delivered: () => ({
              processed: stats.received - stats.filteredOut - stats.failed,
              retried: stats.failed,
            }),
          }
        : {}),
    };
  });
}

function watchForChanges(running: LocalRun, projectDir: string, say: Say): void {
  say("Handlers are reloaded when files of the app change (not cdk.out, node_modules, .local-cloud).");
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
  watch(projectDir, { recursive: true }, (_, file) => {
    if (!file) return;
    if (/^(cdk\.out|node_modules|\.local-cloud|\.git)([\\/]|$)/.test(file) || file.startsWith("infra/local"))
      return;
    onChange();
  });
}

/** `created 31, skipped 40 (IAM roles and policies 24, …)`: the applier's output without --verbose. */
function applySummary(
  events: ReadonlyArray<ApplyEvent | { kind: "stack"; stackName: string }>,
  verbose: boolean,
) {
  const created = events.filter((event) => event.kind === "created").length;
  const failed = events.filter((event) => event.kind === "failed").length;
  const skipped = new Map<string, number>();
  for (const event of events) {
    if (event.kind !== "skipped") continue;
    skipped.set(event.type, (skipped.get(event.type) ?? 0) + 1);
  }
  const skippedCount = [...skipped.values()].reduce((sum, count) => sum + count, 0);
  const byType = [...skipped].map(([type, count]) => `${type} ${count}`).join(", ");
  return [
    `  created ${created}, skipped ${skippedCount}${skippedCount > 0 ? ` (not emulated: ${byType})` : ""}${failed > 0 ? `, failed ${failed} (above)` : ""}${verbose || skippedCount === 0 ? "" : "; --verbose lists each resource and why"}`,
  ];
}

function describeApply(event: ApplyEvent): string {
  switch (event.kind) {
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
    throw new StartUsageError(`${name} must be a whole number of 0 or more, but "${text}" was given.`);
  return value;
}

function rate(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new StartUsageError(
      `${name} must be a rate from 0 to 1 (e.g. 0.05 for 5%), but "${text}" was given.`,
    );
  return value;
}

function pct(value: number): string {
  return `${Math.round(value * 1000) / 10}%`;
}
