/**
 * A CDK app written as public samples are, run through startLocalRun without edits: its functions run as
 * Lambda runs them (the SDK the runtime provides, v2 on nodejs16.x, callbacks, SNS → Lambda, execution
 * environments, tumbling windows, placeholders for what is not emulated, AWS-shaped records). The app is
 * copied outside this repository, so that nothing resolves `@aws-sdk/*` or `aws-sdk` for it but the runner.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GetItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import { PublishCommand } from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApplyEvent } from "../../infra/local/apply/apply-template.js";
import { type LocalRun, startLocalRun } from "../../infra/local/local-run.js";
import type { RuntimeEvent } from "../../infra/local/runner/local-runtime.js";
import { eventually } from "../support/eventually.js";
import { uniqueName } from "../support/names.js";
import { drain, dynamodb, kinesis, sns, sqs } from "../support/resources.js";

const fixture = fileURLToPath(new URL("../fixtures/lambda-fidelity-app", import.meta.url));
const repoModules = fileURLToPath(new URL("../../node_modules", import.meta.url));
const applyEvents: Array<ApplyEvent | { kind: "stack"; stackName: string }> = [];
const runtimeEvents: RuntimeEvent[] = [];
let projectDir: string;
let run: LocalRun;

beforeAll(async () => {
  // The app's own node_modules hold the CDK and the bundler, as a CDK project's do; no AWS SDK.
  projectDir = mkdtempSync(join(tmpdir(), "fidelity-app-"));
  cpSync(fixture, projectDir, { recursive: true });
  mkdirSync(join(projectDir, "node_modules/.bin"), { recursive: true });
  for (const name of ["aws-cdk-lib", "constructs", "tsx", "esbuild"])
    symlinkSync(join(repoModules, name), join(projectDir, "node_modules", name));
  symlinkSync("../esbuild/bin/esbuild", join(projectDir, "node_modules/.bin/esbuild"));
  process.env.FIDELITY_APP_STACK = uniqueName("Fidelity");
  run = await startLocalRun({
    projectDir,
    ...(process.env.AWS_ENDPOINT_URL ? { endpoint: process.env.AWS_ENDPOINT_URL } : {}),
    onApply: (event) => applyEvents.push(event),
    onRuntime: (event) => runtimeEvents.push(event),
  });
}, 300_000);

afterAll(async () => {
  await run?.stop();
  if (projectDir) rmSync(projectDir, { recursive: true, force: true });
});

const item = (id: string) =>
  eventually(
    `item ${id}`,
    async () =>
      (await dynamodb.send(new GetItemCommand({ TableName: run.outputs.TableName, Key: { id: { S: id } } })))
        .Item,
    // Generous: a loaded machine is slower, and the test waits on the condition, not on a clock.
    { timeoutMs: 120_000 },
  );
/** Sends `body` to a queue whose function counts deliveries in `${prefix}#${body}`; what came of it. */
async function sendOne(
  queueUrl: string | undefined,
  dlqUrl: string | undefined,
  prefix: string,
  body: string,
) {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  const processed = await item(`${prefix}#${body}`);
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: dlqUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    deliveries: processed.deliveries?.N,
    deadLetters: {
      visible: Attributes.ApproximateNumberOfMessages,
      inFlight: Attributes.ApproximateNumberOfMessagesNotVisible,
    },
  };
}
const hostOf = (prefix: string) =>
  run.runtimes.flatMap((runtime) => [...runtime.functions]).find(([id]) => id.startsWith(prefix))?.[1];
const eventOf = (kind: RuntimeEvent["kind"], prefix: string) =>
  runtimeEvents.find((event) => event.kind === kind && event.logicalId.startsWith(prefix));

