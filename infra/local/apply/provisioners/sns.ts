import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
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

/** Not CloudFormation attributes: where a lambda subscription's notifications wait for the runner. */
export const LOCAL_DELIVERY_QUEUE_URL = "Local.DeliveryQueueUrl";
export const LOCAL_DELIVERY_QUEUE_ARN = "Local.DeliveryQueueArn";
export const LOCAL_SUBSCRIBED_FUNCTION = "Local.FunctionArn";
export const LOCAL_SUBSCRIBED_TOPIC = "Local.TopicArn";

/**
 * AWS::SNS::Subscription to an SQS queue (raw delivery, filter policy and scope, redrive policy), or to
 * a Lambda function: then the topic delivers, with the same filter policy, to a local delivery queue
 * that the runner reads, invoking the function asynchronously with SNS's event as AWS does.
 */
export const createSubscription: Provisioner = async (properties, context) => {
  if (properties.Protocol !== "sqs" && properties.Protocol !== "lambda") {
    throw new SkipResource(
      `protocol ${properties.Protocol} is not emulated; only sqs and lambda subscriptions are delivered locally`,
    );
  }
  const toLambda = properties.Protocol === "lambda";
  let endpoint = String(properties.Endpoint);
  const delivery: Record<string, string> = {};
  if (toLambda) {
    const { QueueUrl } = await context.clients.sqs.send(
      new CreateQueueCommand({
        QueueName: physicalName(context.stackName, `${context.logicalId}-lambda`, 80),
        Attributes: { VisibilityTimeout: "30" },
      }),
    );
    const { Attributes } = await context.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
    );
    delivery[LOCAL_DELIVERY_QUEUE_URL] = QueueUrl as string;
    delivery[LOCAL_DELIVERY_QUEUE_ARN] = Attributes?.QueueArn as string;
    delivery[LOCAL_SUBSCRIBED_FUNCTION] = endpoint;
    delivery[LOCAL_SUBSCRIBED_TOPIC] = String(properties.TopicArn);
    endpoint = delivery[LOCAL_DELIVERY_QUEUE_ARN] as string;
  }
  const attributes: Record<string, string> = {};
  if (properties.RawMessageDelivery !== undefined && !toLambda)
    attributes.RawMessageDelivery = String(isTrue(properties.RawMessageDelivery));
  if (properties.FilterPolicy !== undefined) {
    attributes.FilterPolicy =
      typeof properties.FilterPolicy === "string"
        ? properties.FilterPolicy
        : JSON.stringify(properties.FilterPolicy);
  }
  if (properties.FilterPolicyScope) attributes.FilterPolicyScope = String(properties.FilterPolicyScope);
  if (properties.RedrivePolicy !== undefined && !toLambda) {
    attributes.RedrivePolicy =
      typeof properties.RedrivePolicy === "string"
        ? properties.RedrivePolicy
        : JSON.stringify(properties.RedrivePolicy);
  }
  const { SubscriptionArn } = await context.clients.sns.send(
    new SubscribeCommand({
      TopicArn: String(properties.TopicArn),
      Protocol: "sqs",
      Endpoint: endpoint,
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
  );
  const notes = [
    toLambda
      ? "invoked by the runner"
      : attributes.RawMessageDelivery === "true"
        ? "raw delivery"
        : "SNS envelope",
    attributes.FilterPolicy
      ? `filter ${attributes.FilterPolicyScope === "MessageBody" ? "on body " : ""}${attributes.FilterPolicy}`
      : undefined,
  ].filter(Boolean);
  return {
    ref: SubscriptionArn as string,
    attributes: delivery,
    detail: `${String(properties.Endpoint).split(":").pop()} ← ${String(properties.TopicArn).split(":").pop()}, ${notes.join(", ")}`,
  };
};

/** Thrown by a provisioner for a resource it recognises but cannot emulate in this shape. */
export class SkipResource extends Error {
  override name = "SkipResource";
}
