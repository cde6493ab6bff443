import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { isTrue, type Provisioner, physicalName } from "../provisioner.js";

const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;

/** Not a CloudFormation attribute: the queue's visibility timeout, for the runner's heartbeat. */
export const LOCAL_VISIBILITY_ATTRIBUTE = "Local.VisibilityTimeout";
/** Not a CloudFormation attribute: how soon the runner makes a message the function failed visible again. */
export const LOCAL_RETRY_DELAY_ATTRIBUTE = "Local.RetryDelay";

/** AWS::SQS::Queue: FIFO, visibility, retention, delay, size and redrive. KMS settings are not emulated. */
export const createQueue: Provisioner = async (properties, context) => {
  const fifo = isTrue(properties.FifoQueue);
  const name =
    (properties.QueueName as string | undefined) ??
    physicalName(context.stackName, context.logicalId, 80, fifo ? ".fifo" : "");
  const notes: string[] = [];
  const attributes: Record<string, string> = {};
  if (fifo) attributes.FifoQueue = "true";
  if (isTrue(properties.ContentBasedDeduplication)) attributes.ContentBasedDeduplication = "true";
  for (const key of [
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
  ]) {
    if (properties[key] !== undefined) attributes[key] = String(properties[key]);
  }
  // SQS's default when the template sets none is 30 s
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html).
  // The queue keeps it: a message a poller holds stays hidden that long even if the machine stalls. What the
  // function fails is retried sooner locally: the runner makes it visible again after the retry delay.
  const explicit = properties.VisibilityTimeout !== undefined;
  const seconds = explicit ? Number(properties.VisibilityTimeout) : DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
  attributes.VisibilityTimeout = String(seconds);
  const cap = context.maxVisibilityTimeoutSeconds;
  const retryDelay = cap !== undefined && seconds > cap ? cap : seconds;
  notes.push(
    retryDelay !== seconds
      ? `visibility ${seconds} s${explicit ? "" : " (the default)"}, failed messages retried after ${retryDelay} s locally`
      : `visibility ${seconds} s`,
  );
  const redrive = properties.RedrivePolicy as
    | { deadLetterTargetArn?: string; maxReceiveCount?: number }
    | string
    | undefined;
  if (redrive) {
    const policy =
      typeof redrive === "string" ? (JSON.parse(redrive) as { maxReceiveCount?: number }) : redrive;
    attributes.RedrivePolicy = typeof redrive === "string" ? redrive : JSON.stringify(redrive);
    notes.push(`dead-letter queue after ${policy.maxReceiveCount} receives`);
  }

  let url: string;
  try {
    url = (
      await context.clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))
    ).QueueUrl as string;
  } catch (error) {
    // Applied before with other settings: bring the existing queue in line.
    // The query protocol names it AWS.SimpleQueueService.QueueNameExists.
    if (!/(QueueNameExists|QueueAlreadyExists)$/.test((error as Error).name)) throw error;
    url = (await context.clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;
    const { FifoQueue: _fifo, ...settable } = attributes;
    await context.clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: settable }));
  }
  const { Attributes } = await context.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  const arn = Attributes?.QueueArn as string;
  return {
    ref: url,
    attributes: {
      Arn: arn,
      QueueName: name,
      QueueUrl: url,
      [LOCAL_VISIBILITY_ATTRIBUTE]: String(seconds),
      [LOCAL_RETRY_DELAY_ATTRIBUTE]: String(retryDelay),
    },
    detail: [fifo ? "FIFO" : "standard", ...notes].join(", "),
  };
};
