import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { isTrue, type Provisioner, physicalName } from "../provisioner.js";

/** Not a CloudFormation attribute: the stream ARN the emulator answers to. */
export const LOCAL_STREAM_ARN_ATTRIBUTE = "Local.StreamArn";

/** AWS::DynamoDB::Table: keys, indexes, billing, stream and TTL. Encryption and PITR are not emulated. */
export const createTable: Provisioner = async (properties, context) => {
  const name =
    (properties.TableName as string | undefined) ?? physicalName(context.stackName, context.logicalId, 255);
  const onDemand =
    properties.BillingMode === "PAY_PER_REQUEST" || properties.ProvisionedThroughput === undefined;
  const stream = properties.StreamSpecification as { StreamViewType?: string } | undefined;
  const input = {
    TableName: name,
    KeySchema: properties.KeySchema,
    AttributeDefinitions: properties.AttributeDefinitions,
    ...(onDemand
      ? { BillingMode: "PAY_PER_REQUEST" }
      : { ProvisionedThroughput: properties.ProvisionedThroughput }),
    ...(properties.GlobalSecondaryIndexes
      ? { GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes }
      : {}),
    ...(properties.LocalSecondaryIndexes ? { LocalSecondaryIndexes: properties.LocalSecondaryIndexes } : {}),
    ...(stream?.StreamViewType
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: stream.StreamViewType } }
      : {}),
  } as CreateTableCommandInput;
  try {
    await context.clients.dynamodb.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
  }
  await waitUntilTableExists(
    { client: context.clients.dynamodb, maxWaitTime: 60, minDelay: 1 },
    { TableName: name },
  );
  const ttl = properties.TimeToLiveSpecification as { AttributeName?: string; Enabled?: unknown } | undefined;
  if (ttl?.AttributeName && isTrue(ttl.Enabled)) {
    try {
      await context.clients.dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
    } catch (error) {
      // Already enabled from an earlier apply.
      if (!/already enabled/i.test((error as Error).message)) throw error;
    }
  }
  const { Table } = await context.clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
  const notes = [
    onDemand ? "on demand" : "provisioned",
    stream?.StreamViewType ? `stream ${stream.StreamViewType}` : undefined,
    ttl?.AttributeName ? `TTL on ${ttl.AttributeName} (never expires locally)` : undefined,
  ].filter(Boolean);
  // DynamoDB Local names its own region (`ddblocal`) in ARNs; outputs and events name the configured one,
  // and the runner keeps the emulator's stream ARN for its own calls.
  const inRegion = (arn: string) =>
    arn.replace(/^arn:aws:dynamodb:ddblocal:/, `arn:aws:dynamodb:${context.region}:`);
  return {
    ref: name,
    attributes: {
      Arn: inRegion(Table?.TableArn as string),
      ...(Table?.LatestStreamArn
        ? { StreamArn: inRegion(Table.LatestStreamArn), [LOCAL_STREAM_ARN_ATTRIBUTE]: Table.LatestStreamArn }
        : {}),
    },
    detail: notes.join(", "),
  };
};