describe("a sample-style CDK app run locally without edits", { timeout: 240_000 }, () => {
  it("has no AWS SDK of its own to resolve", () => {
    expect(existsSync(join(projectDir, "node_modules/@aws-sdk"))).toBe(false);
    expect(existsSync(join(projectDir, "node_modules/aws-sdk"))).toBe(false);
  });

  it("runs a bundle that leaves @aws-sdk external, with the S3 bucket it references resolved to placeholders (items 1, 5)", async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: run.outputs.OrdersUrl,
        MessageBody: "o-1",
        MessageAttributes: { channel: { DataType: "String", StringValue: "web" } },
      }),
    );
    const written = await item("order#o-1");

    expect(written.bucket?.S).toBe(run.outputs.BucketName);
    expect(run.outputs.BucketArn).toBe(`arn:aws:s3:::${run.outputs.BucketName}`);
    // Item 10: the record as Lambda writes it.
    const record = JSON.parse(written.record?.S ?? "{}");
    expect(record.messageAttributes).toEqual({
      channel: { stringValue: "web", stringListValues: [], binaryListValues: [], dataType: "String" },
    });
    expect(record.md5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
  });

  it("delivers SNS notifications to a nodejs16.x callback handler whose v2 SDK reaches the local cloud (items 2, 3, 4)", async () => {
    await sns.send(
      new PublishCommand({
        TopicArn: run.outputs.TopicArn,
        Message: "n-1",
        MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" } },
      }),
    );
    const written = await item("sns#n-1");
    const event = JSON.parse(written.event?.S ?? "{}");

    expect(event.Records).toHaveLength(1);
    expect(event.Records[0]).toMatchObject({
      EventSource: "aws:sns",
      EventVersion: "1.0",
      EventSubscriptionArn: expect.stringContaining(run.outputs.TopicArn as string),
      Sns: {
        Type: "Notification",
        TopicArn: run.outputs.TopicArn,
        Message: "n-1",
        Subject: null,
        MessageAttributes: { kind: { Type: "String", Value: "greeting" } },
      },
    });
    // v2's Kinesis and SQS calls went to the local cloud too.
    const [audit] = await drain(run.outputs.AuditQueueUrl as string, 1, 120_000);
    expect(audit?.Body).toBe("n-1");
    const { Shards = [] } = await kinesis.send(
      new ListShardsCommand({ StreamName: run.outputs.AuditStreamName }),
    );
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: run.outputs.AuditStreamName,
        ShardId: Shards[0]?.ShardId,
        ShardIteratorType: "TRIM_HORIZON",
      }),
    );
    const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    expect(Records.map((record) => Buffer.from(record.Data ?? []).toString())).toContain("n-1");
  });

  it("retries a failed SNS invocation as an asynchronous one and then sends the event to the function's DLQ (item 4)", async () => {
    await sns.send(new PublishCommand({ TopicArn: run.outputs.TopicArn, Message: "fail-me" }));
    const [deadLetter] = await drain(run.outputs.NotifierDlqUrl as string, 1, 120_000);

    expect(JSON.parse(deadLetter?.Body ?? "{}").Records[0].Sns.Message).toBe("fail-me");
    const notifier = hostOf("LegacyNotifier");
    // retryAttempts 1: at least the first try and one retry failed (a loaded machine may time out more).
    expect(notifier?.stats.errors).toBeGreaterThanOrEqual(2);
  });

  it("waits for a callback called after asynchronous work (item 3)", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: run.outputs.CallbacksUrl, MessageBody: "c-1" }));
    await item("callback#c-1");
    const host = hostOf("CallbackWriter");
    expect(host?.stats).toMatchObject({ errors: 0, crashes: 0 });
  });

  it("fails a callback handler on nodejs24.x at init as Lambda does, and v2 on nodejs20.x naming the fix (items 2, 3)", () => {
    expect(eventOf("function-init-failed", "ModernCallback")).toMatchObject({
      reason: expect.stringContaining(
        "Runtime.CallbackHandlerDeprecated: ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24",
      ),
    });
    expect(eventOf("function-init-failed", "V2OnNode20")).toMatchObject({
      reason: expect.stringMatching(
        /V2OnNode20\w+ \(nodejs20\.x\) requires aws-sdk .*which the nodejs20\.x runtime does not provide.*bundle it with the function, or move to the v3 clients/,
      ),
    });
  });

  it("plays a tumbling window: state carried between invocations, a final invocation at the window's end (item 7)", async () => {
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: run.outputs.ClicksName,
        Records: [1, 2, 3, 4, 5].map((index) => ({
          PartitionKey: "page",
          Data: Buffer.from(`click ${index}`),
        })),
      }),
    );
    const windows = await eventually(
      "a window total",
      async () => {
        const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName: run.outputs.TableName }));
        const found = Items.filter((entry) => entry.id?.S?.startsWith("window#"));
        const total = found.reduce((sum, entry) => sum + Number(entry.count?.N), 0);
        return total >= 5 ? found : undefined;
      },
      { timeoutMs: 120_000 },
    );
    for (const window of windows) expect(window.eventSourceARN?.S).toBe(run.outputs.ClicksArn);
    // Batches of 2: five records take at least three invocations in all, counted through the state.
    expect(windows.reduce((sum, window) => sum + Number(window.invocations?.N), 0)).toBeGreaterThanOrEqual(3);
  });

  it("runs each concurrent invocation in its own environment, at most the reserved concurrency, and a timeout ends only its own (item 6)", async () => {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: run.outputs.ParallelUrl,
        Entries: ["hang", "p-1", "p-2", "p-3", "p-4", "p-5"].map((body, index) => ({
          Id: String(index),
          MessageBody: body,
        })),
      }),
    );
    const environments = new Set<string>();
    for (const body of ["p-1", "p-2", "p-3", "p-4", "p-5"])
      environments.add((await item(`parallel#${body}`)).environment?.S as string);
    const host = hostOf("ParallelWorker");

    expect(host?.environmentCount).toBeLessThanOrEqual(2);
    expect(environments.size).toBeGreaterThanOrEqual(1);
    await eventually(
      "the hanging invocation to time out",
      async () => ((host?.stats.timeouts ?? 0) > 0 ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
    // Two environments served the five others while one hung, or one served them all after it: never more than two.
    expect(host?.stats.environments).toBeGreaterThanOrEqual(2);
  });

  it("keeps polling for a function that fails at init: its messages go through the retries to the DLQ (item 6)", async () => {
    expect(eventOf("function-init-failed", "BrokenInit")).toBeDefined();
    await sqs.send(new SendMessageCommand({ QueueUrl: run.outputs.FlakyUrl, MessageBody: "f-1" }));
    const [deadLetter] = await drain(run.outputs.FlakyDlqUrl as string, 1, 120_000);

    expect(deadLetter?.Body).toBe("f-1");
  });

  it("keeps a message invisible while a slow invocation runs near its queue's visibility timeout (item 8)", async () => {
    const { deliveries, deadLetters } = await sendOne(
      run.outputs.SlowUrl,
      run.outputs.SlowDlqUrl,
      "slow",
      "s-1",
    );

    expect(deliveries).toBe("1");
    expect(deadLetters).toEqual({ visible: "0", inFlight: "0" });
  });

  it("holds a message gathered over a batching window, its queue keeping its visibility timeout (item 8b)", async () => {
    const { Attributes: queue } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: run.outputs.GatheredUrl,
        AttributeNames: ["VisibilityTimeout"],
      }),
    );
    // Not lowered: a stalled machine holds a gathered message as long as AWS would.
    expect(queue?.VisibilityTimeout).toBe("60");

    const { deliveries, deadLetters } = await sendOne(
      run.outputs.GatheredUrl,
      run.outputs.GatheredDlqUrl,
      "gathered",
      "g-1",
    );

    expect(deliveries).toBe("1");
    expect(deadLetters).toEqual({ visible: "0", inFlight: "0" });
  });

  it("keeps a queue's visibility timeout, SQS's 30 s default too, and retries failed messages after 5 s (item 8)", async () => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: run.outputs.OrdersUrl,
        AttributeNames: ["VisibilityTimeout"],
      }),
    );
    expect(Attributes?.VisibilityTimeout).toBe("30");
    expect(applyEvents).toContainEqual(
      expect.objectContaining({
        kind: "created",
        logicalId: expect.stringMatching(/^Orders[0-9A-F]{8}$/),
        detail: expect.stringContaining(
          "visibility 30 s (the default), failed messages retried after 5 s locally",
        ),
      }),
    );
  });

  it("reports a Python function once, by logical id and runtime, with what still works (item 9)", () => {
    const reports = runtimeEvents.filter((event) => "logicalId" in event && /Python/.test(event.logicalId));

    expect(reports).toEqual([
      {
        kind: "function-failed",
        logicalId: expect.stringMatching(/^PythonWorker/),
        reason: expect.stringMatching(
          /^runtime python3\.12 is not run locally, only Node\.js functions are; its queues, streams and tables exist and can be inspected, but its 1 event source\(s\) deliver nothing$/,
        ),
      },
    ]);
  });

  it("does not report CDK's deployment-time handlers as failures (item 5)", () => {
    const failures = runtimeEvents.filter(
      (event) =>
        (event.kind === "function-failed" || event.kind === "function-init-failed") &&
        /BucketNotificationsHandler|CustomS3AutoDeleteObjects/.test(event.logicalId),
    );
    expect(failures).toEqual([]);
    expect(
      runtimeEvents.filter((event) => event.kind === "function-skipped").map((event) => event.logicalId),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BucketNotificationsHandler/),
        expect.stringMatching(/^CustomS3AutoDeleteObjectsCustomResourceProviderHandler/),
      ]),
    );
  });

  it("names the configured region in DynamoDB ARNs, prints no poll error for a table stream, and reports properties it cannot honour (item 10)", () => {
    const region = run.stacks[0]?.region;
    expect(run.outputs.TableArn).toMatch(new RegExp(`^arn:aws:dynamodb:${region}:`));
    expect(run.outputs.TableStreamArn).toMatch(new RegExp(`^arn:aws:dynamodb:${region}:`));
    expect(
      runtimeEvents.filter((event) => event.kind === "poll-error" && /TrimmedDataAccess/.test(event.error)),
    ).toEqual([]);
    expect(applyEvents).toContainEqual(
      expect.objectContaining({
        kind: "created",
        logicalId: "Archived",
        detail: expect.stringContaining("not honoured locally: ArchivePolicy"),
      }),
    );
  });

  it("gives two stacks' functions of the same logical id a log file each (item 10)", () => {
    const logFiles = runtimeEvents
      .filter((event) => event.kind === "function-started" && event.logicalId.startsWith("Echo"))
      .map((event) => (event as { logFile: string }).logFile);

    expect(logFiles).toHaveLength(2);
    expect(new Set(logFiles).size).toBe(2);
  });
});
