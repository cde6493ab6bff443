/**
 * The template applier and the in-process runner on an app built from plain aws-cdk-lib constructs:
 * resources created as the template says, what cannot be emulated reported by logical id, functions run
 * in-process, event sources played with Lambda's semantics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DescribeTableCommand, DescribeTimeToLiveCommand, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { DescribeStreamSummaryCommand, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
} from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppliedStack, type ApplyEvent, applyTemplate } from "../../infra/local/apply/apply-template.js";
import { readCloudAssembly } from "../../infra/local/apply/cloud-assembly.js";
import { synthesize } from "../../infra/local/apply/synth.js";
import { LocalRuntime, type RuntimeEvent } from "../../infra/local/runner/local-runtime.js";
import { eventually } from "../support/eventually.js";
import { uniqueName } from "../support/names.js";
import { drain, dynamodb, kinesis, sns, sqs } from "../support/resources.js";

const fixture = fileURLToPath(new URL("../fixtures/plain-cdk-app", import.meta.url));
const applyEvents: ApplyEvent[] = [];
const runtimeEvents: RuntimeEvent[] = [];
let applied: AppliedStack;
let runtime: LocalRuntime;
let assemblyDir: string;

beforeAll(async () => {
  process.env.PLAIN_APP_STACK = uniqueName("PlainApp");
  assemblyDir = await synthesize({
    projectDir: fixture,
    outdir: mkdtempSync(join(fixture, "cdk.out-")),
  });
  const [stack] = readCloudAssembly(assemblyDir);
  applied = await applyTemplate(stack as NonNullable<typeof stack>, {
    endpoint: process.env.AWS_ENDPOINT_URL,
    onEvent: (event) => applyEvents.push(event),
  });
  runtime = await LocalRuntime.start(applied, {
    endpoint: process.env.AWS_ENDPOINT_URL as string,
    environment: {
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL as string,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    },
    logDir: mkdtempSync(join(tmpdir(), "runner-logs-")),
    onEvent: (event) => runtimeEvents.push(event),
  });
});

afterAll(async () => {
  await runtime?.stop();
  if (assemblyDir) rmSync(assemblyDir, { recursive: true, force: true });
});

/** The resource CDK named `<id><8 hex digits>`. */
const resource = (id: string) => {
  const entry = [...applied.resources].find(([logicalId]) =>
    new RegExp(`^${id}[0-9A-F]{8}$`).test(logicalId),
  );
  if (!entry) throw new Error(`no resource ${id}`);
  return entry[1];
};

describe("applying a plain CDK app's template", () => {
  it("creates a FIFO queue with its settings and redrive to a FIFO dead-letter queue", async () => {
    const queue = resource("Ordered");
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.ref, AttributeNames: ["All"] }),
    );

    expect(queue.ref).toMatch(/\.fifo$/);
    expect(Attributes).toMatchObject({
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
      VisibilityTimeout: "20",
    });
    expect(JSON.parse(Attributes?.RedrivePolicy ?? "{}")).toEqual({
      deadLetterTargetArn: resource("OrderedDlq").attributes.Arn,
      maxReceiveCount: 3,
    });
  });

  it("subscribes the queue to the topic with raw delivery and the filter policy", async () => {
    const { Subscriptions = [] } = await sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: applied.outputs.TopicArn }),
    );
    expect(Subscriptions).toHaveLength(1);
    const { Attributes } = await sns.send(
      new GetSubscriptionAttributesCommand({ SubscriptionArn: Subscriptions[0]?.SubscriptionArn }),
    );

    expect(Attributes?.RawMessageDelivery).toBe("true");
    expect(JSON.parse(Attributes?.FilterPolicy ?? "{}")).toEqual({ severity: ["high"] });
  });

  it("creates the stream with its shards, and the table with its index, TTL and stream", async () => {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: applied.outputs.StreamName }),
    );
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: applied.outputs.TableName }));
    const { TimeToLiveDescription } = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: applied.outputs.TableName }),
    );

    expect(StreamDescriptionSummary?.OpenShardCount).toBe(3);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(["byKind"]);
    expect(Table?.StreamSpecification).toMatchObject({
      StreamEnabled: true,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    });
    expect(TimeToLiveDescription).toMatchObject({ AttributeName: "ttl", TimeToLiveStatus: "ENABLED" });
  });

  it("skips what it cannot emulate, naming the logical id and why", () => {
    const skipped = (prefix: string) =>
      applyEvents.find((event) => event.kind === "skipped" && event.logicalId.startsWith(prefix));

    expect(skipped("Uploads")).toMatchObject({
      type: "AWS::S3::Bucket",
      reason: expect.stringContaining("is not a resource type the local cloud emulates"),
    });
    expect(skipped("Imported")).toMatchObject({
      reason:
        "its properties cannot be resolved: Fn::ImportValue is not supported by the local cloud; fix the template, or use LocalStack (AWS_ENDPOINT_URL) for this resource",
    });
    expect(skipped("WriterServiceRole")).toMatchObject({
      reason: "IAM is not enforced by the local cloud: every call is allowed",
    });
  });
});

describe("running its functions and event sources", () => {
  it("reports a function that throws at init, and one whose handler does not exist, and keeps their event sources polling", () => {
    const initFailed = (prefix: string) =>
      runtimeEvents.find(
        (event) => event.kind === "function-init-failed" && event.logicalId.startsWith(prefix),
      );

    expect(initFailed("BrokenInit")).toMatchObject({
      reason: expect.stringMatching(/failed to initialise: Error: boom at init.*event sources keep polling/),
    });
    expect(initFailed("MissingHandler")).toMatchObject({
      reason: expect.stringMatching(/Runtime.HandlerNotFound: .*exports no function named "handler"/),
    });
    expect(runtimeEvents.filter((event) => event.kind === "event-source-skipped")).toEqual([]);
    expect(
      runtime.pollers.get([...runtime.pollers.keys()].find((id) => id.startsWith("BrokenInit")) ?? ""),
    ).toBeDefined();
    expect([...runtime.functions.keys()].map((id) => id.replace(/[0-9A-F]{8}$/, "")).sort()).toEqual([
      "AlwaysFails",
      "BrokenInit",
      "MissingHandler",
      "Writer",
    ]);
  });

  it("delivers what passes the filter to the function, deletes successes, and leaves reported failures to the queue's redrive", async () => {
    const publish = (severity: string, body: string) =>
      sns.send(
        new PublishCommand({
          TopicArn: applied.outputs.TopicArn,
          Message: body,
          MessageAttributes: { severity: { DataType: "String", StringValue: severity } },
        }),
      );
    await publish("high", "alert-1");
    await publish("low", "ignored-1");
    await publish("high", "fail-me");

    const written = await eventually("alert-1 written by the function", async () => {
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: applied.outputs.TableName, Key: { id: { S: "alert-1" } } }),
      );
      return Item;
    });
    expect(written.kind).toEqual({ S: "alert" });
    // Reported failed on each of its 2 receives (visibility timeout 4 s), then moved by the redrive policy.
    const [deadLetter] = await drain(applied.outputs.AlertsDlqUrl as string, 1, 30_000);
    expect(deadLetter?.Body).toBe("fail-me");
    const { Item: ignored } = await dynamodb.send(
      new GetItemCommand({ TableName: applied.outputs.TableName, Key: { id: { S: "ignored-1" } } }),
    );
    expect(ignored).toBeUndefined();
  });

  it("gives up on a Kinesis batch after its retries and sends AWS-shaped metadata to the on-failure queue", async () => {
    const { Records = [] } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: applied.outputs.StreamName,
        Records: [1, 2, 3].map((index) => ({ PartitionKey: "page-1", Data: Buffer.from(`click ${index}`) })),
      }),
    );
    const [failure] = await drain(applied.outputs.ClickFailuresUrl as string, 1, 30_000);
    const body = JSON.parse(failure?.Body ?? "{}");

    expect(body).toMatchObject({
      requestContext: {
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: 2,
        functionArn: expect.stringContaining(":function:"),
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      KinesisBatchInfo: {
        shardId: Records[0]?.ShardId,
        startSequenceNumber: Records[0]?.SequenceNumber,
        endSequenceNumber: Records[2]?.SequenceNumber,
        batchSize: 3,
        streamArn: resource("Clicks").attributes.Arn,
      },
    });
  });
});
