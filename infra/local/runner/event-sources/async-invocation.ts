import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { FunctionHost } from "../function-host.js";
import type { OnFailureDestination } from "./on-failure.js";

/** An asynchronous invocation's retry and destination settings (AWS::Lambda::EventInvokeConfig). */
export interface AsyncInvokeSettings {
  /** 0–2; Lambda's default is 2. */
  readonly maxRetryAttempts: number;
  /** 60–21,600 s; Lambda's default is 6 hours. */
  readonly maxEventAgeSeconds: number;
  readonly onFailure: OnFailureDestination | undefined;
  /** The function's DeadLetterConfig: gets the event itself, with the error as message attributes. */
  readonly deadLetter: OnFailureDestination | undefined;
  /**
   * Pause before retry n (1-based). Lambda waits about 1 min, then 2 min
   * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html); locally seconds.
   */
  readonly retryDelayMs: (retry: number) => number;
}

export const ASYNC_DEFAULTS: AsyncInvokeSettings = {
  maxRetryAttempts: 2,
  maxEventAgeSeconds: 21_600,
  onFailure: undefined,
  deadLetter: undefined,
  retryDelayMs: (retry) => 1_000 * retry,
};

export interface AsyncStats {
  invoked: number;
  succeeded: number;
  retried: number;
  sentToOnFailure: number;
  sentToDeadLetter: number;
}

/**
 * Invokes a function asynchronously, as Lambda does for SNS: the event is queued, a function error is
 * retried up to MaximumRetryAttempts, and an event that still fails (or grows older than
 * MaximumEventAgeInSeconds) goes to the on-failure destination, as an invocation record, and to the
 * function's dead-letter queue, as the event itself.
 */
export async function invokeAsync(
  fn: FunctionHost,
  event: unknown,
  settings: AsyncInvokeSettings,
  clients: { sqs: SQSClient; sns: SNSClient },
  stats: AsyncStats,
  stopped: () => boolean,
): Promise<void> {
  const queued = Date.now();
  const requestId = crypto.randomUUID();
  let attempts = 0;
  for (;;) {
    attempts++;
    stats.invoked++;
    const result = await fn.invoke(event);
    if (result.ok) {
      stats.succeeded++;
      return;
    }
    if (stopped()) return;
    const tooOld = Date.now() - queued > settings.maxEventAgeSeconds * 1000;
    if (!tooOld && attempts <= settings.maxRetryAttempts) {
      stats.retried++;
      await new Promise((resolve) => setTimeout(resolve, settings.retryDelayMs(attempts)));
      continue;
    }
    const condition = tooOld ? "EventAgeExceeded" : "RetriesExhausted";
    if (settings.onFailure) {
      stats.sentToOnFailure++;
      await send(settings.onFailure, clients, {
        version: "1.0",
        timestamp: new Date().toISOString(),
        requestContext: {
          requestId,
          functionArn: `${fn.spec.functionArn}:$LATEST`,
          condition,
          approximateInvokeCount: attempts,
        },
        requestPayload: event,
        responseContext: {
          statusCode: 200,
          executedVersion: "$LATEST",
          functionError: "Unhandled",
        },
        responsePayload: { errorType: result.errorType, errorMessage: result.errorMessage },
      });
    }
    if (settings.deadLetter) {
      stats.sentToDeadLetter++;
      await send(settings.deadLetter, clients, event, {
        RequestID: requestId,
        ErrorCode: "200",
        ErrorMessage: result.errorMessage.slice(0, 1024),
      });
    }
    return;
  }
}

async function send(
  destination: OnFailureDestination,
  clients: { sqs: SQSClient; sns: SNSClient },
  body: unknown,
  attributes: Record<string, string> = {},
): Promise<void> {
  const message = JSON.stringify(body);
  const messageAttributes = Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [name, { DataType: "String", StringValue: value }]),
  );
  if ("queueUrl" in destination)
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: destination.queueUrl,
        MessageBody: message,
        MessageAttributes: messageAttributes,
      }),
    );
  else
    await clients.sns.send(
      new PublishCommand({
        TopicArn: destination.topicArn,
        Message: message,
        MessageAttributes: messageAttributes,
      }),
    );
}
