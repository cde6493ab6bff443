#!/usr/bin/env node
/**
 * `serverless-broker`: one command line over the operations module (infra/ops) and the local cloud
 * (infra/local). Each subcommand parses its flags, calls them, and prints; it holds no logic of its own.
 */
import { CLOUD_HELP, cloudCommand } from "../local/cli/cloud-command.js";
import { START_HELP, StartUsageError, startCommand } from "../local/cli/start.js";
import { print, runCommand, UsageError } from "./command.js";
import { DLQ_HELP, dlqCommand } from "./commands/dlq.js";
import { REPLAY_HELP, replayCommand } from "./commands/replay.js";
import { TAIL_HELP, tailCommand } from "./commands/tail.js";
import { TOPOLOGY_HELP, topologyCommand } from "./commands/topology.js";

// The AWS SDK warns on every client in a Node.js release near its end of support; the CLI's output (and its
// functions' logs, whose workers inherit this) stays clean. Supported Node versions are in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const COMMANDS: Record<
  string,
  { help: string; run: (argv: readonly string[]) => Promise<number>; summary: string }
> = {
  start: {
    help: START_HELP,
    run: startWithUsage,
    summary: "run the CDK app here locally, with a live status line per group",
  },
  cloud: {
    help: CLOUD_HELP,
    run: cloudWithUsage,
    summary: "the local cloud alone (alias: serverless-broker-local)",
  },
  topology: {
    help: TOPOLOGY_HELP,
    run: topologyCommand,
    summary: "topics, streams, consumer groups and functions as a tree",
  },
  dlq: { help: DLQ_HELP, run: dlqCommand, summary: "list, show and redrive the groups' dead letters" },
  replay: {
    help: REPLAY_HELP,
    run: replayCommand,
    summary: "deliver a stream's records (or a FIFO topic's archive) to a group again",
  },
  tail: {
    help: TAIL_HELP,
    run: tailCommand,
    summary: "live messages of a topic, stream or group, until Ctrl-C",
  },
};

const HELP = `serverless-broker COMMAND [flags]      (serverless-broker COMMAND --help for its flags)

${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`)
  .join("\n")}

Every command works on the local cloud by default (AWS_ENDPOINT_URL, else LOCAL_CLOUD_PORT, else a running
serverless-broker start of the app, else http://127.0.0.1:4566) and, with
--stack NAME and no AWS_ENDPOINT_URL, on a deployed stack with the standard AWS credential chain and region.`;

async function startWithUsage(argv: readonly string[]): Promise<number> {
  try {
    return await startCommand(argv);
  } catch (error) {
    if (error instanceof StartUsageError) throw new UsageError(error.message);
    throw error;
  }
}

async function cloudWithUsage(argv: readonly string[]): Promise<number> {
  try {
    return await cloudCommand(argv);
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))
      throw new UsageError((error as Error).message);
    throw error;
  }
}

const [name, ...rest] = process.argv.slice(2);
let code: number;
if (name === undefined || name === "help" || name === "--help" || name === "-h") {
  print(HELP);
  code = name === undefined ? 2 : 0;
} else {
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`error: serverless-broker has no command "${name}".\n${HELP}\n`);
    code = 2;
  } else {
    code = await runCommand(name, () => command.run(rest));
  }
}
process.exit(code);
