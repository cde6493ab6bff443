import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";

export interface ProvisionContext {
  readonly stackName: string;
  readonly logicalId: string;
  readonly region: string;
  readonly accountId: string;
  readonly clients: { sqs: SQSClient; sns: SNSClient; kinesis: KinesisClient; dynamodb: DynamoDBClient };
  /**
   * A message the function failed is visible again after this many seconds at most (its queue's visibility
   * timeout if shorter), so that retries come quickly; undefined: after the queue's visibility timeout.
   */
  readonly maxVisibilityTimeoutSeconds: number | undefined;
}

/** What creating a resource produced: its Ref value, its GetAtt attributes, and a line for humans. */
export interface Provisioned {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly detail: string;
}

/** Creates one CloudFormation resource type on the local cloud from its resolved properties. */
export type Provisioner = (
  properties: Record<string, unknown>,
  context: ProvisionContext,
) => Promise<Provisioned>;

/** A resource type the local cloud does not create, and why; a Ref/GetAtt placeholder lets references resolve. */
export interface SkippedType {
  readonly reason: string;
  readonly placeholder?: (context: {
    stackName: string;
    logicalId: string;
    region: string;
    accountId: string;
  }) => Provisioned;
}

/** A name CloudFormation would generate: `<stack>-<logical id>`, within the service's limit. */
export function physicalName(stackName: string, logicalId: string, maxLength: number, suffix = ""): string {
  const base = `${stackName}-${logicalId}`.replace(/[^A-Za-z0-9_-]/g, "-");
  return `${base.slice(0, maxLength - suffix.length)}${suffix}`;
}

export const isTrue = (value: unknown) => value === true || value === "true";
