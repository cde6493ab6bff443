/**
 * `serverless-broker start --port 0` serves on a port of its choosing; `dlq`, `tail` and `replay` run in the
 * same project find it there without an exported AWS_ENDPOINT_URL (they looked only at 4566).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { recordRunningEndpoint, runningEndpoint } from "../../../infra/local/running-endpoint.js";
import { openBroker } from "../../../infra/ops/broker.js";

const saved = {
  AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL,
  LOCAL_CLOUD_PORT: process.env.LOCAL_CLOUD_PORT,
};
let project: string;
beforeEach(() => {
  delete process.env.AWS_ENDPOINT_URL;
  delete process.env.LOCAL_CLOUD_PORT;
  project = mkdtempSync(join(tmpdir(), "running-endpoint-"));
  // A cloud assembly of one empty stack: what the commands read the topology from.
  mkdirSync(join(project, "cdk.out"));
  writeFileSync(
    join(project, "cdk.out", "manifest.json"),
    JSON.stringify({
      artifacts: {
        App: { type: "aws:cloudformation:stack", properties: { templateFile: "App.template.json" } },
      },
    }),
  );
  writeFileSync(join(project, "cdk.out", "App.template.json"), JSON.stringify({ Resources: {} }));
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved))
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  rmSync(project, { recursive: true, force: true });
});

const endpointOfCommands = async (): Promise<string | undefined> => {
  const broker = await openBroker({ appDir: project });
  broker.close();
  return broker.endpoint;
};

describe("the endpoint of a running start", () => {
  it("is where the project's commands go while start runs, and 4566 once it stopped", async () => {
    expect(await endpointOfCommands()).toBe("http://127.0.0.1:4566");
    const forget = recordRunningEndpoint(project, "http://127.0.0.1:45123");
    expect(await endpointOfCommands()).toBe("http://127.0.0.1:45123");
    forget();
    expect(runningEndpoint(project)).toBeUndefined();
    expect(await endpointOfCommands()).toBe("http://127.0.0.1:4566");
  });

  it("gives way to AWS_ENDPOINT_URL and LOCAL_CLOUD_PORT", async () => {
    recordRunningEndpoint(project, "http://127.0.0.1:45123");
    process.env.LOCAL_CLOUD_PORT = "4577";
    expect(await endpointOfCommands()).toBe("http://127.0.0.1:4577");
    process.env.AWS_ENDPOINT_URL = "http://localhost:4566";
    expect(await endpointOfCommands()).toBe("http://localhost:4566");
  });

  it("is ignored when the start that wrote it is gone (killed without its shutdown)", () => {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const record = join(project, ".local-cloud", "running.json");
    mkdirSync(join(project, ".local-cloud"), { recursive: true });
    writeFileSync(record, JSON.stringify({ endpoint: "http://127.0.0.1:45124", pid: Number(gone.stdout) }));
    expect(runningEndpoint(project)).toBeUndefined();
  });
});
