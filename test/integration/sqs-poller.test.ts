/**
 * The local runner's SQS event source mapping on the local cloud's queues. The queue keeps its visibility
 * timeout, so what a poller holds stays hidden through a batching window and through a stall of the whole
 * process; what the function fails comes back after the local retry delay, not the whole timeout.
 */
import { GetQueueAttributesCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { afterAll, describe, expect, it } from "vitest";
import { settingsOf } from "../../infra/local/runner/event-sources/settings.js";
import { SqsPoller, type SqsSource } from "../../infra/local/runner/event-sources/sqs-poller.js";
import type { FunctionHost } from "../../infra/local/runner/function-host.js";
import { eventually } from "../support/eventually.js";
import { Cleanup, createQueue, sqs } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** A function that records the bodies it is given; `fails` decides which records it reports failed. */
function recordingHost(
  delivered: string[],
  fails: (record: SQSRecord) => boolean = () => false,
): FunctionHost {
  return {
    spec: { functionArn: "arn:aws:lambda:us-east-1:000000000000:function:gatherer", logicalId: "Gatherer" },
    invoke: async (event: { Records: SQSRecord[] }) => {
      delivered.push(...event.Records.map((record) => record.body));
      const batchItemFailures = event.Records.filter(fails).map((record) => ({
        itemIdentifier: record.messageId,
      }));
      return { ok: true, response: { batchItemFailures }, durationMs: 1 };
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

/** Messages received and not yet deleted or visible again. */
async function held(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Number(Attributes.ApproximateNumberOfMessagesNotVisible);
}

async function send(queueUrl: string, bodies: readonly string[]): Promise<void> {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body) => ({ Id: body, MessageBody: body })),
    }),
  );
}

/** Runs five pollers (Lambda's default concurrency) on the source until the queue is empty. */
async function drainWith(
  source: SqsSource,
  host: FunctionHost,
  mapping: Record<string, unknown>,
  whileRunning: () => Promise<void>,
) {
  const errors: unknown[] = [];
  const poller = new SqsPoller(
    settingsOf(
      "GathererMapping",
      { FunctionResponseTypes: ["ReportBatchItemFailures"], ...mapping },
      "sqs",
      undefined,
    ),
    source,
    host,
    sqs,
    "us-east-1",
    (error) => errors.push(error),
  );
  poller.start();
  try {
    await whileRunning();
    await eventually(
      "the queue emptied",
      async () => ((await inQueue(source.queueUrl)) === 0 ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    );
  } finally {
    await poller.stop();
  }
  return { stats: poller.stats, errors };
}

describe("the local SQS poller", () => {
  it("keeps messages invisible while it gathers a batch over a window four times the visibility timeout", async () => {
    const queue = await createQueue(cleanup, "gathered", { VisibilityTimeout: "1" });
    const delivered: string[] = [];
    const { stats, errors } = await drainWith(
      { queueUrl: queue.url, queueArn: queue.arn, visibilityTimeoutSeconds: 1 },
      recordingHost(delivered),
      { BatchSize: 100, MaximumBatchingWindowInSeconds: 4 },
      // Sent as the pollers' windows open: each message is held about 4 s, four visibility timeouts.
      () => send(queue.url, ["a", "b", "c"]),
    );

    // Four other pollers were waiting: a message visible again would have been received and delivered twice.
    expect(delivered.sort()).toEqual(["a", "b", "c"]);
    expect(stats).toMatchObject({ received: 3, failed: 0 });
    expect(errors).toEqual([]);
  });

  it("redrives nothing it holds through a stall of the whole process longer than the retry delay", async () => {
    const queue = await createQueue(cleanup, "stalled", { VisibilityTimeout: "30" });
    const delivered: string[] = [];
    const { stats } = await drainWith(
      { queueUrl: queue.url, queueArn: queue.arn, visibilityTimeoutSeconds: 30, retryDelaySeconds: 1 },
      recordingHost(delivered),
      { BatchSize: 100, MaximumBatchingWindowInSeconds: 3 },
      async () => {
        await send(queue.url, ["d", "e"]);
        // Held in a window, then no heartbeat for 3 s: a busy machine, a debugger, a long GC pause.
        await eventually("the messages held", async () => ((await held(queue.url)) === 2 ? true : undefined));
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3_000);
      },
    );

    expect(delivered.sort()).toEqual(["d", "e"]);
    expect(stats).toMatchObject({ received: 2, failed: 0 });
  });

  it("makes what the function failed visible again after the retry delay, not the queue's visibility timeout", async () => {
    // Two minutes: the queue would empty long after the test's wait if the failure waited out the timeout.
    const queue = await createQueue(cleanup, "retried", { VisibilityTimeout: "120" });
    const delivered: string[] = [];
    const seen = new Set<string>();
    const failOnce = (record: SQSRecord) => {
      const first = record.body === "f" && !seen.has(record.body);
      seen.add(record.body);
      return first;
    };
    const { stats } = await drainWith(
      { queueUrl: queue.url, queueArn: queue.arn, visibilityTimeoutSeconds: 120, retryDelaySeconds: 1 },
      recordingHost(delivered, failOnce),
      { BatchSize: 10 },
      () => send(queue.url, ["f", "g"]),
    );

    expect(delivered.sort()).toEqual(["f", "f", "g"]);
    expect(stats).toMatchObject({ received: 3, failed: 1 });
  });

  // The limit is the liveness check: a stop that waited for the long poll would take up to 20 s.
  it("stops at once while it gathers a batch, without delivering it", { timeout: 15_000 }, async () => {
    const queue = await createQueue(cleanup, "stopped", { VisibilityTimeout: "30" });
    const delivered: string[] = [];
    const poller = new SqsPoller(
      settingsOf("GathererMapping", { BatchSize: 100, MaximumBatchingWindowInSeconds: 20 }, "sqs", undefined),
      { queueUrl: queue.url, queueArn: queue.arn, visibilityTimeoutSeconds: 30, retryDelaySeconds: 5 },
      recordingHost(delivered),
      sqs,
      "us-east-1",
      () => {},
    );
    poller.start();
    await send(queue.url, ["h"]);
    await eventually("the message held", async () => ((await held(queue.url)) === 1 ? true : undefined));

    await poller.stop();

    // Not deleted either: it comes back when its visibility timeout ends, for the next run.
    expect(delivered).toEqual([]);
    expect(await held(queue.url)).toBe(1);
  });
});
