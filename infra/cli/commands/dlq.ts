import { createInterface } from "node:readline/promises";
import { type Broker, openBroker } from "../../ops/broker.js";
import {
  listDeadLetterQueues,
  type RedriveOutcome,
  redriveDeadLetters,
  showDeadLetters,
} from "../../ops/dead-letters.js";
import { findGroup } from "../../ops/topology.js";
import {
  parseCommand,
  positiveNumber,
  print,
  printed,
  printedJson,
  printJson,
  UsageError,
  wholeNumber,
} from "../command.js";

export const DLQ_HELP = `serverless-broker dlq list [--json]
serverless-broker dlq show GROUP [--reason R] [--limit N] [--json]
serverless-broker dlq redrive GROUP [--reason R] [--dry-run] [--rate N] [--force] [--yes] [--json]

  list     every group's dead-letter queue: depth, oldest age, counts by reason
  show     the messages of a group's DLQ: reason, detail, message id, receives, age, original body
  redrive  back to the group's own queue (never the topic: other groups have their copy). Skips ids the
           group's dedup table shows completed, and messages redriven before that failed again (loop guard;
           --force redrives them anyway). A message leaves the DLQ only after its queue acknowledged the copy.

  --reason R      only dead letters of this reason (not-json, schema-mismatch, too-large, max-receives, ...)
  --limit N       show at most N messages                            default: 20
  --dry-run       say what would be sent and skipped; change nothing
  --rate N        send at most N messages a second                   default: 50
  --force         redrive messages that were redriven before
  --yes           do not ask for confirmation (scripts)
Where: --app DIR, --cdk-out DIR, --stack NAME as for \`serverless-broker topology\`.`;

const WHERE = {
  app: { type: "string" },
  "cdk-out": { type: "string" },
  stack: { type: "string" },
} as const;

export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === "--help" || action === "-h") return printed(DLQ_HELP);
  if (action === "list") return list(rest);
  if (action === "show") return show(rest);
  if (action === "redrive") return redrive(rest);
  throw new UsageError(`dlq has no action "${action}"; it has list, show and redrive.`);
}

async function withBroker<T>(
  values: { app?: string; "cdk-out"?: string; stack?: string },
  body: (broker: Broker) => Promise<T>,
) {
  const broker = await openBroker({
    ...(values.app ? { appDir: values.app } : {}),
    ...(values["cdk-out"] ? { assemblyDir: values["cdk-out"] } : {}),
    ...(values.stack ? { stack: values.stack } : {}),
    onStep: (line) => process.stderr.write(`${line}\n`),
  });
  try {
    return await body(broker);
  } finally {
    broker.close();
  }
}

async function list(argv: readonly string[]): Promise<number> {
  const { values } = parseCommand(argv, { ...WHERE, sample: { type: "string" } }, false);
  if (values.help) return printed(DLQ_HELP);
  const sample = wholeNumber("--sample", values.sample, 100);
  const summaries = await withBroker(values, (broker) => listDeadLetterQueues(broker, { sample }));
  if (values.json) return printedJson(summaries);
  print(`${"group".padEnd(16)}${"depth".padStart(7)}  ${"oldest".padStart(9)}  reasons`);
  for (const summary of summaries) {
    const reasons = Object.entries(summary.byReason)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(", ");
    print(
      `${summary.group.padEnd(16)}${String(summary.depth).padStart(7)}  ${(summary.oldestAgeSeconds === undefined ? "-" : age(summary.oldestAgeSeconds)).padStart(9)}  ${reasons || "-"}`,
    );
  }
  return 0;
}

