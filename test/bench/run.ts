/**
 * `npm run bench [-- --quick]`: every benchmark in one process on one embedded local cloud, printed as
 * tables with ratios against their baselines, saved to test/bench/results/latest.json and drawn as
 * test/bench/results/latest.svg (the README embeds it).
 */
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";

// The wrappers' logs and EMF metrics would measure the terminal, not the code.
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
process.env.POWERTOOLS_METRICS_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    // The dev-loop section runs `npm start` as its own process trees (minutes); alone: test/bench/dev-loop.ts.
    "skip-dev-loop": { type: "boolean", default: false },
  },
});
const quick = values.quick;
const say = (line = "") => console.log(line);

const { startLocalCloud } = await import("../../infra/local/cloud/index.js");
const cloud = await startLocalCloud({ port: 0, logDir: ".local-cloud/bench-logs" });
// Before the benchmarks load: their modules create SDK clients, which must point at this cloud.
Object.assign(process.env, cloud.env);
const { renderTable } = await import("../../infra/local/demo/table.js");
const { Cleanup } = await import("../support/resources.js");
const { renderChart } = await import("./chart.js");
const { benchmarkColdStart, benchmarkSchemaCost } = await import("./cold-start.js");
const { benchmarkDedup, benchmarkOverhead } = await import("./consumers.js");
const { benchmarkDevLoop, renderDevLoop } = await import("./dev-loop.js");
const { benchmarkEndToEnd, FULL_END_TO_END, renderEndToEnd } = await import("./end-to-end.js");
const { ratio, round } = await import("./measure.js");
const { benchmarkProducers } = await import("./producers.js");
const { createBenchResources } = await import("./resources.js");
const { scaleMessages, scaleShards } = await import("./scale.js");

