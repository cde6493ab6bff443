/**
 * `serverless-broker start` on an app of your own (a plain CDK app here): applied with a summary, its
 * consumers run, a status line per consumer group shows what they processed, and Ctrl-C stops it.
 */
import { fileURLToPath } from "node:url";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { PublishCommand } from "@aws-sdk/client-sns";
import { afterEach, describe, expect, it } from "vitest";
import { runningEndpoint } from "../../infra/local/running-endpoint.js";
import { copyFixtureApp } from "../support/app-copy.js";
import { eventually } from "../support/eventually.js";
import { uniqueName } from "../support/names.js";
import { dynamodb, sns } from "../support/resources.js";
import { killStarted, startProcess } from "../support/running-process.js";

const main = fileURLToPath(new URL("../../infra/cli/main.ts", import.meta.url));
afterEach(killStarted);

describe("serverless-broker start", () => {
  it("runs the app of the current directory until Ctrl-C, with a summary and a live line per group", {
    timeout: 240_000,
  }, async () => {
    const app = copyFixtureApp("plain-cdk-app");
    const stackName = uniqueName("PlainStart");
    const run = startProcess(process.execPath, ["--import", "tsx", main, "start"], {
      cwd: app,
      env: { ...process.env, PLAIN_APP_STACK: stackName },
      waitTimeoutMs: 90_000,
    });
    const { waitFor } = run;

    await waitFor(/✓ consumers running/);
    // Where `dlq`, `tail` and `replay` run in the project find this cloud without AWS_ENDPOINT_URL.
    expect(runningEndpoint(app)).toBe(process.env.AWS_ENDPOINT_URL);
    const [, topicArn] = await waitFor(/ {2}TopicArn = (\S+)/);
    const output = run.output();
    expect(output).toMatch(/created \d+, skipped \d+ \(not emulated: .*AWS::S3::Bucket 1/);
    expect(output).not.toContain("  + AWS::SQS::Queue"); // the per-resource list is --verbose's
    expect(output).not.toMatch(/NodeDeprecationWarning|end of support/i);

    const [, tableName] = await waitFor(/ {2}TableName = (\S+)/);
    const alert = uniqueName("alert");
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: alert,
        MessageAttributes: { severity: { DataType: "String", StringValue: "high" } },
      }),
    );
    // The Writer (a plain inline function) ran: its row is there, and the status line counts it, though a
    // plain handler logs no batch summary (its event source's counts).
    await eventually("the Writer's row", async () => {
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: tableName, Key: { id: { S: alert } } }),
      );
      return Item;
    });
    await waitFor(/Writer\w* ✓1 ↻0 dlq 0 lag \d+ · AlwaysFails/);

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(130);
    expect(runningEndpoint(app)).toBeUndefined();
  });
});
