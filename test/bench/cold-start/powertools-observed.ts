/**
 * The baseline with what this runtime's default observer does on top: Powertools Logger (a JSON line per
 * batch) and Metrics (EMF counts per batch), so that bundle and init compare the same features.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";

const logger = new Logger({ serviceName: "cold-start" });
const metrics = new Metrics({ namespace: "ColdStart", serviceName: "cold-start" });
const processor = new BatchProcessor(EventType.SQS);
const config = new IdempotencyConfig({ eventKeyJmesPath: "powertools_json(body).id" });
const recordHandler = makeIdempotent(async (_record: SQSRecord) => undefined, {
  persistenceStore: new DynamoDBPersistenceLayer({ tableName: process.env.POWERTOOLS_TABLE_NAME as string }),
  config,
});

export const handler = async (event: SQSEvent, context: Context) => {
  config.registerLambdaContext(context);
  const response = await processPartialResponse(event, recordHandler, processor, { context });
  const failed = response.batchItemFailures.length;
  logger.info("batch processed", { received: event.Records.length, failed });
  metrics.addMetric("MessagesProcessed", MetricUnit.Count, event.Records.length - failed);
  metrics.addMetric("MessagesFailed", MetricUnit.Count, failed);
  metrics.publishStoredMetrics();
  return response;
};
