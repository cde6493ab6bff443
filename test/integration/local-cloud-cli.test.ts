/**
 * `npm run local` as a user meets it: what it prints, what it serves, what it leaves behind when stopped,
 * and what it says when the machine is not ready for it. Each test runs its own local cloud on free ports.
 */
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { killStarted, type RunningProcess, startProcess } from "../support/running-process.js";

const CLI = ["--import", "tsx", "infra/local/cli/local.ts"];
afterEach(killStarted);

type CliRun = RunningProcess;

const runCli = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env): CliRun =>
  startProcess(command, args, { env });

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits for the ready banner and returns the endpoint and the emulators' pids it lists. */
async function whenReady(run: CliRun) {
  const [, endpoint] = await run.waitFor(/Local cloud ready in [\d.]+ s at (http:\/\/\S+)/);
  await run.waitFor(/Ctrl-C stops it/);
  const pids = [...run.output().matchAll(/ pid (\d+) /g)].map((match) => Number(match[1]));
  expect(pids).toHaveLength(3);
  return { endpoint: endpoint as string, pids };
}

async function expectAllGone(pids: number[]) {
  await eventually("every emulator process to exit", async () => (pids.some(isAlive) ? undefined : true), {
    timeoutMs: 15_000,
  });
}

describe("npm run local", () => {
  it("prints its endpoint and the env lines, serves /health, and stops every emulator on SIGTERM", async () => {
    const run = runCli(process.execPath, [...CLI, "--port", "0"]);
    const { endpoint, pids } = await whenReady(run);

    expect(run.output()).toContain(`export AWS_ENDPOINT_URL=${endpoint}`);
    expect(run.output()).toContain("export AWS_REGION=us-east-1");
    const health = await (await fetch(`${endpoint}/health`)).json();
    expect(health).toMatchObject({
      status: "running",
      services: {
        sns: "running",
        sqs: "running",
        kinesis: "running",
        dynamodb: "running",
        dynamodbstreams: "running",
      },
    });

    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    await expectAllGone(pids);
  });

  it("leaves no emulator behind even when killed with SIGKILL", async () => {
    const run = runCli(process.execPath, [...CLI, "--port", "0"]);
    const { pids } = await whenReady(run);

    run.child.kill("SIGKILL");
    await run.exited;
    await expectAllGone(pids);
  });

  it("stops when `npm run local` itself is sent SIGTERM", async () => {
    const run = runCli("npm", ["run", "--silent", "local", "--", "--port", "0"]);
    const { pids } = await whenReady(run);

    run.child.kill("SIGTERM");
    await expectAllGone(pids);
  });
});

describe("npm run local on a machine that is not ready", () => {
  it("names a taken port and how to pick another", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = runCli(process.execPath, [...CLI, "--port", String(port)]);
      expect(await run.exited).toBe(1);
      expect(run.output()).toContain(`Port ${port} on 127.0.0.1 is already in use`);
      expect(run.output()).toContain("npx serverless-broker cloud --port");
    } finally {
      blocker.close();
    }
  });

  it("says how to install Java when there is none", async () => {
    // A PATH that has node and nothing else.
    const bin = mkdtempSync(join(tmpdir(), "no-java-"));
    symlinkSync(process.execPath, join(bin, "node"));
    const { JAVA_HOME: _ignored, ...env } = process.env;
    const run = runCli(process.execPath, [...CLI, "--port", "0"], { ...env, PATH: bin });

    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("DynamoDB Local needs Java 17 or newer");
    expect(run.output()).toContain("sudo apt-get install -y default-jdk-headless");
    expect(run.output()).toContain("export AWS_ENDPOINT_URL=http://localhost:4566");
  });

  it("shows the tail of an emulator's log when it dies during start", async () => {
    // A Java that passes the version check, then fails the way a broken install would.
    const home = mkdtempSync(join(tmpdir(), "broken-java-"));
    mkdirSync(join(home, "bin"));
    writeFileSync(
      join(home, "bin", "java"),
      [
        "#!/bin/sh",
        'if [ "$1" = "-version" ]; then echo \'openjdk version "17.0.1"\' >&2; exit 0; fi',
        "echo 'Error: Unable to access jarfile DynamoDBLocal.jar' >&2",
        "exit 1",
      ].join("\n"),
    );
    chmodSync(join(home, "bin", "java"), 0o755);
    const logDir = mkdtempSync(join(tmpdir(), "broken-java-logs-"));
    const run = runCli(process.execPath, [...CLI, "--port", "0", "--log-dir", logDir], {
      ...process.env,
      JAVA_HOME: home,
    });

    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("The dynamodb-local emulator exited during start (code 1)");
    expect(run.output()).toContain(`Last lines of ${join(logDir, "dynamodb-local.log")}`);
    expect(run.output()).toContain("| Error: Unable to access jarfile DynamoDBLocal.jar");
  });
});
