#!/usr/bin/env node
/**
 * `npm run local`: starts the embedded local cloud in the foreground and serves until Ctrl-C / SIGTERM.
 *   npm run local -- [--port 4566] [--host 127.0.0.1] [--data-dir DIR] [--log-dir DIR] [--verbose]
 */
import { parseArgs } from "node:util";
import { EMULATORS, LocalCloudError, startLocalCloud } from "../cloud/index.js";
import { stopWhenOrphaned } from "./orphan-watch.js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "data-dir": { type: "string" },
    "log-dir": { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});

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
  const lines = [
    `Local cloud ready in ${seconds} s at ${cloud.endpoint}`,
    ...Object.entries(health.emulators).map(([name, emulator]) => {
      const spec = EMULATORS[name as keyof typeof EMULATORS];
      return `  ${spec.services.join(", ").padEnd(26)} ${spec.engine.padEnd(42)} pid ${emulator.pid}  log ${emulator.logFile}`;
    }),
    `Health: curl ${cloud.endpoint}/health`,
    "Reachable from this machine only; web pages on other origins are refused (LOCAL_CLOUD_ALLOWED_ORIGINS widens it).",
    ...cloud.exposures.map((exposure) => `WARNING: ${exposure}`),
    "Point AWS SDKs, the AWS CLI and this project's tests at it:",
    ...Object.entries(cloud.env).map(([name, value]) => `  export ${name}=${value}`),
    "Ctrl-C stops it.",
  ];
  console.log(lines.join("\n"));

  const shutdown = (signal: NodeJS.Signals) => {
    console.log(`\n${signal}: stopping the local cloud...`);
    void cloud.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  process.once("SIGHUP", shutdown);
  stopWhenOrphaned(() => shutdown("SIGTERM"));
} catch (error) {
  if (!(error instanceof LocalCloudError)) throw error;
  console.error(`error: ${error.message}`);
  process.exit(1);
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`error: --port must be a whole number from 0 to 65535, but "${text}" was given.`);
    process.exit(2);
  }
  return port;
}
