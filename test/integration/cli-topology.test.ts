/**
 * `serverless-broker topology`: the broker as a tree, read from a synthesized app (this package's
 * constructs, and a plain CDK app); every command's --help, and a bad flag's error.
 */
import { describe, expect, it } from "vitest";
import type { Topology } from "../../infra/ops/topology.js";
import { copyFixtureApp } from "../support/app-copy.js";
import { synthBrokerApp } from "../support/broker-app.js";
import { runCli } from "../support/cli.js";
import { uniqueName } from "../support/names.js";

describe("serverless-broker topology", () => {
  it("shows topics, streams and their consumer groups with queue, DLQ, function, filter and batch settings", async () => {
    const assembly = synthBrokerApp(uniqueName("CliTopology"));

    const json = await runCli(["topology", "--cdk-out", assembly, "--json"]);
    const text = await runCli(["topology", "--cdk-out", assembly]);

    expect(json.code, json.stderr).toBe(0);
    const topology = JSON.parse(json.stdout) as Topology;
    const group = (name: string) => topology.groups.find((entry) => entry.name === name);
    expect(group("billing")).toMatchObject({
      source: { kind: "queue", fifo: false, rawMessageDelivery: true, maxReceiveCount: expect.any(Number) },
      deadLetterQueue: expect.stringMatching(/DeadLetterQueue/),
      dedupTable: expect.stringMatching(/DedupTable/),
      batch: { reportBatchItemFailures: true },
    });
    expect(group("fulfillment")?.source).toMatchObject({ kind: "queue", fifo: true });
    expect(group("ledger")).toMatchObject({
      source: { kind: "stream" },
      deadLetterQueue: expect.any(String),
    });
    expect(topology.topics.find((topic) => topic.fifo)).toMatchObject({
      archiveRetentionDays: 3,
      groups: ["fulfillment"],
    });
    expect(topology.streams).toEqual([expect.objectContaining({ shardCount: 2, groups: ["ledger"] })]);
    expect(text.stdout).toMatch(
      /topic \S+ \(FIFO, archived 3 d\)\n│ {2}└─ group fulfillment → λ Fulfillment/,
    );
    expect(text.stdout).toMatch(/stream \S+ \(Kinesis, 2 shards, 168 h retention\)\n│ {2}└─ group ledger/);
  });

  it("reads a plain CDK app by synthesizing it from its cdk.json", async () => {
    const stackName = uniqueName("PlainTopology");
    const result = await runCli(["topology", "--app", copyFixtureApp("plain-cdk-app"), "--synth", "--json"], {
      PLAIN_APP_STACK: stackName,
    });

    expect(result.code, result.stderr).toBe(0);
    const topology = JSON.parse(result.stdout) as Topology;
    expect(topology.stacks).toEqual([stackName]);
    const writer = topology.groups.find((group) => group.function.startsWith("Writer"));
    expect(writer).toMatchObject({
      source: {
        kind: "queue",
        filterPolicy: { severity: ["high"] },
        rawMessageDelivery: true,
        maxReceiveCount: 2,
      },
      deadLetterQueue: expect.stringMatching(/^AlertsDlq/),
      batch: { batchSize: 5 },
    });
    expect(topology.streams[0]).toMatchObject({ shardCount: 3 });
    expect(topology.groups.find((group) => group.function.startsWith("AlwaysFails"))).toMatchObject({
      source: { kind: "stream" },
      deadLetterQueue: expect.stringMatching(/^ClickFailures/),
      batch: { maxRetryAttempts: 1 },
    });
  });

  it.each([["start"], ["cloud"], ["topology"], ["dlq"]])(
    "%s --help says what it does and exits 0",
    async (command) => {
      const result = await runCli([command, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`serverless-broker ${command}`);
    },
  );

  it("names a bad flag and where to look", async () => {
    const result = await runCli(["topology", "--stak", "X"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--stak'");
    expect(result.stderr).toContain("serverless-broker topology --help");
  });
});