const started = performance.now();
const cleanup = new Cleanup();
try {
  say(
    `serverless-broker benchmarks on ${cpus().length} cores / ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, local cloud ${cloud.endpoint}${quick ? " (quick)" : ""}`,
  );
  const resources = await createBenchResources(cleanup);

  say("\n## Producers: batching publishers vs one plain SDK call per message");
  const producers = await benchmarkProducers(
    resources,
    quick
      ? { batched: 2_000, kinesisBatched: 2_000, plain: 300, runs: 3 }
      : { batched: 10_000, kinesisBatched: 2_000, plain: 1_000, runs: 5 },
  );
  const plainRate = (channel: string) =>
    producers.find((row) => row.channel === channel && row.method.startsWith("plain"))?.msgsPerSecond ?? 1;
  say(
    renderTable(
      ["channel", "method", "messages", "msgs/s", "vs plain SDK"],
      producers.map((row) => [
        row.channel,
        row.method,
        row.messages,
        round(row.msgsPerSecond),
        ratio(row.msgsPerSecond, plainRate(row.channel)),
      ]),
    ),
  );

  say("\n## Cold start: init + first invoke of an SQS consumer with dedup (median of fresh processes)");
  const coldStart = await benchmarkColdStart(resources, quick ? 3 : 10);
  const coldBaseline = (sdk: string) =>
    coldStart.find((row) => row.sdk === sdk && row.implementation.startsWith("Powertools"));
  say(
    renderTable(
      ["implementation", "@aws-sdk", "bundle KiB", "init ms", "init + first invoke ms", "vs Powertools"],
      coldStart.map((row) => [
        row.implementation,
        row.sdk,
        round(row.bundleKiB, 1),
        round(row.initMs),
        round(row.initAndFirstInvokeMs),
        ratio(
          row.initAndFirstInvokeMs,
          coldBaseline(row.sdk)?.initAndFirstInvokeMs ?? row.initAndFirstInvokeMs,
        ),
      ]),
    ),
  );

  say("\n## What a schema library adds to a consumer (SDK external, minified; median of fresh processes)");
  const schemaCost = await benchmarkSchemaCost(quick ? 3 : 10);
  say(
    renderTable(
      ["schema library", "bundle KiB", "added KiB", "init ms"],
      schemaCost.map((row) => [
        row.library,
        round(row.bundleKiB, 1),
        round(row.addedKiB, 1),
        round(row.initMs),
      ]),
    ),
  );

  say("\n## Consumer wrapper overhead: no-op handler, 1,000-record batches (median of 30)");
  const overhead = await benchmarkOverhead();
  say(
    renderTable(
      ["wrapper", "records per batch", "µs per record"],
      overhead.map((row) => [row.wrapper, row.recordsPerBatch, round(row.microsecondsPerRecord, 1)]),
    ),
  );

  say("\n## Exactly-once consumers vs Powertools batch + idempotency (DynamoDB Local, median of 3)");
  say("Cost is the request units AWS bills (on-demand, us-east-1); requests per message are round trips.");
  const dedup = await benchmarkDedup(resources, quick ? 500 : 2_000, quick ? 1 : 3);
  const powertools = (channel: string, pass: string) =>
    dedup.find(
      (row) => row.channel === channel && row.pass === pass && row.implementation.startsWith("Powertools"),
    );
  say(
    renderTable(
      [
        "channel",
        "implementation",
        "pass",
        "messages",
        "msgs/s",
        "write units/msg",
        "read units/msg",
        "$ per million msgs",
        "cost vs Powertools",
        "requests/msg",
      ],
      dedup.map((row) => [
        row.channel,
        row.implementation,
        row.pass,
        row.messages,
        round(row.msgsPerSecond),
        round(row.writeUnitsPerMessage, 3),
        round(row.readUnitsPerMessage, 3),
        round(row.dollarsPerMillionMessages, 4),
        ratio(
          row.dollarsPerMillionMessages,
          powertools(row.channel, row.pass)?.dollarsPerMillionMessages ?? row.dollarsPerMillionMessages,
        ),
        round(row.requestsPerMessage, 3),
      ]),
    ),
  );

  say("\n## Scale: cost and time as messages and shards grow");
  const scale = [
    ...(await scaleMessages(quick ? [1_000, 10_000] : [1_000, 10_000, 100_000])),
    ...(await scaleShards([1, 2, 4, 8], quick ? 2_000 : 8_000)),
  ];
  say(
    renderTable(
      ["dimension", "size", "messages", "seconds", "msgs/s", "write units/msg", "requests/msg"],
      scale.map((row) => [
        row.dimension,
        row.size,
        row.messages,
        round(row.seconds, 1),
        round(row.msgsPerSecond),
        round(row.writeUnitsPerMessage, 3),
        round(row.requestsPerMessage, 3),
      ]),
    ),
  );

  say("\n## End to end through the reference topology (functions in-process, dedup on)");
  const endToEnd = await benchmarkEndToEnd(
    cloud.endpoint,
    quick ? { pacedMessages: 200, ratePerSecond: 20, burstMessages: 500 } : FULL_END_TO_END,
  );
  say(renderEndToEnd(endToEnd));

  say("\n## Dev loop: npm start from the outside, RSS summed over all its processes (medians)");
  const devLoop = values["skip-dev-loop"]
    ? []
    : await benchmarkDevLoop(
        quick
          ? { runs: 1, messages: 300, steadyRate: 20, steadyMessages: 200, memoryMessages: 1_000 }
          : { runs: 3, messages: 1_000, steadyRate: 20, steadyMessages: 300, memoryMessages: 4_000 },
      );
  say(devLoop.length > 0 ? renderDevLoop(devLoop, renderTable) : "(skipped: --skip-dev-loop)");

  const results = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    quick,
    producers,
    coldStart,
    schemaCost,
    overhead,
    dedup,
    scale,
    endToEnd,
    devLoop,
  };
  // A quick run's figures go beside the full run's, which the README quotes and embeds.
  const output = `test/bench/results/${quick ? "quick" : "latest"}`;
  writeFileSync(`${output}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(
    `${output}.svg`,
    renderChart(
      `serverless-broker benchmarks (medians, local cloud, ${cpus().length} cores, Node ${process.version})`,
      [
        {
          title: "Producers: messages per second (log scale)",
          unit: "msg/s",
          log: true,
          bars: producers.map((row) => ({
            label: `${row.channel}: ${row.method}`,
            value: row.msgsPerSecond,
            ours: !row.method.startsWith("plain"),
          })),
        },
        {
          title: "Exactly-once consumers: DynamoDB write units per message (what AWS bills)",
          unit: "WRU/msg",
          bars: dedup.map((row) => ({
            label: `${row.channel} ${row.pass}: ${row.implementation}`,
            value: row.writeUnitsPerMessage,
            ours: !row.implementation.startsWith("Powertools"),
          })),
        },
        {
          title: "Exactly-once consumers: messages per second",
          unit: "msg/s",
          bars: dedup.map((row) => ({
            label: `${row.channel} ${row.pass}: ${row.implementation}`,
            value: row.msgsPerSecond,
            ours: !row.implementation.startsWith("Powertools"),
          })),
        },
      ],
    ),
  );
  say(`\nResults in ${output}.json and ${output}.svg (${round((performance.now() - started) / 1000)} s).`);
} finally {
  await cleanup.run();
  await cloud.stop();
}