async function show(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...WHERE,
    reason: { type: "string" },
    limit: { type: "string" },
  });
  if (values.help) return printed(DLQ_HELP);
  const group = single(positionals, "dlq show GROUP");
  const limit = wholeNumber("--limit", values.limit, 20);
  const shown = await withBroker(values, (broker) =>
    showDeadLetters(broker, group, { ...(values.reason ? { reason: values.reason } : {}), limit }),
  );
  if (values.json) return printedJson(shown.messages);
  print(`${shown.messages.length} dead letter(s) of ${group} (${shown.queueUrl})`);
  for (const message of shown.messages) {
    print("");
    print(`${message.reason}: ${message.detail}`);
    print(
      `  message id ${message.messageId ?? "-"} · source record ${message.sourceRecordId ?? "-"} · attempt ${message.attempts ?? "-"} · age ${age(message.ageSeconds)}${message.redriveCount ? ` · redriven ${message.redriveCount}×` : ""}`,
    );
    print(`  body${message.bodyEncoding ? ` (${message.bodyEncoding})` : ""}: ${message.body.slice(0, 500)}`);
  }
  return 0;
}

async function redrive(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...WHERE,
    reason: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    rate: { type: "string" },
    force: { type: "boolean", default: false },
    yes: { type: "boolean", short: "y", default: false },
  });
  if (values.help) return printed(DLQ_HELP);
  const groupName = single(positionals, "dlq redrive GROUP");
  const rate = positiveNumber("--rate", values.rate, 50);
  return withBroker(values, async (broker) => {
    const group = findGroup(broker.topology, groupName);
    if (!values["dry-run"] && !values.yes) {
      const where =
        broker.target === "aws"
          ? `the deployed stack ${group.stackName}`
          : `the local cloud at ${broker.endpoint}`;
      const question = `Redrive the dead letters of ${group.name}${values.reason ? ` (reason ${values.reason})` : ""} back to its queue on ${where}? [y/N] `;
      if (!process.stdin.isTTY)
        throw new UsageError(
          "redrive changes queues and asks first; pass --yes to run it without a terminal, or --dry-run to look.",
        );
      const prompt = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await prompt.question(question);
      prompt.close();
      if (!/^y(es)?$/i.test(answer.trim())) return printed("Nothing redriven.", 1);
    }
    const live = process.stderr.isTTY === true && !values.json;
    const report = await redriveDeadLetters(broker, groupName, {
      ...(values.reason ? { reason: values.reason } : {}),
      dryRun: values["dry-run"],
      rate,
      force: values.force,
      onMessage: (outcome, done, depth) => {
        if (live) process.stderr.write(`\r\x1b[K${bar(done, depth)} ${done}/${depth}`);
        else if (!values.json && outcome.kind !== "sent") print(describe(outcome));
      },
    });
    if (live) process.stderr.write("\n");
    if (values.json) {
      printJson({
        ...report,
        outcomes: report.outcomes.map((outcome) => ({
          kind: outcome.kind,
          dlqMessageId: outcome.message.dlqMessageId,
          messageId: outcome.message.messageId,
          reason: outcome.message.reason,
          ...("why" in outcome ? { why: outcome.why } : {}),
        })),
      });
    } else {
      if (live) for (const outcome of report.outcomes) if (outcome.kind !== "sent") print(describe(outcome));
      print(
        `${report.dryRun ? "dry run: would send" : "sent"} ${report.sent} · skipped ${report.skipped} · failed ${report.failed}  (${report.from} → ${report.to})`,
      );
    }
    return report.failed > 0 ? 1 : 0;
  });
}

function describe(outcome: RedriveOutcome): string {
  const id = outcome.message.messageId ?? outcome.message.dlqMessageId;
  switch (outcome.kind) {
    case "sent":
      return `  sent ${id}`;
    case "would-send":
      return `  would send ${id} (${outcome.message.reason})`;
    case "skipped":
      return `  skipped ${id}: ${outcome.why}`;
    case "failed":
      return `  failed ${id}: ${outcome.why}`;
  }
}

function single(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1)
    throw new UsageError(`${usage} takes one consumer group name, but ${positionals.length} were given.`);
  return positionals[0] as string;
}

function bar(done: number, total: number): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
