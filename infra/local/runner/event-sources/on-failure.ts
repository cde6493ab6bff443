import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { ShardRecord } from "./shard-source.js";

export type OnFailureCondition = "RetryAttemptsExhausted" | "RecordAgeExceeded";

/** An on-failure destination of a stream event source: an SQS queue (by URL) or an SNS topic (by ARN). */
export type OnFailureDestination = { readonly queueUrl: string } | { readonly topicArn: string };

/**
 * Sends what Lambda gave up on to the on-failure destination, shaped as AWS sends it: request and
 * response context, and the batch's shard and sequence range (not the records themselves).
 */
export async function sendToOnFailure(
  destination: OnFailureDestination,
  clients: { sqs: SQSClient; sns: SNSClient },
  details: {
    functionArn: string;
    condition: OnFailureCondition;
    invokeCount: number;
    functionError: string | undefined;
    batchInfoName: string;
    shardId: string;
    streamArn: string;
    records: readonly ShardRecord[];
  },
): Promise<void> {
  const first = details.records[0];
  const last = details.records[details.records.length - 1];
  const message = JSON.stringify({
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: details.functionArn,
      condition: details.condition,
      approximateInvokeCount: details.invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: "$LATEST",
      ...(details.functionError ? { functionError: details.functionError } : {}),
    },
    version: "1.0",
    timestamp: new Date().toISOString(),
    [details.batchInfoName]: {
      shardId: details.shardId,
      startSequenceNumber: first?.sequenceNumber,
      endSequenceNumber: last?.sequenceNumber,
      approximateArrivalOfFirstRecord: first?.arrival.toISOString(),
      approximateArrivalOfLastRecord: last?.arrival.toISOString(),
      batchSize: details.records.length,
      streamArn: details.streamArn,
    },
  });
  if ("queueUrl" in destination)
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: destination.queueUrl, MessageBody: message }));
  else await clients.sns.send(new PublishCommand({ TopicArn: destination.topicArn, Message: message }));
}
