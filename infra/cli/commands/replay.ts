import { createInterface } from "node:readline/promises";
import { type Broker, openBroker } from "../../ops/broker.js";
import { type ReplayMode, replayStream, type StreamPosition } from "../../ops/replay.js";
import { replayTopic } from "../../ops/topic-replay.js";
import { parseCommand, print, printed, printedJson, UsageError } from "../command.js";

export const REPLAY_HELP = `serverless-broker replay STREAM --group G (--from ISO_TIME | --from-sequence SEQ)
    [--to ISO_TIME | --to-sequence SEQ] [--mode missing|all] [--replay-id ID] [--dry-run] [--yes] [--json]
serverless-broker replay TOPIC --group G --from ISO_TIME [--to ISO_TIME] [--dry-run] [--yes] [--json]

  Delivers a Kinesis stream's records from a position to the group's function, with its batch semantics:
  the mapping's batch size, in order per shard, a failed batch (error or partial batch response) retried
  from its first failed record, at most 3 times; a shard still failing stops there and is reported.
  STREAM is the stream's logical id (as \`serverless-broker topology\` shows it) or its name.

  --mode missing  (default) records as they were: the group's dedup table or checkpoints skip what the
                  group completed, so only what it never completed takes effect. Needs a dedup table.
  --mode all      every record once more, on purpose: the records are marked as a replay, and the group's
                  guard keeps its dedup rows and checkpoints for it apart (<group>#replay#<id>), so the live
                  ones are neither consulted nor changed.
  --replay-id ID  resume an --mode all replay: what it completed already is skipped
  --from / --to   arrival time (ISO 8601) or sequence number; --to defaults to now
  --dry-run       read the range and count it; invoke nothing
  --yes           do not ask for confirmation (scripts)

  TOPIC: an SNS FIFO topic with an archive, on AWS: sets the group's subscription's ReplayPolicy, and SNS
  delivers the archived messages from --from to that subscription alone. The local cloud has no archive.
Where: --app DIR, --cdk-out DIR, --stack NAME as for \`serverless-broker topology\`.`;

const OPTIONS = {
  app: { type: "string" },
  "cdk-out": { type: "string" },
  stack: { type: "string" },
  group: { type: "string", short: "g" },
  from: { type: "string" },
  "from-sequence": { type: "string" },
  to: { type: "string" },
  "to-sequence": { type: "string" },
  mode: { type: "string" },
  "replay-id": { type: "string" },
  "dry-run": { type: "boolean", default: false },
  yes: { type: "boolean", short: "y", default: false },
} as const;

export interface ReplayArgs {
  readonly target: string;
  readonly group: string;
  readonly from: StreamPosition;
  readonly to?: StreamPosition;
  readonly mode: ReplayMode;
  readonly replayId?: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly json: boolean;
  readonly where: { app?: string; "cdk-out"?: string; stack?: string };
}

/** The flags of `replay`, checked: a UsageError names what is wrong. `undefined` for --help. */
export function parseReplayArgs(argv: readonly string[]): ReplayArgs | undefined {
  const { values, positionals } = parseCommand(argv, OPTIONS);
  if (values.help) return undefined;
  if (positionals.length !== 1)
    throw new UsageError(`replay takes one stream or topic, but ${positionals.length} were given.`);
  if (!values.group) throw new UsageError("replay needs --group G: the consumer group to deliver to.");
  const from = position("from", values.from, values["from-sequence"]);
  if (!from) throw new UsageError("replay needs where to start: --from ISO_TIME or --from-sequence SEQ.");
  const to = position("to", values.to, values["to-sequence"]);
  const mode = values.mode ?? "missing";
  if (mode !== "missing" && mode !== "all")
    throw new UsageError(`--mode is missing or all, but "${mode}" was given.`);
  if (values["replay-id"] !== undefined && mode !== "all")
    throw new UsageError("--replay-id resumes a --mode all replay; pass --mode all with it.");
  if (values["replay-id"] !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(values["replay-id"]))
    throw new UsageError(
      `--replay-id is letters, digits, - and _ (at most 64), but "${values["replay-id"]}" was given.`,
    );
  return {
    target: positionals[0] as string,
    group: values.group,
    from,
    ...(to ? { to } : {}),
    mode,
    ...(values["replay-id"] ? { replayId: values["replay-id"] } : {}),
    dryRun: values["dry-run"] === true,
    yes: values.yes === true,
    json: values.json === true,
    where: {
      ...(values.app ? { app: values.app } : {}),
      ...(values["cdk-out"] ? { "cdk-out": values["cdk-out"] } : {}),
      ...(values.stack ? { stack: values.stack } : {}),
    },
  };
}

