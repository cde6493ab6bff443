/**
 * `serverless-broker tail` on the local cloud, run as a user runs it: a message published after it started
 * is printed, and Ctrl-C leaves nothing behind (its temporary queue and subscription are gone); a stream
 * group's records are printed from LATEST.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PutRecordCommand } from "@aws-sdk/client-kinesis";
import { ListSubscriptionsByTopicCommand, PublishCommand } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, it } from "vitest";
import { type AppliedStack, applyTemplate } from "../../infra/local/apply/apply-template.js";
import { readCloudAssembly } from "../../infra/local/apply/cloud-assembly.js";
import { readTopology, type Topology } from "../../infra/ops/topology.js";
import { synthBrokerApp } from "../support/broker-app.js";
import { eventually } from "../support/eventually.js";
import { envelopeBody } from "../support/lambda-events.js";
import { uniqueName } from "../support/names.js";
import { kinesis, sns, sqs } from "../support/resources.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
let assembly: string;
let applied: AppliedStack;
let topology: Topology;

beforeAll(async () => {
  assembly = synthBrokerApp(uniqueName("CliTail"));
  const [stack] = readCloudAssembly(assembly);
  applied = await applyTemplate(stack as NonNullable<typeof stack>, {
    endpoint: process.env.AWS_ENDPOINT_URL,
  });
  topology = readTopology([stack as NonNullable<typeof stack>]);
}, 120_000);

/** `serverless-broker tail ARGS`, running until stopped. */
function startTail(...args: string[]) {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", `${root}/infra/cli/main.ts`, "tail", ...args, "--cdk-out", assembly],
    {
      env: { ...process.env, AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output = { stdout: "", stderr: "" };
  child.stdout?.on("data", (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output.stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { child, output, exited };
}

const ref = (logicalId: string) => applied.resources.get(logicalId)?.ref as string;

describe("serverless-broker tail", () => {
  it("prints a group's topic messages published after it started, and removes its queue and subscription on Ctrl-C", async () => {
    const tail = startTail("billing", "--json");
    const ready = await eventually(
      "tail to listen",
      async () => /temporary queue (\S+)/.exec(tail.output.stderr)?.[1],
    );
    const topicArn = ref(
      topology.topics.find((topic) => topic.groups.includes("billing"))?.logicalId as string,
    );
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: envelopeBody({ id: "tail-1", type: "order.placed", key: "customer-7" }),
        MessageAttributes: { type: { DataType: "String", StringValue: "order.placed" } },
      }),
    );
    const printed = await eventually("the message to be printed", async () =>
      tail.output.stdout.split("\n").find((line) => line.includes("tail-1")),
    );
    expect(JSON.parse(printed)).toMatchObject({ id: "tail-1", type: "order.placed", key: "customer-7" });

    tail.child.kill("SIGINT");
    expect(await tail.exited).toBe(0);
    expect(tail.output.stderr).toContain(`removed subscription`);
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: ready }))).rejects.toThrow();
    const { Subscriptions = [] } = await sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }),
    );
    expect(Subscriptions.map((subscription) => subscription.Endpoint ?? "")).not.toContainEqual(
      expect.stringContaining(ready),
    );
  }, 60_000);

  it("prints a stream group's records from LATEST", async () => {
    const tail = startTail("ledger");
    await eventually("tail to listen", async () => tail.output.stderr.includes("from LATEST") || undefined);
    const streamName = ref(topology.streams[0]?.logicalId as string);
    await kinesis.send(
      new PutRecordCommand({
        StreamName: streamName,
        PartitionKey: "account-3",
        Data: Buffer.from(envelopeBody({ id: "tail-2", type: "ledger.posted" })),
      }),
    );
    const printed = await eventually("the record to be printed", async () =>
      tail.output.stdout.split("\n").find((line) => line.includes("id=tail-2")),
    );
    expect(printed).toMatch(/ledger\.posted {2}key=account-3 {2}id=tail-2 {2}\d+ B {2}shardId-/);
    tail.child.kill("SIGTERM");
    expect(await tail.exited).toBe(0);
  }, 60_000);

  it("names what there is for an unknown target", async () => {
    const tail = startTail("nothing-here");
    expect(await tail.exited).toBe(1);
    expect(tail.output.stderr).toMatch(/No topic, stream or consumer group "nothing-here".*billing/s);
  });
});
