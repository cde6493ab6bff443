/**
 * The package as a user installs it: compiled to JavaScript by `npm run build`, its entry points loaded
 * through the package's `exports` by plain Node (no TypeScript loader), as in a CDK app or a Lambda bundle.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs an ES module script with plain Node from the project root, where the package refers to itself. */
const runNode = (script: string) => {
  const result = spawnSync(process.execPath, ["--input-type=module", "--eval", script], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "null");
};

beforeAll(() => {
  const build = spawnSync("npm", ["run", "build"], { cwd: root, encoding: "utf8" });
  expect(build.status, build.stdout + build.stderr).toBe(0);
}, 120_000);

describe("the built package", () => {
  it("exposes the constructs, the runtime and the local cloud as serverless-broker/{infra,runtime,local}", () => {
    const exported = runNode(`
      const names = async (entry) => Object.keys(await import("serverless-broker/" + entry));
      console.log(JSON.stringify({ infra: await names("infra"), runtime: await names("runtime"), local: await names("local") }));
    `);

    expect(exported.infra).toEqual(
      expect.arrayContaining([
        "MessageBroker",
        "FanOutTopic",
        "ShardedStream",
        "ConsumerFunction",
        "OrdersStack",
      ]),
    );
    expect(exported.runtime).toEqual(
      expect.arrayContaining([
        "sqsConsumer",
        "kinesisConsumer",
        "TopicPublisher",
        "StreamPublisher",
        "dynamoDbDedup",
      ]),
    );
    expect(exported.local).toEqual(
      expect.arrayContaining([
        "startLocalCloud",
        "startLocalRun",
        "applyTemplate",
        "EmulatorPackageMissingError",
      ]),
    );
  });

  it("synthesizes the reference stack from the compiled code, bundling the handlers it ships", () => {
    const outdir = mkdtempSync(join(tmpdir(), "package-synth-"));
    runNode(`
      import { App } from "aws-cdk-lib";
      const { OrdersStack } = await import("serverless-broker/infra");
      const app = new App({ outdir: ${JSON.stringify(outdir)} });
      new OrdersStack(app, "Orders");
      app.synth();
      console.log("null");
    `);

    const template = JSON.parse(readFileSync(join(outdir, "Orders.template.json"), "utf8"));
    const functions = Object.values(template.Resources as Record<string, { Type: string }>).filter(
      (resource) => resource.Type === "AWS::Lambda::Function",
    );
    expect(functions).toHaveLength(6);
    const bundles = readdirSync(outdir).filter((entry) => entry.startsWith("asset."));
    for (const bundle of bundles) expect(readdirSync(join(outdir, bundle))).toContain("index.mjs");
  });

  it("starts and stops the local cloud without a TypeScript loader", () => {
    const health = runNode(`
      const { startLocalCloud } = await import("serverless-broker/local");
      const cloud = await startLocalCloud({ port: 0, logDir: ${JSON.stringify(mkdtempSync(join(tmpdir(), "package-cloud-")))} });
      try { console.log(JSON.stringify(cloud.health())); } finally { await cloud.stop(); }
    `);

    expect(health.status).toBe("running");
    expect(Object.keys(health.emulators).sort()).toEqual(["dynamodb-local", "fauxqs", "kinesis-mock"]);
  }, 60_000);

  it("packs the compiled code, the Lambda worker and the README, and no tests", () => {
    const pack = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(pack.status, pack.stderr).toBe(0);
    const files = (JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map(
      (file) => file.path,
    );

    expect(files).toEqual(
      expect.arrayContaining([
        "README.md",
        "package.json",
        "dist/infra/index.js",
        "dist/infra/index.d.ts",
        "dist/lambdas/runtime/index.js",
        "dist/lambdas/handlers/outbox-relay.js",
        "dist/infra/local/runner/function-worker.mjs",
        "dist/infra/local/cloud/DynamoDBLocalLoopback.java",
        "dist/infra/local/cli/local.js",
        "dist/infra/cli/main.js",
      ]),
    );
    expect(files?.filter((path) => path.startsWith("test/") || path.endsWith(".map"))).toEqual([]);
  });
});
