/** The baseline: the same consumer with Powertools batch + idempotency, as its documentation writes it. */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";

const processor = new BatchProcessor(EventType.SQS);
const config = new IdempotencyConfig({ eventKeyJmesPath: "powertools_json(body).id" });
const recordHandler = makeIdempotent(async (_record: SQSRecord) => undefined, {
  persistenceStore: new DynamoDBPersistenceLayer({ tableName: process.env.POWERTOOLS_TABLE_NAME as string }),
  config,
});

export const handler = async (event: SQSEvent, context: Context) => {
  config.registerLambdaContext(context);
  return processPartialResponse(event, recordHandler, processor, { context });
};
