import { createHash } from "node:crypto";
import type { _Record as StreamsRecord } from "@aws-sdk/client-dynamodb-streams";
import type { _Record as KinesisRecord } from "@aws-sdk/client-kinesis";
import type { Message, MessageAttributeValue } from "@aws-sdk/client-sqs";
import type { DynamoDBRecord, KinesisStreamRecord, SNSEvent, SQSRecord } from "aws-lambda";

/** An SQS message as Lambda's SQS event source hands it to a function. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? "000000000000",
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
    },
    // Lambda writes the list fields (always empty: SQS has never supported them) beside each value.
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
          ...(value.BinaryValue !== undefined
            ? { binaryValue: Buffer.from(value.BinaryValue).toString("base64") }
            : {}),
          stringListValues: [],
          binaryListValues: [],
          dataType: value.DataType ?? "String",
        },
      ]),
    ),
    ...(Object.keys(message.MessageAttributes ?? {}).length > 0
      ? {
          md5OfMessageAttributes:
            message.MD5OfMessageAttributes ?? md5OfMessageAttributes(message.MessageAttributes ?? {}),
        }
      : {}),
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** A Kinesis record as Lambda's Kinesis event source hands it to a function. */
export function toKinesisRecord(
  record: KinesisRecord,
  streamArn: string,
  shardId: string,
  region: string,
): KinesisStreamRecord {
  const sequenceNumber = record.SequenceNumber ?? "";
  return {
    kinesis: {
      kinesisSchemaVersion: "1.0",
      partitionKey: record.PartitionKey ?? "",
      sequenceNumber,
      data: Buffer.from(record.Data ?? []).toString("base64"),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
    },
    eventSource: "aws:kinesis",
    eventVersion: "1.0",
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: "aws:kinesis:record",
    invokeIdentityArn: "arn:aws:iam::000000000000:role/local-runner",
    awsRegion: region,
    eventSourceARN: streamArn,
  };
}

/** A DynamoDB Streams record as Lambda's event source hands it to a function. */
export function toDynamoDbRecord(record: StreamsRecord, streamArn: string, region: string): DynamoDBRecord {
  const change = record.dynamodb ?? {};
  return {
    eventID: record.eventID ?? "",
    eventName: record.eventName as DynamoDBRecord["eventName"],
    eventVersion: record.eventVersion ?? "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(change.ApproximateCreationDateTime
        ? { ApproximateCreationDateTime: change.ApproximateCreationDateTime.getTime() / 1000 }
        : {}),
      Keys: change.Keys as NonNullable<DynamoDBRecord["dynamodb"]>["Keys"],
      ...(change.NewImage
        ? { NewImage: change.NewImage as NonNullable<DynamoDBRecord["dynamodb"]>["NewImage"] }
        : {}),
      ...(change.OldImage
        ? { OldImage: change.OldImage as NonNullable<DynamoDBRecord["dynamodb"]>["OldImage"] }
        : {}),
      SequenceNumber: change.SequenceNumber,
      SizeBytes: change.SizeBytes,
      StreamViewType: change.StreamViewType as NonNullable<DynamoDBRecord["dynamodb"]>["StreamViewType"],
    },
  };
}

/**
 * SQS's digest of a message's attributes: for each attribute by name, length-prefixed name, data type,
 * a transport byte (1 string, 2 binary) and value
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html).
 */
export function md5OfMessageAttributes(attributes: NonNullable<Message["MessageAttributes"]>): string {
  const hash = createHash("md5");
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value: MessageAttributeValue = attributes[name] ?? { DataType: "String" };
    field(Buffer.from(name));
    field(Buffer.from(value.DataType ?? "String"));
    if (value.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(Buffer.from(value.BinaryValue));
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(value.StringValue ?? ""));
    }
  }
  return hash.digest("hex");
}

/** An SNS notification (the JSON SNS delivers to a queue) as Lambda's SNS trigger hands it to a function. */
export function toSnsEvent(notification: Record<string, unknown>, subscriptionArn: string): SNSEvent {
  const attributes = (notification.MessageAttributes ?? {}) as Record<
    string,
    { Type: string; Value: string }
  >;
  return {
    Records: [
      {
        EventVersion: "1.0",
        EventSubscriptionArn: subscriptionArn,
        EventSource: "aws:sns",
        Sns: {
          SignatureVersion: String(notification.SignatureVersion ?? "1"),
          Timestamp: String(notification.Timestamp ?? new Date().toISOString()),
          Signature: String(notification.Signature ?? "EXAMPLE"),
          SigningCertUrl: String(notification.SigningCertURL ?? notification.SigningCertUrl ?? ""),
          MessageId: String(notification.MessageId ?? ""),
          Message: String(notification.Message ?? ""),
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([name, value]) => [
              name,
              { Type: value.Type, Value: value.Value },
            ]),
          ),
          Type: String(notification.Type ?? "Notification"),
          UnsubscribeUrl: String(notification.UnsubscribeURL ?? notification.UnsubscribeUrl ?? ""),
          TopicArn: String(notification.TopicArn ?? ""),
          // Lambda's SNS events carry a null Subject when the publisher set none.
          Subject: (typeof notification.Subject === "string" ? notification.Subject : null) as string,
        },
      },
    ],
  };
}
