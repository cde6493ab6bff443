/**
 * `serverless-broker replay` on the local cloud: a stream with two groups, `ledger` guarded by
 * dynamoDbDedup() and `audit` by kinesisCheckpoints(), whose handlers record each run in a file. A first
 * replay up to the second record stands for the live consumer (the same guard path, unmarked); then
 * `--mode missing` runs only the records never completed, and `--mode all` runs every record once more
 * while the live dedup rows and checkpoints stay exactly as they were.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { MessageBroker } from "../../infra/constructs/message-broker.js";
import { type AppliedStack, applyTemplate } from "../../infra/local/apply/apply-template.js";
import { readCloudAssembly } from "../../infra/local/apply/cloud-assembly.js";
import { openBroker } from "../../infra/ops/broker.js";
import { type FunctionInvoker, replayStream } from "../../infra/ops/replay.js";
import { readTopology } from "../../infra/ops/topology.js";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { batchSummary } from "../support/batch-summary.js";
import { synthBrokerApp } from "../support/broker-app.js";
import { runCli } from "../support/cli.js";
import { envelopeBody } from "../support/lambda-events.js";
import { bundleHandler } from "../support/local-functions.js";
import { uniqueName } from "../support/names.js";
import { dynamodb, kinesis } from "../support/resources.js";

const runtime = new URL("../../lambdas/runtime/index.ts", import.meta.url).pathname;
const handlerSource = (guard: "dynamoDbDedup" | "kinesisCheckpoints") => `
import { appendFileSync } from "node:fs";
import { ${guard}, kinesisConsumer } from ${JSON.stringify(runtime)};
export const handler = kinesisConsumer({
  dedup: ${guard}(),
  handler: (message) => { appendFileSync(process.env.OUT, message.id + "\\n"); },
});
`;

const dir = mkdtempSync(join(tmpdir(), "cli-replay-"));
const runs = (group: string) =>
  readFileSync(join(dir, `${group}.runs`), "utf8")
    .split("\n")
    .filter(Boolean)
    .sort();
let assembly: string;
let applied: AppliedStack;
let sequences: string[];

const cli = (...args: string[]) =>
  runCli(["replay", ...args, "--cdk-out", assembly], { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL });

async function bundle(guard: "dynamoDbDedup" | "kinesisCheckpoints"): Promise<string> {
  const codeDir = mkdtempSync(join(dir, `${guard}-`));
  await bundleHandler(codeDir, handlerSource(guard));
  return codeDir;
}

/** The dedup table's rows, live ones and replay ones apart. */
async function rows(table: string) {
  const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
  const byKey = (items: typeof Items) =>
    Object.fromEntries(
      items
        .map((item) => [item[DEDUP_TABLE.partitionKey]?.S as string, item] as const)
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  const isReplay = (item: (typeof Items)[number]) =>
    String(item[DEDUP_TABLE.partitionKey]?.S).includes("#replay#");
  return { live: byKey(Items.filter((item) => !isReplay(item))), replay: byKey(Items.filter(isReplay)) };
}

beforeAll(async () => {
  const [dedupCode, checkpointCode] = await Promise.all([
    bundle("dynamoDbDedup"),
    bundle("kinesisCheckpoints"),
  ]);
  const app = new App({
    outdir: mkdtempSync(join(dir, "cdk.out-")),
    context: { "aws:cdk:enable-asset-metadata": true },
  });
  const stack = new Stack(app, uniqueName("CliReplay"));
  const consumer = (id: string, code: string, group: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_22_X,
      handler: "index.handler",
      code: Code.fromAsset(code),
      timeout: Duration.seconds(30),
      environment: { OUT: join(dir, `${group}.runs`) },
    });
  const stream = new MessageBroker(stack, "Broker").addStream("Ledger", { shardCount: 1 });
  stream.addConsumerGroup("ledger", { consumer: consumer("LedgerFn", dedupCode, "ledger") });
  stream.addConsumerGroup("audit", { consumer: consumer("AuditFn", checkpointCode, "audit") });
  assembly = app.synth().directory;
  const [source] = readCloudAssembly(assembly);
  applied = await applyTemplate(source as NonNullable<typeof source>, {
    endpoint: process.env.AWS_ENDPOINT_URL,
  });
  writeFileSync(join(dir, "ledger.runs"), "");
  writeFileSync(join(dir, "audit.runs"), "");
  const { Records = [] } = await kinesis.send(
    new PutRecordsCommand({
      StreamName: applied.resources.get(streamLogicalId())?.ref as string,
      Records: ["r1", "r2", "r3", "r4"].map((id) => ({
        PartitionKey: "k",
        Data: Buffer.from(envelopeBody({ id })),
      })),
    }),
  );
  sequences = Records.map((record) => record.SequenceNumber as string);
}, 120_000);

