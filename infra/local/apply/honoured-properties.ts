/**
 * The template properties each provisioner honours. Anything else a resource sets is reported when it is
 * created ("not honoured locally: …"), never dropped without a word. Tags change no behaviour.
 */
export const HONOURED_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  "AWS::SQS::Queue": [
    "QueueName",
    "FifoQueue",
    "ContentBasedDeduplication",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
  ],
  "AWS::SNS::Topic": ["TopicName", "FifoTopic", "ContentBasedDeduplication", "DisplayName"],
  "AWS::SNS::Subscription": [
    "TopicArn",
    "Protocol",
    "Endpoint",
    "RawMessageDelivery",
    "FilterPolicy",
    "FilterPolicyScope",
    "RedrivePolicy",
    "Region",
  ],
  "AWS::Kinesis::Stream": ["Name", "ShardCount", "StreamModeDetails", "RetentionPeriodHours"],
  "AWS::Kinesis::StreamConsumer": ["ConsumerName", "StreamARN"],
  "AWS::DynamoDB::Table": [
    "TableName",
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
  ],
};

/** The properties of a resource that its provisioner does not honour, for the report. */
export function unhonouredProperties(type: string, properties: Record<string, unknown>): string[] {
  const honoured = HONOURED_PROPERTIES[type];
  if (!honoured) return [];
  return Object.keys(properties).filter((name) => name !== "Tags" && !honoured.includes(name));
}
