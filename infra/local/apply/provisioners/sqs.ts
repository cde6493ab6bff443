import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { isTrue, type Provisioner, physicalName } from "../provisioner.js";

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
  if (properties.VisibilityTimeout !== undefined) {
    const seconds = Number(properties.VisibilityTimeout);
    // Never below the time a poller may hold a message while it gathers a batch.
    const cap =
      context.maxVisibilityTimeoutSeconds === undefined
        ? undefined
        : context.maxVisibilityTimeoutSeconds + context.batchingWindowSeconds;
    attributes.VisibilityTimeout = String(cap !== undefined && seconds > cap ? cap : seconds);
    notes.push(
      cap !== undefined && seconds > cap
        ? `visibility ${cap} s (${seconds} s in AWS)`
        : `visibility ${seconds} s`,
    );
  }
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
    if ((error as Error).name !== "QueueNameExists" && (error as Error).name !== "QueueAlreadyExists")
      throw error;
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
    attributes: { Arn: arn, QueueName: name, QueueUrl: url },
    detail: [fifo ? "FIFO" : "standard", ...notes].join(", "),
  };
};