function position(flag: string, time: string | undefined, sequence: string | undefined) {
  if (time !== undefined && sequence !== undefined)
    throw new UsageError(`--${flag} and --${flag}-sequence both say where; pass one of them.`);
  if (time !== undefined) {
    const date = new Date(time);
    if (!/^\d{4}-\d\d-\d\d/.test(time) || Number.isNaN(date.getTime()))
      throw new UsageError(
        `--${flag} is an ISO 8601 time such as 2026-12-05T01:30:00Z, but "${time}" was given.`,
      );
    return { time: date };
  }
  if (sequence !== undefined) {
    if (!/^\d+$/.test(sequence))
      throw new UsageError(
        `--${flag}-sequence is a Kinesis sequence number (digits), but "${sequence}" was given.`,
      );
    return { sequence };
  }
  return undefined;
}

export async function replayCommand(argv: readonly string[]): Promise<number> {
  const args = parseReplayArgs(argv);
  if (!args) return printed(REPLAY_HELP);
  const broker = await openBroker({
    ...(args.where.app ? { appDir: args.where.app } : {}),
    ...(args.where["cdk-out"] ? { assemblyDir: args.where["cdk-out"] } : {}),
    ...(args.where.stack ? { stack: args.where.stack } : {}),
    onStep: (line) => process.stderr.write(`${line}\n`),
  });
  try {
    const isTopic = broker.topology.topics.some((topic) => topic.logicalId === args.target);
    if (isTopic) return await topic(broker, args);
    return await stream(broker, args);
  } finally {
    broker.close();
  }
}

async function confirm(broker: Broker, args: ReplayArgs, what: string): Promise<boolean> {
  if (args.dryRun || args.yes) return true;
  if (!process.stdin.isTTY)
    throw new UsageError(
      "replay invokes the group's function and asks first; pass --yes to run it without a terminal, or --dry-run to look.",
    );
  const where = broker.target === "aws" ? "AWS" : `the local cloud at ${broker.endpoint}`;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(`${what} on ${where}? [y/N] `);
  prompt.close();
  return /^y(es)?$/i.test(answer.trim());
}

async function topic(broker: Broker, args: ReplayArgs): Promise<number> {
  if (!("time" in args.from) || (args.to && !("time" in args.to)))
    throw new UsageError("a topic replays from a time: --from ISO_TIME (sequence numbers are a stream's).");
  const to = args.to && "time" in args.to ? args.to.time : undefined;
  if (!(await confirm(broker, args, `Replay the archive of ${args.target} to ${args.group}`)))
    return printed("Nothing replayed.", 1);
  const report = await replayTopic(broker, {
    topic: args.target,
    group: args.group,
    from: args.from.time,
    ...(to ? { to } : {}),
    dryRun: args.dryRun,
  });
  if (args.json) return printedJson(report);
  print(
    `${report.dryRun ? "dry run: would set" : "set"} the ReplayPolicy of ${report.subscription} to ${JSON.stringify(report.replayPolicy)}; SNS delivers the archived messages to ${report.group} alone.`,
  );
  return 0;
}

async function stream(broker: Broker, args: ReplayArgs): Promise<number> {
  const what =
    args.mode === "all"
      ? `Reprocess every record of ${args.target} in the range with ${args.group}`
      : `Deliver the records of ${args.target} that ${args.group} never completed`;
  if (!(await confirm(broker, args, what))) return printed("Nothing replayed.", 1);
  const live = process.stderr.isTTY === true;
  const report = await replayStream(broker, {
    stream: args.target,
    group: args.group,
    from: args.from,
    ...(args.to ? { to: args.to } : {}),
    mode: args.mode,
    dryRun: args.dryRun,
    ...(args.replayId ? { replayId: args.replayId } : {}),
    onBatch: (progress) => {
      const line = `${progress.shardId}: read ${progress.read} · sent ${progress.sent} · skipped ${progress.skipped} · failed ${progress.failed}${progress.lastDelivered ? ` · last ${progress.lastDelivered}` : ""}`;
      process.stderr.write(live ? `\r\x1b[K${line}` : `${line}\n`);
    },
  });
  if (live) process.stderr.write("\n");
  if (args.json) return printedJson(report, report.failed > 0 ? 1 : 0);
  if (report.dryRun)
    return printed(
      `dry run: would deliver ${report.read} records of ${report.stream} → ${report.group} (mode ${report.mode}); nothing invoked`,
    );
  const skipped = report.skipped < 0 ? "?" : String(report.skipped);
  print(
    `sent ${report.sent} · skipped ${skipped} · failed ${report.failed}  (${report.read} records of ${report.stream} → ${report.group}, mode ${report.mode}${report.replayId ? `, replay id ${report.replayId}` : ""})`,
  );
  for (const [shardId, sequence] of Object.entries(report.lastDelivered))
    print(`  ${shardId}: last delivered ${sequence}`);
  for (const stop of report.stopped)
    print(
      `  ${stop.shardId}: stopped at ${stop.sequenceNumber}: ${stop.why}. Fix it, then run again with --from-sequence ${stop.sequenceNumber}${report.replayId ? ` --replay-id ${report.replayId}` : ""}.`,
    );
  return report.failed > 0 ? 1 : 0;
}
