/**
 * `serverless-broker cloud` (alias `serverless-broker-local`): the embedded local cloud in the foreground,
 * serving until Ctrl-C / SIGTERM.
 */
import { parseArgs } from "node:util";
import { EMULATORS, LocalCloudError, startLocalCloud } from "../cloud/index.js";
import { stopWhenOrphaned } from "./orphan-watch.js";

export const CLOUD_HELP = `serverless-broker cloud [--port N] [--host H] [--data-dir DIR] [--log-dir DIR] [--verbose] [--json]

The local cloud alone (SNS, SQS, Kinesis, DynamoDB and its streams behind one endpoint, no Docker), until
Ctrl-C. Point SDKs, the AWS CLI and \`serverless-broker\` commands at it with AWS_ENDPOINT_URL.

  --port N        default: $LOCAL_CLOUD_PORT, else 4566 (0: a free one)
  --host H        default: 127.0.0.1 (loopback only)
  --data-dir DIR  keep the emulators' data there across restarts
  --log-dir DIR   the emulators' logs                                default: .local-cloud/logs
  --verbose       the emulators' output on the terminal too
  --json          one JSON line once ready: endpoint, environment, emulators`;

export async function cloudCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: "boolean", short: "h", default: false },
      json: { type: "boolean", default: false },
      port: { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      "log-dir": { type: "string" },
      verbose: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(CLOUD_HELP);
    return 0;
  }
  const startedAt = performance.now();
  try {
    const cloud = await startLocalCloud({
      port: values.port === undefined ? undefined : parsePort(values.port),
      host: values.host,
      dataDir: values["data-dir"],
      logDir: values["log-dir"],
      verbose: values.verbose,
    });
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    const health = cloud.health();
    if (values.json) {
      console.log(
        JSON.stringify({
          endpoint: cloud.endpoint,
          env: cloud.env,
          emulators: health.emulators,
          exposures: cloud.exposures,
        }),
      );
    } else {
      const lines = [
        `Local cloud ready in ${seconds} s at ${cloud.endpoint}`,
        ...Object.entries(health.emulators).map(([name, emulator]) => {
          const spec = EMULATORS[name as keyof typeof EMULATORS];
          return `  ${spec.services.join(", ").padEnd(26)} ${spec.engine.padEnd(42)} pid ${emulator.pid}  log ${emulator.logFile}`;
        }),
        `Health: curl ${cloud.endpoint}/health`,
        "Reachable from this machine only; web pages on other origins are refused (LOCAL_CLOUD_ALLOWED_ORIGINS widens it).",
        ...cloud.exposures.map((exposure) => `WARNING: ${exposure}`),
        "Point AWS SDKs, the AWS CLI and serverless-broker's commands at it:",
        ...Object.entries(cloud.env).map(([name, value]) => `  export ${name}=${value}`),
        "Ctrl-C stops it.",
      ];
      console.log(lines.join("\n"));
    }

    return await new Promise<number>((done) => {
      const shutdown = (signal: NodeJS.Signals) => {
        if (!values.json) console.log(`\n${signal}: stopping the local cloud...`);
        void cloud.stop().then(() => done(0));
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
      process.once("SIGHUP", shutdown);
      stopWhenOrphaned(() => shutdown("SIGTERM"));
    });
  } catch (error) {
    if (!(error instanceof LocalCloudError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new LocalCloudError(`--port must be a whole number from 0 to 65535, but "${text}" was given.`, "");
  return port;
}
