import { openBroker } from "../../ops/broker.js";
import type { GroupNode, Topology } from "../../ops/topology.js";
import { parseCommand, print, printed, printJson } from "../command.js";

export const TOPOLOGY_HELP = `serverless-broker topology [--app DIR] [--cdk-out DIR] [--synth] [--stack NAME] [--json]

The broker as a tree: topics (standard / FIFO) → consumer groups (filter, raw delivery, queue, DLQ,
function, batch settings), streams (shards) → groups → functions, and the outbox relays.

  --app DIR       the CDK project (its cdk.json)                     default: the current directory
  --cdk-out DIR   read this synthesized cloud assembly               default: <app>/cdk.out, synthesized if missing
  --synth         synthesize even if cdk.out exists
  --stack NAME    a deployed stack: read from AWS (CloudFormation) unless AWS_ENDPOINT_URL is set
  --json          the topology as JSON`;

export async function topologyCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      app: { type: "string" },
      "cdk-out": { type: "string" },
      synth: { type: "boolean", default: false },
      stack: { type: "string" },
    },
    false,
  );
  if (values.help) return printed(TOPOLOGY_HELP);
  const broker = await openBroker({
    ...(values.app ? { appDir: values.app } : {}),
    ...(values["cdk-out"] ? { assemblyDir: values["cdk-out"] } : {}),
    ...(values.stack ? { stack: values.stack } : {}),
    synth: values.synth,
    onStep: (line) => process.stderr.write(`${line}\n`),
  });
  try {
    if (values.json) printJson(broker.topology);
    else print(renderTopology(broker.topology));
    return 0;
  } finally {
    broker.close();
  }
}

/** The tree, as the README shows it. */
export function renderTopology(topology: Topology): string {
  const lines: string[] = [];
  const groupsByName = new Map(topology.groups.map((group) => [`${group.stackName}/${group.name}`, group]));
  for (const stack of topology.stacks) {
    lines.push(stack);
    const groupsOf = (names: readonly string[]) =>
      names.map((name) => groupsByName.get(`${stack}/${name}`)).filter((group) => group !== undefined);
    for (const topic of topology.topics.filter((entry) => entry.stackName === stack)) {
      const archive =
        topic.archiveRetentionDays === undefined ? "" : `, archived ${topic.archiveRetentionDays} d`;
      lines.push(`├─ topic ${topic.logicalId} (${topic.fifo ? "FIFO" : "standard"}${archive})`);
      for (const group of groupsOf(topic.groups)) lines.push(...groupLines(group, "│  "));
    }
    for (const stream of topology.streams.filter((entry) => entry.stackName === stack)) {
      const shards = stream.onDemand
        ? "on-demand"
        : `${stream.shardCount} shard${stream.shardCount === 1 ? "" : "s"}`;
      lines.push(`├─ stream ${stream.logicalId} (Kinesis, ${shards}, ${stream.retentionHours} h retention)`);
      for (const group of groupsOf(stream.groups)) lines.push(...groupLines(group, "│  "));
    }
    const placed = new Set([
      ...topology.topics.flatMap((topic) => topic.groups),
      ...topology.streams.flatMap((stream) => stream.groups),
    ]);
    const rest = topology.groups.filter((group) => group.stackName === stack && !placed.has(group.name));
    for (const group of rest) {
      const what = group.outboxRelay
        ? `outbox relay ${group.name} (reads the stream of ${group.source.kind === "table-stream" ? group.source.table : ""})`
        : `queue ${group.source.kind === "queue" ? group.source.queue : ""} (no topic)`;
      lines.push(`├─ ${what}`);
      lines.push(...groupLines(group, "│  "));
    }
  }
  return lines.join("\n");
}

function groupLines(group: GroupNode, indent: string): string[] {
  const details: string[] = [];
  if (group.source.kind === "queue") {
    details.push(`queue ${group.source.queue}${group.source.fifo ? " (FIFO)" : ""}`);
    if (group.source.filterPolicy !== undefined)
      details.push(`filter ${JSON.stringify(group.source.filterPolicy)}`);
    if (group.source.rawMessageDelivery) details.push("raw delivery");
    if (group.source.maxReceiveCount !== undefined)
      details.push(`max receives ${group.source.maxReceiveCount}`);
  }
  const batch = group.batch;
  const settings = [
    batch.batchSize === undefined ? undefined : `batch ${batch.batchSize}`,
    batch.maxBatchingWindowSeconds === undefined ? undefined : `window ${batch.maxBatchingWindowSeconds} s`,
    batch.parallelizationFactor === undefined ? undefined : `parallelization ${batch.parallelizationFactor}`,
    batch.maxRetryAttempts === undefined ? undefined : `retries ${batch.maxRetryAttempts}`,
    batch.bisectOnError ? "bisect on error" : undefined,
    batch.reportBatchItemFailures ? "partial batch responses" : undefined,
  ].filter((entry) => entry !== undefined);
  return [
    `${indent}└─ group ${group.name} → λ ${group.function}`,
    ...[
      ...details,
      settings.join(", "),
      group.deadLetterQueue ? `dead letters → ${group.deadLetterQueue}` : "no dead-letter queue",
      group.dedupTable ? `dedup table ${group.dedupTable}` : undefined,
    ]
      .filter((entry) => entry)
      .map((entry) => `${indent}     ${entry}`),
  ];
}
