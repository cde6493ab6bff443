/** The cold-start subject: an SQS consumer with DynamoDB dedup, as a user writes it with this runtime. */
import { dynamoDbDedup, sqsConsumer } from "../../../lambdas/runtime/index.js";

export const handler = sqsConsumer({
  group: "cold-start",
  dedup: dynamoDbDedup({ tableName: process.env.DEDUP_TABLE_NAME }),
  handler: () => undefined,
});
