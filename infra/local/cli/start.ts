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
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { type AppliedStack, type ApplyEvent, applyTemplate } from "../apply/apply-template.js";
import { readCloudAssembly } from "../apply/cloud-assembly.js";
import { synthesize } from "../apply/synth.js";
import { type LocalCloud, LocalCloudError, localCloudEnv, startLocalCloud } from "../cloud/index.js";
import {
  type GroupReport,
  ORDERS_GROUPS,
  readDeadLetters,
  readEffects,
  reportGroup,
} from "../demo/effects-report.js";
import { type PublishedWorkload, publishOrders } from "../demo/orders-workload.js";
import { GroupProgress } from "../demo/progress.js";
import { renderTable } from "../demo/table.js";
import { LocalRuntime, type RuntimeEvent } from "../runner/local-runtime.js";
import { stopWhenOrphaned } from "./orphan-watch.js";

const startedAt = performance.now();
const seconds = (since = startedAt) => ((performance.now() - since) / 1000).toFixed(1);

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
  duplicates: rate("--duplicates", flags.duplicates),
  failRate: rate("--fail-rate", flags["fail-rate"]),
  poisonRate: rate("--poison-rate", flags["poison-rate"]),
  customers: Math.max(1, whole("--customers", flags.customers)),
  timeoutMs: whole("--timeout", flags.timeout) * 1000,
  seed: whole("--seed", flags.seed),
};
// With --json the last line of stdout is the summary; progress and logs go to stderr.
const say = (line: string) => (flags.json ? process.stderr : process.stdout).write(`${line}\n`);

let cloud: LocalCloud | undefined;
let runtime: LocalRuntime | undefined;
const shutdown = async (code: number) => {
  await runtime?.stop();
  await cloud?.stop();
  process.exit(code);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void shutdown(130));
stopWhenOrphaned(() => void shutdown(143));