function streamLogicalId(): string {
  const entry = [...applied.resources].find(([, resource]) => resource.type === "AWS::Kinesis::Stream");
  return entry?.[0] as string;
}

const dedupTable = () =>
  [...applied.resources].find(([, resource]) => resource.type === "AWS::DynamoDB::Table")?.[1].ref as string;

describe("serverless-broker replay", () => {
  it.each(["ledger", "audit"])(
    "%s: missing runs only what the group never completed; all runs everything once more and leaves the live rows alone",
    async (group) => {
      const from = sequences[0] as string;
      // The live consumer completed r1 and r2 (the same, unmarked guard path).
      const live = await cli(
        streamLogicalId(),
        "--group",
        group,
        "--from-sequence",
        from,
        "--to-sequence",
        sequences[1] as string,
        "--yes",
        "--json",
      );
      expect(live.code, live.stderr).toBe(0);
      expect(runs(group)).toEqual(["r1", "r2"]);

      // --mode missing: r3 and r4 run, r1 and r2 are skipped by the group's own guard.
      const missing = await cli(
        streamLogicalId(),
        "--group",
        group,
        "--from-sequence",
        from,
        "--yes",
        "--json",
      );
      expect(missing.code, missing.stderr).toBe(0);
      expect(JSON.parse(missing.stdout)).toMatchObject({
        read: 4,
        sent: 2,
        skipped: 2,
        failed: 0,
        mode: "missing",
      });
      expect(runs(group)).toEqual(["r1", "r2", "r3", "r4"]);
      expect(missing.stderr).toMatch(/shardId-\d+: read 4 · sent 2 · skipped 2 · failed 0/);

      const before = await rows(dedupTable());
      // --mode all: every record once more; the live rows (dedup claims, the checkpoint) are unchanged.
      const replayAll = (...flags: string[]) =>
        cli(
          streamLogicalId(),
          "--group",
          group,
          "--from-sequence",
          from,
          "--mode",
          "all",
          ...flags,
          "--yes",
          "--json",
        );
      const all = await replayAll();
      expect(all.code, all.stderr).toBe(0);
      const report = JSON.parse(all.stdout);
      expect(report).toMatchObject({ read: 4, sent: 4, skipped: 0, failed: 0, mode: "all" });
      expect(report.lastDelivered).toEqual({ "shardId-000000000000": sequences[3] });
      expect(runs(group)).toEqual(["r1", "r1", "r2", "r2", "r3", "r3", "r4", "r4"]);
      const after = await rows(dedupTable());
      expect(after.live).toEqual(before.live);
      const ownReplayRows = Object.keys(after.replay).filter((key) =>
        key.includes(`${group}#replay#${report.replayId}`),
      );
      expect(ownReplayRows.length).toBeGreaterThan(0);

      // Resuming the same replay (--replay-id) skips what it completed.
      const resumed = await replayAll("--replay-id", report.replayId);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ sent: 0, skipped: 4 });
      expect(runs(group)).toHaveLength(8);
    },
    120_000,
  );

  it("names the stream a group reads when given another", async () => {
    const result = await cli("Nothing", "--group", "ledger", "--from", "2026-01-01T00:00:00Z", "--yes");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("reads the stream");
  });

  it("says the local cloud keeps no SNS archive to replay a FIFO topic from", async () => {
    const brokerApp = synthBrokerApp(uniqueName("CliReplayTopic"));
    const topology = readTopology(readCloudAssembly(brokerApp));
    const fifo = topology.topics.find((topic) => topic.fifo && topic.archiveRetentionDays);
    const result = await runCli(
      [
        "replay",
        fifo?.logicalId as string,
        "--group",
        "fulfillment",
        "--from",
        "2026-12-05T00:00:00Z",
        "--yes",
        "--cdk-out",
        brokerApp,
      ],
      { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("The local cloud's SNS emulator keeps no message archive");
  });

  it("retries a batch from its first failed record as Lambda does, and stops the shard when it keeps failing", async () => {
    const broker = await openBroker({
      assemblyDir: assembly,
      endpoint: process.env.AWS_ENDPOINT_URL as string,
    });
    const delivered: string[][] = [];
    // r2 fails on its first delivery (partial batch response); r4 always fails.
    let r2Failed = false;
    const invoker: FunctionInvoker = {
      invoke: async (event) => {
        const records = (event as { Records: Array<{ kinesis: { sequenceNumber: string } }> }).Records;
        const ids = records.map((record) => `r${sequences.indexOf(record.kinesis.sequenceNumber) + 1}`);
        delivered.push(ids);
        const failing = ids.find((id) => (id === "r2" && !r2Failed) || id === "r4");
        if (failing === "r2") r2Failed = true;
        const failed = failing ? sequences[Number(failing.slice(1)) - 1] : undefined;
        return { ok: true, response: { batchItemFailures: failed ? [{ itemIdentifier: failed }] : [] } };
      },
      close: async () => {},
    };
    try {
      const report = await replayStream(broker, {
        stream: streamLogicalId(),
        group: "ledger",
        from: { sequence: sequences[0] as string },
        mode: "all",
        invoker,
        maxRetries: 2,
      });
      // One batch of 4 (the mapping's default batch size, 100), again from r2, then r4 three times in all.
      expect(delivered).toEqual([["r1", "r2", "r3", "r4"], ["r2", "r3", "r4"], ["r4"]]);
      expect(report).toMatchObject({
        read: 4,
        failed: 1,
        lastDelivered: { "shardId-000000000000": sequences[2] },
      });
      expect(report.stopped).toEqual([
        expect.objectContaining({ sequenceNumber: sequences[3], why: expect.stringContaining("reported") }),
      ]);
    } finally {
      broker.close();
    }
  });

  it("counts a skipped record once when its batch comes again after a function error", async () => {
    const broker = await openBroker({
      assemblyDir: assembly,
      endpoint: process.env.AWS_ENDPOINT_URL as string,
    });
    // The function skips all four (its guard completed them) but times out once before answering.
    let invocations = 0;
    const summary = (skipped: number) => batchSummary("ledger", { source: "kinesis", received: 4, skipped });
    const invoker: FunctionInvoker = {
      invoke: async () =>
        ++invocations === 1
          ? { ok: false, error: "Task timed out", summary: summary(4) }
          : { ok: true, response: { batchItemFailures: [] }, summary: summary(4) },
      close: async () => {},
    };
    try {
      const report = await replayStream(broker, {
        stream: streamLogicalId(),
        group: "ledger",
        from: { sequence: sequences[0] as string },
        mode: "missing",
        invoker,
      });
      expect(invocations).toBe(2);
      expect(report).toMatchObject({ read: 4, sent: 0, skipped: 4, failed: 0 });
    } finally {
      broker.close();
    }
  });

  it("reads from an arrival time (AT_TIMESTAMP), refuses one in the future, and a dry run invokes nothing", async () => {
    const before = runs("ledger").length;
    const dry = await cli(
      streamLogicalId(),
      "--group",
      "ledger",
      "--from",
      "2000-01-01T00:00:00Z",
      "--dry-run",
      "--json",
    );
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, read: 4, sent: 4 });
    const later = await cli(
      streamLogicalId(),
      "--group",
      "ledger",
      "--from",
      new Date(Date.now() + 60_000).toISOString(),
      "--dry-run",
      "--json",
    );
    expect(later.code).toBe(1);
    expect(later.stderr).toContain("is in the future");
    expect(runs("ledger")).toHaveLength(before);
  });
  it("ends a batch before Lambda's 6 MB invocation payload, as the event source does", async () => {
    // Eight records of 900 KB (Kinesis takes up to 1 MiB a record, 5 MiB a PutRecords): 9.6 MB as base64.
    const big = Array.from({ length: 8 }, (_, index) => ({
      PartitionKey: "big",
      Data: Buffer.from(envelopeBody({ id: `big${index}`, payload: { pad: "x".repeat(900_000) } })),
    }));
    const bigSequences: string[] = [];
    for (const part of [big.slice(0, 4), big.slice(4)]) {
      const { Records = [] } = await kinesis.send(
        new PutRecordsCommand({
          StreamName: applied.resources.get(streamLogicalId())?.ref as string,
          Records: part,
        }),
      );
      bigSequences.push(...Records.map((record) => record.SequenceNumber as string));
    }
    const broker = await openBroker({
      assemblyDir: assembly,
      endpoint: process.env.AWS_ENDPOINT_URL as string,
    });
    const payloads: Array<{ records: number; bytes: number }> = [];
    const invoker: FunctionInvoker = {
      invoke: async (event) => {
        payloads.push({
          records: (event as { Records: unknown[] }).Records.length,
          bytes: Buffer.byteLength(JSON.stringify(event)),
        });
        return { ok: true, response: { batchItemFailures: [] } };
      },
      close: async () => {},
    };
    try {
      const report = await replayStream(broker, {
        stream: streamLogicalId(),
        group: "ledger",
        from: { sequence: bigSequences[0] as string },
        to: { sequence: bigSequences[7] as string },
        mode: "all",
        invoker,
      });
      expect(report).toMatchObject({ read: 8, sent: 8, failed: 0 });
      expect(payloads.length).toBeGreaterThan(1);
      expect(payloads.reduce((sum, payload) => sum + payload.records, 0)).toBe(8);
      for (const payload of payloads) expect(payload.bytes).toBeLessThan(6 * 1024 * 1024);
    } finally {
      broker.close();
    }
  });
});
