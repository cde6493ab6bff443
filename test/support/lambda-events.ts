import type {
  DynamoDBRecord,
  DynamoDBStreamEvent,
  KinesisStreamEvent,
  KinesisStreamRecord,
  SQSEvent,
  SQSRecord,
} from "aws-lambda";
import { createEnvelope, type NewMessage } from "../../lambdas/runtime/envelope.js";

export const QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:orders-billing";
export const FIFO_QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:orders-ordered.fifo";
export const STREAM_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";

let counter = 0;
const nextId = () => `m-${++counter}`;

/** An envelope body as the producers write it. */
export function envelopeBody<T>(message: Partial<NewMessage<T>> & { payload?: T } = {}): string {
  return JSON.stringify(createEnvelope({ type: "order.placed", payload: {} as T, ...message }));
}

export interface SqsRecordSpec {
  body?: string;
  messageId?: string;
  groupId?: string;
  receiveCount?: number;
  type?: string;
  queueArn?: string;
}

export function sqsRecord(spec: SqsRecordSpec = {}): SQSRecord {
  return {
    messageId: spec.messageId ?? nextId(),
    receiptHandle: "handle",
    body: spec.body ?? envelopeBody(),
    attributes: {
      ApproximateReceiveCount: String(spec.receiveCount ?? 1),
      SentTimestamp: "1763800000000",
      SenderId: "sender",
      ApproximateFirstReceiveTimestamp: "1763800000001",
      ...(spec.groupId
        ? { MessageGroupId: spec.groupId, MessageDeduplicationId: "d", SequenceNumber: "1" }
        : {}),
    },
    messageAttributes: spec.type ? { type: { dataType: "String", stringValue: spec.type } } : {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: spec.queueArn ?? (spec.groupId ? FIFO_QUEUE_ARN : QUEUE_ARN),
    awsRegion: "us-east-1",
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

export interface KinesisRecordSpec {
  data?: string | Buffer;
  partitionKey?: string;
  sequenceNumber?: string;
  shardId?: string;
}

let sequence = 1000;
export function kinesisRecord(spec: KinesisRecordSpec = {}): KinesisStreamRecord {
  const shardId = spec.shardId ?? "shardId-000000000000";
  const sequenceNumber = spec.sequenceNumber ?? String(++sequence);
  const data = spec.data ?? envelopeBody({ key: spec.partitionKey ?? "k" });
  return {
    kinesis: {
      kinesisSchemaVersion: "1.0",
      partitionKey: spec.partitionKey ?? "k",
      sequenceNumber,
      data: (typeof data === "string" ? Buffer.from(data) : data).toString("base64"),
      approximateArrivalTimestamp: 1763800000,
    },
    eventSource: "aws:kinesis",
    eventVersion: "1.0",
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: "aws:kinesis:record",
    invokeIdentityArn: "arn:aws:iam::000000000000:role/consumer",
    awsRegion: "us-east-1",
    eventSourceARN: STREAM_ARN,
  };
}

export const kinesisEvent = (...records: KinesisStreamRecord[]): KinesisStreamEvent => ({ Records: records });

export function dynamodbRecord(
  sequenceNumber: string,
  newImage: Record<string, unknown>,
  key = "pk",
): DynamoDBRecord {
  return {
    eventID: `event-${sequenceNumber}`,
    eventName: "INSERT",
    eventSource: "aws:dynamodb",
    awsRegion: "us-east-1",
    eventSourceARN: "arn:aws:dynamodb:us-east-1:000000000000:table/dedup/stream/2026-11-22T00:00:00.000",
    dynamodb: {
      SequenceNumber: sequenceNumber,
      Keys: { [key]: { S: String(newImage[key]) } },
      NewImage: Object.fromEntries(
        Object.entries(newImage).map(([name, value]) => [
          name,
          typeof value === "number" ? { N: String(value) } : { S: String(value) },
        ]),
      ),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  };
}

export const dynamodbEvent = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });
