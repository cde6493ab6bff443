/**
 * `serverless-broker dlq list / show / redrive` on the local cloud: a broker built with this package's
 * constructs is applied, the runtime's dead-letter sink fills a group's DLQ, and the CLI (run as a user
 * runs it) inspects and redrives it: to the group's own queue, skipping what the dedup table shows
 * completed, refusing a second redrive of a message that failed again unless --force.
 */
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { type AppliedStack, applyTemplate } from "../../infra/local/apply/apply-template.js";
import { readCloudAssembly } from "../../infra/local/apply/cloud-assembly.js";
import { REDRIVE_ATTRIBUTE } from "../../infra/ops/dead-letters.js";
import { readTopology } from "../../infra/ops/topology.js";
import { DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { SqsDeadLetterSink } from "../../lambdas/runtime/consumers/dead-letter.js";
import { synthBrokerApp } from "../support/broker-app.js";
import { runCli } from "../support/cli.js";
import { uniqueName } from "../support/names.js";
import { drain, dynamodb, receive, sqs } from "../support/resources.js";

let assembly: string;
let applied: AppliedStack;
let queueUrl: string;
let dlqUrl: string;
let dedupTable: string;
let sink: SqsDeadLetterSink;

const cli = (...args: string[]) =>
  runCli(["dlq", ...args, "--cdk-out", assembly], { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL });

const deadLetter = (
  messageId: string,
  reason: "schema-mismatch" | "rejected-by-handler" = "schema-mismatch",
) =>
  sink.send({
    body: JSON.stringify({ id: messageId, type: "order.placed", payload: { n: 1 } }),
    reason,
    detail: `${messageId} failed`,
    consumerGroup: "billing",
    messageId,
    source: "arn:aws:sqs:us-east-1:000000000000:billing",
    sourceRecordId: `sqs-${messageId}`,
    attempt: 3,
  });

beforeAll(async () => {
  assembly = synthBrokerApp(uniqueName("CliDlq"));
  const [stack] = readCloudAssembly(assembly);
  applied = await applyTemplate(stack as NonNullable<typeof stack>, {
    endpoint: process.env.AWS_ENDPOINT_URL,
  });
  const billing = readTopology([stack as NonNullable<typeof stack>]).groups.find(
    (group) => group.name === "billing",
  );
  if (billing?.source.kind !== "queue" || !billing.deadLetterQueue || !billing.dedupTable)
    throw new Error("no billing group");
  const ref = (logicalId: string) => applied.resources.get(logicalId)?.ref as string;
  queueUrl = ref(billing.source.queue);
  dlqUrl = ref(billing.deadLetterQueue);
  dedupTable = ref(billing.dedupTable);
  sink = new SqsDeadLetterSink(dlqUrl, sqs);
});

describe("serverless-broker dlq", () => {
  it("lists, shows and redrives dead letters, skipping completed ids and, the second time, messages that failed again", async () => {
    // Given three dead letters, of which m2 has been processed meanwhile (the dedup table says so).
    await Promise.all(["m1", "m2", "m3"].map((id) => deadLetter(id)));
    await deadLetter("m4", "rejected-by-handler");
    await dynamodb.send(
      new PutItemCommand({
        TableName: dedupTable,
        Item: {
          [DEDUP_TABLE.partitionKey]: { S: "billing#m2" },
          status: { S: "COMPLETED" },
          fingerprint: { S: "f" },
          [DEDUP_TABLE.timeToLiveAttribute]: { N: String(Math.floor(Date.now() / 1000) + 3600) },
        },
      }),
    );

    const list = await cli("list", "--json");
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({
        group: "billing",
        depth: 4,
        byReason: { "schema-mismatch": 3, "rejected-by-handler": 1 },
      }),
    );

    const show = await cli("show", "billing", "--reason", "rejected-by-handler", "--json");
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toEqual([
      expect.objectContaining({
        messageId: "m4",
        reason: "rejected-by-handler",
        detail: "m4 failed",
        sourceRecordId: "sqs-m4",
        attempts: 3, // the source's attempt it failed on, not the DLQ's own receive count
      }),
    ]);

    // A dry run changes nothing.
    const dry = await cli("redrive", "billing", "--reason", "schema-mismatch", "--dry-run", "--json");
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, sent: 2, skipped: 1 });
    expect(await receive(queueUrl, { waitSeconds: 0 })).toEqual([]);

    // When redriven (schema-mismatch only).
    const first = await cli("redrive", "billing", "--reason", "schema-mismatch", "--yes", "--json");

    // Then m1 and m3 are back on the group's queue, marked; m2 (completed) and m4 (another reason) stay.
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ sent: 2, skipped: 1, failed: 0, to: queueUrl });
    const copies = await drain(queueUrl, 2);
    expect(copies.map((copy) => JSON.parse(copy.Body as string).id).sort()).toEqual(["m1", "m3"]);
    for (const copy of copies) expect(copy.MessageAttributes?.[REDRIVE_ATTRIBUTE]?.StringValue).toBe("1");
    const left = JSON.parse((await cli("show", "billing", "--json")).stdout) as Array<{ messageId: string }>;
    expect(left.map((message) => message.messageId).sort()).toEqual(["m2", "m4"]);

    // Given m1 fails again and is dead-lettered anew by the runtime (without the redrive attribute).
    await deadLetter("m1");

    // Then the loop guard refuses it, until --force.
    const again = JSON.parse(
      (await cli("redrive", "billing", "--reason", "schema-mismatch", "--yes", "--json")).stdout,
    );
    expect(again).toMatchObject({ sent: 0, skipped: 2 });
    expect(again.outcomes).toContainEqual(
      expect.objectContaining({ messageId: "m1", why: expect.stringMatching(/redriven 1 time/) }),
    );
    const forced = JSON.parse(
      (await cli("redrive", "billing", "--reason", "schema-mismatch", "--force", "--yes", "--json")).stdout,
    );
    expect(forced).toMatchObject({ sent: 1, skipped: 1 });
    const [copy] = await drain(queueUrl, 1);
    expect(copy?.MessageAttributes?.[REDRIVE_ATTRIBUTE]?.StringValue).toBe("2");
  });

  it("asks before redriving, and without a terminal wants --yes", async () => {
    const result = await cli("redrive", "billing");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("pass --yes");
  });

  it("refuses to redrive a stream group, which has no queue of its own, and says where its sequence numbers are", async () => {
    const result = await cli("redrive", "ledger", "--yes");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/reads the Kinesis stream .*serverless-broker dlq show ledger/s);
  });

  it("names the groups there are for an unknown one", async () => {
    const result = await cli("show", "bililng");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No consumer group "bililng"');
    expect(result.stderr).toContain("billing, fulfillment, ledger");
  });
});
