import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";

/**
 * Module-level clients, created on first use from the standard environment (AWS_REGION,
 * AWS_ENDPOINT_URL[_<SERVICE>], credentials), and reused across invocations of a warm Lambda.
 * Every API of this runtime also takes an injected client.
 */
const clients: { sns?: SNSClient; sqs?: SQSClient; kinesis?: KinesisClient; dynamodb?: DynamoDBClient } = {};

export const defaultSnsClient = (): SNSClient => (clients.sns ??= new SNSClient({}));
export const defaultSqsClient = (): SQSClient => (clients.sqs ??= new SQSClient({}));
export const defaultKinesisClient = (): KinesisClient => (clients.kinesis ??= new KinesisClient({}));
export const defaultDynamoDbClient = (): DynamoDBClient => (clients.dynamodb ??= new DynamoDBClient({}));
