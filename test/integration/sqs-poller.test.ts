/**
 * The local runner's SQS event source mapping on the local cloud's queues: what a poller holds stays invisible
 * from its receipt, so the visibility timeouts the local cloud lowers (5 s) redrive nothing a batching window
 * or a slow invocation still holds.
 */
import { GetQueueAttributesCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { settingsOf } from "../../infra/local/runner/event-sources/settings.js";
import { SqsPoller } from "../../infra/local/runner/event-sources/sqs-poller.js";
import type { FunctionHost } from "../../infra/local/runner/function-host.js";
import { eventually } from "../support/eventually.js";
import { Cleanup, createQueue, sqs } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** A function that records the bodies of the records it is given and succeeds. */
function recordingHost(delivered: string[]): FunctionHost {
  return {
    spec: { functionArn: "arn:aws:lambda:us-east-1:000000000000:function:gatherer", logicalId: "Gatherer" },
    invoke: async (event: { Records: Array<{ body: string }> }) => {
      delivered.push(...event.Records.map((record) => record.body));
      return { ok: true, response: { batchItemFailures: [] }, durationMs: 1 };
    },
  } as unknown as FunctionHost;
}

async function inQueue(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

describe("the local SQS poller", () => {
  it("keeps messages invisible while it gathers a batch over a window four times the visibility timeout", async () => {
    const queue = await createQueue(cleanup, "gathered", { VisibilityTimeout: "1" });
    const delivered: string[] = [];
    const errors: unknown[] = [];
    const poller = new SqsPoller(
      settingsOf(
        "GathererMapping",
        {
          BatchSize: 100,
          MaximumBatchingWindowInSeconds: 4,
          FunctionResponseTypes: ["ReportBatchItemFailures"],
        },
        "sqs",
        undefined,
      ),
      { queueUrl: queue.url, queueArn: queue.arn, visibilityTimeoutSeconds: 1 },
      recordingHost(delivered),
      sqs,
      "us-east-1",
      (error) => errors.push(error),
    );
    poller.start();
    try {
      // Sent as the pollers' windows open: each message is held about 4 s, four visibility timeouts.
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: ["a", "b", "c"].map((body) => ({ Id: body, MessageBody: body })),
        }),
      );
      await eventually(
        "the queue emptied",
        async () => ((await inQueue(queue.url)) === 0 ? true : undefined),
        {
          timeoutMs: 60_000,
        },
      );
    } finally {
      await poller.stop();
    }

    // Four other pollers were waiting: a message visible again would have been received and delivered twice.
    expect(delivered.sort()).toEqual(["a", "b", "c"]);
    expect(poller.stats).toMatchObject({ received: 3, failed: 0 });
    expect(errors).toEqual([]);
  });
});
