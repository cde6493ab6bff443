import type { SNSClient } from "@aws-sdk/client-sns";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { FunctionHost } from "../function-host.js";
import { toSnsEvent } from "../lambda-event-shapes.js";
import { type AsyncInvokeSettings, type AsyncStats, invokeAsync } from "./async-invocation.js";

/**
 * Plays an SNS subscription of protocol lambda: the topic delivers to a local delivery queue (with the
 * subscription's filter policy), and each notification becomes one asynchronous invocation with SNS's
 * event shape. Lambda takes an async event off SNS's hands at once, so the notification is deleted when
 * it is queued for the function; retries and destinations follow the function's EventInvokeConfig.
 */
export class SnsSubscriptionPoller {
  readonly stats: AsyncStats & { received: number } = {
    received: 0,
    invoked: 0,
    succeeded: 0,
    retried: 0,
    sentToOnFailure: 0,
    sentToDeadLetter: 0,
  };
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly subscription: { arn: string; topicArn: string; deliveryQueueUrl: string },
    private readonly fn: FunctionHost,
    private readonly settings: AsyncInvokeSettings,
    private readonly clients: { sqs: SQSClient; sns: SNSClient },
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const { Messages = [] } = await this.clients.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.subscription.deliveryQueueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
          }),
        );
        if (Messages.length === 0) continue;
        this.stats.received += Messages.length;
        for (const message of Messages) {
          const event = toSnsEvent(JSON.parse(message.Body ?? "{}"), this.subscription.arn);
          const invocation = invokeAsync(
            this.fn,
            event,
            this.settings,
            this.clients,
            this.stats,
            () => this.stopped,
          )
            .catch(this.onError)
            .finally(() => this.inFlight.delete(invocation));
          this.inFlight.add(invocation);
        }
        await this.clients.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.subscription.deliveryQueueUrl,
            Entries: Messages.map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle,
            })),
          }),
        );
      } catch (error) {
        if (this.stopped) return;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }
}
