import { ChangeMessageVisibilityBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";

/**
 * Keeps the messages a poller holds invisible, from the moment they are received (a batching window may
 * hold them for seconds before the invocation) until the invocation ends: every third of the visibility
 * timeout their visibility is set to a full timeout again. An invocation that outlives the timeout on a slow
 * machine (AWS would redrive its messages, but there the timeout is checked against the function's at
 * synth) then gets slower, not duplicated. What is not deleted becomes visible when the last timeout runs
 * out, or sooner when the poller retries it after the retry delay.
 */
export class VisibilityHeartbeat {
  private readonly receiptHandles: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private beat: Promise<void> = Promise.resolve();
  private beating = true;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly visibilityTimeoutSeconds: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Holds these messages from now on; the first ones start the heartbeat. */
  hold(receiptHandles: readonly string[]): void {
    if (receiptHandles.length === 0 || !this.beating) return;
    this.receiptHandles.push(...receiptHandles);
    this.timer ??= setInterval(
      () => {
        if (!this.beating) return;
        this.beat = this.beat.then(() => this.extend()).catch(this.onError);
      },
      Math.max(200, (this.seconds * 1000) / 3),
    );
  }

  /** Stops extending; waits for an extension under way, so that none lands after a delete. */
  async stop(): Promise<void> {
    this.beating = false;
    clearInterval(this.timer);
    await this.beat;
  }

  private get seconds(): number {
    return Math.max(1, this.visibilityTimeoutSeconds);
  }

  private async extend(): Promise<void> {
    for (const handles of chunks(this.receiptHandles, 10)) {
      if (!this.beating) return;
      await changeVisibility(this.sqs, this.queueUrl, handles, this.seconds);
    }
  }
}

/**
 * Sets the visibility of up to 10 messages: ChangeMessageVisibilityBatch takes at most 10 entries
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html);
 * a handle already redriven fails alone.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  receiptHandles: readonly string[],
  seconds: number,
): Promise<void> {
  await sqs.send(
    new ChangeMessageVisibilityBatchCommand({
      QueueUrl: queueUrl,
      Entries: receiptHandles.map((receiptHandle, index) => ({
        Id: String(index),
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      })),
    }),
  );
}

/** `items` in slices of `size` (SQS's batch calls take at most 10 entries). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}