try {
  const projectDir = process.cwd();
  const externalEndpoint = process.env.AWS_ENDPOINT_URL;
  say("serverless-broker: the CDK app's topology and consumers, running locally");
  const [assemblyDir, startedCloud] = await Promise.all([
    synthesize({ projectDir }).then((dir) => {
      say(`✓ synthesized ${dir} (${seconds()} s)`);
      return dir;
    }),
    externalEndpoint
      ? Promise.resolve(undefined)
      : startLocalCloud(flags.port === undefined ? {} : { port: whole("--port", flags.port) }).then(
          (started) => {
            say(`✓ local cloud at ${started.endpoint} (${seconds()} s)`);
            return started;
          },
        ),
  ]);
  cloud = startedCloud;
  const endpoint = externalEndpoint ?? (cloud as LocalCloud).endpoint;
  const environment = cloud?.env ?? {
    ...localCloudEnv(endpoint),
    ...pick(process.env, ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
  };
  if (externalEndpoint) say(`✓ using the endpoint in AWS_ENDPOINT_URL: ${externalEndpoint}`);
  Object.assign(process.env, environment);

  const stacks: AppliedStack[] = [];
  for (const stack of readCloudAssembly(assemblyDir)) {
    say(`Applying ${stack.stackName}:`);
    stacks.push(
      await applyTemplate(stack, {
        endpoint,
        ...(flags["real-timeouts"] ? {} : { maxVisibilityTimeoutSeconds: 5 }),
        onEvent: (event) => say(describeApply(event)),
      }),
    );
  }
  if (!flags["real-timeouts"])
    say(
      "  (queue visibility timeouts above 5 s are lowered locally so that retries come quickly; --real-timeouts keeps them)",
    );

  const logDir = resolve(".local-cloud/logs/functions");
  const progress = new GroupProgress();
  const runtimes = await Promise.all(
    stacks.map((stack) =>
      LocalRuntime.start(stack, {
        endpoint,
        environment: { ...environment, POWERTOOLS_LOG_LEVEL: "INFO" },
        logDir,
        extraEnvironment: options.failRate > 0 ? { BROKER_CHAOS_FAIL_RATE: String(options.failRate) } : {},
        onEvent: (event) => say(describeRuntime(event)),
      }),
    ),
  );
  runtime = runtimes[0];
  for (const started of runtimes) started.onBatchSummary((_, summary) => progress.record(summary));
  const startupMs = performance.now() - startedAt;
  say(`✓ consumers running ${seconds()} s after start; function logs in ${logDir}`);

  const outputs = Object.assign({}, ...stacks.map((stack) => stack.outputs)) as Record<string, string>;
  let exitCode = 0;
  if (options.messages > 0) {
    if (
      !outputs.OrderEventsTopicArn ||
      !outputs.OrderLifecycleTopicArn ||
      !outputs.LedgerStreamName ||
      !outputs.OrdersTableName
    ) {
      say(
        "This app is not the reference orders topology, so there is no demo workload; use --watch to keep it running.",
      );
    } else {
      exitCode = await runDemo(outputs, progress, startupMs);
    }
  }
  if (!flags.watch) await shutdown(exitCode);
  else await keepWatching(projectDir, runtimes, outputs, endpoint);
} catch (error) {
  if (error instanceof LocalCloudError) {
    process.stderr.write(`error: ${error.message}\n`);
    await shutdown(1);
  }
  throw error;
}

async function runDemo(
  outputs: Record<string, string>,
  progress: GroupProgress,
  startupMs: number,
): Promise<number> {
  const clients = {
    sns: new SNSClient({}),
    kinesis: new KinesisClient({}),
    sqs: new SQSClient({}),
    dynamodb: new DynamoDBClient({}),
  };
  say(
    `Demo: ${options.messages} orders over ${options.customers} customers to OrderEvents, OrderLifecycle (FIFO) and Ledger (Kinesis); ` +
      `${pct(options.duplicates)} published twice, ${pct(options.failRate)} handler failures, ${pct(options.poisonRate)} poison per channel`,
  );
  const demoStarted = performance.now();
  const demoStartedEpoch = Date.now();
  const workload = await publishOrders(
    {
      orderEventsTopicArn: outputs.OrderEventsTopicArn as string,
      orderLifecycleTopicArn: outputs.OrderLifecycleTopicArn as string,
      ledgerStreamName: outputs.LedgerStreamName as string,
    },
    {
      messages: options.messages,
      duplicateRate: options.duplicates,
      poisonRate: options.poisonRate,
      customers: options.customers,
      seed: options.seed,
    },
    clients,
  );
  say(
    `✓ published in ${(workload.publishMs / 1000).toFixed(1)} s (${workload.duplicatesPublished} duplicates, ${workload.poisonPublished.orderEvents} poison per channel)`,
  );

  const expected = new Map(
    ORDERS_GROUPS.map((group) => [group.group, options.messages * group.types.length]),
  );
  const live = process.stderr.isTTY || (!flags.json && process.stdout.isTTY);
  const ticker = setInterval(() => {
    const line = progress.line(expected, performance.now() - demoStarted);
    if (live) (flags.json ? process.stderr : process.stdout).write(`\r\x1b[K${line}`);
  }, 250);
  const heartbeat = live
    ? undefined
    : setInterval(() => say(progress.line(expected, performance.now() - demoStarted)), 5_000);
  const effects = await waitForEffects(
    clients.dynamodb,
    outputs.OrdersTableName as string,
    workload,
    progress,
    expected,
    demoStarted,
  );
  clearInterval(ticker);
  if (heartbeat) clearInterval(heartbeat);
  if (live)
    (flags.json ? process.stderr : process.stdout).write(
      `\r\x1b[K${progress.line(expected, performance.now() - demoStarted)}\n`,
    );

  // Let the last dead letters land before counting them.
  await new Promise((done) => setTimeout(done, 1_500));
  const reports: Array<GroupReport & { duplicatesSuppressed: number; retried: number }> = [];
  for (const group of ORDERS_GROUPS) {
    const deadLetters = await readDeadLetters(
      clients.sqs,
      outputs[group.deadLetterOutput] as string,
      demoStartedEpoch,
    );
    const totals = progress.of(group.group);
    reports.push({
      ...reportGroup(group, effects, workload, deadLetters),
      duplicatesSuppressed: totals.skipped,
      retried: totals.failed,
    });
  }
  const durationMs = performance.now() - demoStarted;
  const processedTotal = reports.reduce((sum, report) => sum + report.processed, 0);
  say("");
  say(
    renderTable(
      [
        "group",
        "expected",
        "processed",
        "lost",
        "twice",
        "order violations",
        "dups suppressed",
        "retried",
        "DLQ",
        "DLQ reasons",
        "p50 ms",
        "p99 ms",
      ],
      reports.map((report) => [
        report.group,
        report.expected,
        report.processed,
        report.lost,
        report.processedTwice,
        report.orderViolations,
        report.duplicatesSuppressed,
        report.retried,
        report.dlq,
        Object.entries(report.dlqReasons)
          .map(([reason, count]) => `${reason} ${count}`)
          .join(", ") || "-",
        Math.round(report.latencyMs.p50),
        Math.round(report.latencyMs.p99),
      ]),
    ),
  );
  const ok = reports.every((report) => report.lost === 0 && report.processedTwice === 0);
  const throughput = processedTotal / (durationMs / 1000);
  say("");
  say(
    `${ok ? "✓" : "✗"} ${processedTotal} messages processed in ${(durationMs / 1000).toFixed(1)} s (${Math.round(throughput)} msg/s); ` +
      `nothing lost: ${reports.every((report) => report.lost === 0) ? "yes" : "NO"}; nothing processed twice: ${reports.every((report) => report.processedTwice === 0) ? "yes" : "NO"}; ` +
      `consumers were running ${(startupMs / 1000).toFixed(1)} s after start`,
  );
  if (flags.json) {
    const summary = {
      ok,
      messages: options.messages,
      published: {
        orders: workload.orders.size,
        duplicates: workload.duplicatesPublished,
        poisonPerChannel: workload.poisonPublished.orderEvents,
      },
      settings: {
        duplicateRate: options.duplicates,
        failRate: options.failRate,
        poisonRate: options.poisonRate,
        customers: options.customers,
      },
      startupMs: Math.round(startupMs),
      durationMs: Math.round(durationMs),
      throughputPerSecond: Math.round(throughput),
      groups: Object.fromEntries(reports.map(({ group, ...report }) => [group, report])),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
  for (const client of Object.values(clients)) client.destroy();
  return ok ? 0 : 1;
}

/**
 * Waits until every expected effect is there, or nothing moves for 15 s, or the timeout. The batch
 * summaries say cheaply when it is worth scanning the effects table to check.
 */
async function waitForEffects(
  dynamodb: DynamoDBClient,
  tableName: string,
  workload: PublishedWorkload,
  progress: GroupProgress,
  expected: ReadonlyMap<string, number>,
  since: number,
) {
  const expectedKeys = ORDERS_GROUPS.flatMap((group) =>
    group.types.map((type) => ({ group: group.group, type })),
  );
  const complete = (effects: Awaited<ReturnType<typeof readEffects>>) => {
    const seen = new Set(effects.map((effect) => `${effect.group}#${effect.type}#${effect.orderId}`));
    return expectedKeys.every(({ group, type }) =>
      [...workload.orders.keys()].every((orderId) => seen.has(`${group}#${type}#${orderId}`)),
    );
  };
  const moved = () => [...expected.keys()].map((group) => JSON.stringify(progress.of(group))).join();
  let lastState = moved();
  let lastChange = performance.now();
  while (performance.now() - since < options.timeoutMs) {
    await new Promise((done) => setTimeout(done, 500));
    const state = moved();
    if (state !== lastState) {
      lastState = state;
      lastChange = performance.now();
    }
    const reported = [...expected].every(
      ([group, count]) => progress.of(group).processed + progress.of(group).deadLettered >= count,
    );
    const quiet = performance.now() - lastChange > 15_000;
    if (reported || quiet) {
      const effects = await readEffects(dynamodb, tableName);
      if (complete(effects) || quiet) return effects;
    }
  }
  return readEffects(dynamodb, tableName);
}

async function keepWatching(
  projectDir: string,
  runtimes: LocalRuntime[],
  outputs: Record<string, string>,
  endpoint: string,
): Promise<void> {
  say("");
  say(`Watching: the topology keeps running at ${endpoint}. Point your producers at it:`);
  for (const [name, value] of Object.entries(localCloudEnv(endpoint))) say(`  export ${name}=${value}`);
  for (const [name, value] of Object.entries(outputs)) say(`  ${name} = ${value}`);
  say("Handlers are reloaded when files under lambdas/ or infra/ change. Ctrl-C stops everything.");
  let pending: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();
  const onChange = () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      reloading = reloading.then(async () => {
        const started = performance.now();
        try {
          const assemblyDir = await synthesize({ projectDir });
          const stacks = readCloudAssembly(assemblyDir);
          const reloaded = (
            await Promise.all(runtimes.map((running) => running.reloadChangedCode(stacks)))
          ).flat();
          say(
            `↻ ${reloaded.length > 0 ? `reloaded ${reloaded.join(", ")}` : "no handler changed"} (${seconds(started)} s)`,
          );
        } catch (error) {
          say(`✗ reload failed, the previous code keeps running: ${(error as Error).message}`);
        }
      });
    }, 300);
  };
  for (const dir of ["lambdas", "infra"]) {
    watch(join(projectDir, dir), { recursive: true }, (_, file) => {
      if (file && !file.includes("local")) onChange();
    });
  }
  await new Promise(() => undefined);
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

function pick(source: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (source[name] ? [[name, source[name] as string]] : [])));
}
