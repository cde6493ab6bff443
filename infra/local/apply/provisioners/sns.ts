import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { isTrue, type Provisioner, physicalName } from "../provisioner.js";

/** AWS::SNS::Topic: standard or FIFO, content-based deduplication. KMS and archiving are not emulated. */
export const createTopic: Provisioner = async (properties, context) => {
  const fifo = isTrue(properties.FifoTopic);
  const name =
    (properties.TopicName as string | undefined) ??
    physicalName(context.stackName, context.logicalId, 256, fifo ? ".fifo" : "");
  const attributes: Record<string, string> = {};
  if (fifo) attributes.FifoTopic = "true";
  if (isTrue(properties.ContentBasedDeduplication)) attributes.ContentBasedDeduplication = "true";
  if (properties.DisplayName) attributes.DisplayName = String(properties.DisplayName);
  const { TopicArn } = await context.clients.sns.send(
    new CreateTopicCommand({ Name: name, Attributes: attributes }),
  );
  return {
    ref: TopicArn as string,
    attributes: { TopicArn: TopicArn as string, TopicName: name },
    detail: fifo ? "FIFO" : "standard",
  };
};

/** AWS::SNS::Subscription to an SQS queue: raw delivery, filter policy and scope, redrive policy. */
export const createSubscription: Provisioner = async (properties, context) => {
  if (properties.Protocol !== "sqs") {
    throw new SkipResource(
      `protocol ${properties.Protocol} is not emulated; only sqs subscriptions are delivered locally`,
    );
  }
  const attributes: Record<string, string> = {};
  if (properties.RawMessageDelivery !== undefined)
    attributes.RawMessageDelivery = String(isTrue(properties.RawMessageDelivery));
  if (properties.FilterPolicy !== undefined) {
    attributes.FilterPolicy =
      typeof properties.FilterPolicy === "string"
        ? properties.FilterPolicy
        : JSON.stringify(properties.FilterPolicy);
  }
  if (properties.FilterPolicyScope) attributes.FilterPolicyScope = String(properties.FilterPolicyScope);
  if (properties.RedrivePolicy !== undefined) {
    attributes.RedrivePolicy =
      typeof properties.RedrivePolicy === "string"
        ? properties.RedrivePolicy
        : JSON.stringify(properties.RedrivePolicy);
  }
  const { SubscriptionArn } = await context.clients.sns.send(
    new SubscribeCommand({
      TopicArn: String(properties.TopicArn),
      Protocol: "sqs",
      Endpoint: String(properties.Endpoint),
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
  );
  const notes = [
    attributes.RawMessageDelivery === "true" ? "raw delivery" : "SNS envelope",
    attributes.FilterPolicy
      ? `filter ${attributes.FilterPolicyScope === "MessageBody" ? "on body " : ""}${attributes.FilterPolicy}`
      : undefined,
  ].filter(Boolean);
  return {
    ref: SubscriptionArn as string,
    attributes: {},
    detail: `${String(properties.Endpoint).split(":").pop()} ← ${String(properties.TopicArn).split(":").pop()}, ${notes.join(", ")}`,
  };
};

/** Thrown by a provisioner for a resource it recognises but cannot emulate in this shape. */
export class SkipResource extends Error {
  override name = "SkipResource";
}
