import { openBroker } from "../../ops/broker.js";
import { type TailedMessage, tail } from "../../ops/tail.js";
import { parseCommand, print, printed, UsageError } from "../command.js";

export const TAIL_HELP = `serverless-broker tail (TOPIC | STREAM | GROUP) [--json] [--stack NAME]

  Prints messages as they flow (type, key, id, size), until Ctrl-C. A topic, or a queue group's topic, is
  heard through a temporary SQS queue subscribed to it and deleted on exit (with its subscription): the
  group's own queue is never read. A stream, or a stream group's stream, is read from LATEST on each shard.
  --json prints one JSON object a line.
Where: --app DIR, --cdk-out DIR, --stack NAME as for \`serverless-broker topology\`.`;

export async function tailCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    app: { type: "string" },
    "cdk-out": { type: "string" },
    stack: { type: "string" },
  });
  if (values.help) return printed(TAIL_HELP);
  if (positionals.length !== 1)
    throw new UsageError(`tail takes one topic, stream or group, but ${positionals.length} were given.`);
  const broker = await openBroker({
    ...(values.app ? { appDir: values.app } : {}),
    ...(values["cdk-out"] ? { assemblyDir: values["cdk-out"] } : {}),
    ...(values.stack ? { stack: values.stack } : {}),
    onStep: (line) => process.stderr.write(`${line}\n`),
  });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const report = await tail(broker, positionals[0] as string, {
      signal: stop.signal,
      onReady: (description) => process.stderr.write(`${description} (Ctrl-C to stop)\n`),
      onMessage: (message) => print(values.json ? JSON.stringify(message) : line(message)),
    });
    process.stderr.write(
      `${report.seen} message(s) seen${report.cleanedUp.length ? `; removed ${report.cleanedUp.join(", ")}` : ""}\n`,
    );
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    broker.close();
  }
}

function line(message: TailedMessage): string {
  return [
    new Date().toISOString().slice(11, 23),
    message.source,
    message.type ?? "-",
    `key=${message.key ?? "-"}`,
    `id=${message.id ?? "-"}`,
    `${message.size} B`,
    ...(message.position ? [message.position] : []),
  ].join("  ");
}
