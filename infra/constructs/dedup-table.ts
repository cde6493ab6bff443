import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import type { Grant, IGrantable } from "aws-cdk-lib/aws-iam";
import type { IKey } from "aws-cdk-lib/aws-kms";
import { type IFunction, Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import { BROKER_ENV, DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import { requireDurationInRange } from "./validation.js";

export interface DedupTableProps {
  /**
   * How long a completed dedup record is kept: at least the longest redelivery window of the channels it
   * guards (SQS keeps a message up to 14 days), so that a late redelivery is still recognised.
   * @default Duration.days(14)
   */
  readonly retention?: Duration;
  /** A stream of new images, which the transactional outbox relay reads. @default false */
  readonly stream?: boolean;
  /** A customer-managed key to encrypt with. @default - the AWS-managed DynamoDB key (aws/dynamodb) */
  readonly encryptionKey?: IKey;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The DynamoDB actions the dedup middleware uses, and nothing else. */
const DEDUP_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
  "dynamodb:ConditionCheckItem",
];

/**
 * The table behind exactly-once processing: on demand, a TTL attribute that expires completed records,
 * point-in-time recovery, KMS encryption, and optionally a stream for the outbox relay. Its key and
 * attribute names come from the runtime's constants, so infra and runtime cannot drift.
 */
export class DedupTable extends Construct {
  readonly table: Table;
  readonly retention: Duration;

  constructor(scope: Construct, id: string, props: DedupTableProps = {}) {
    super(scope, id);
    requireDurationInRange(this, "retention", props.retention, Duration.minutes(5), Duration.days(365));
    this.retention = props.retention ?? Duration.days(14);
    this.table = new Table(this, "Table", {
      partitionKey: { name: DEDUP_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: DEDUP_TABLE.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.encryptionKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      ...(props.stream ? { stream: StreamViewType.NEW_IMAGE } : {}),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Grants what the dedup middleware needs (including TransactWriteItems, via its component actions). */
  grantDedup(grantee: IGrantable): Grant {
    return this.table.grant(grantee, ...DEDUP_ACTIONS);
  }

  /** Points a consumer function at this table (environment) and grants it the dedup actions. */
  bindConsumer(consumer: IFunction): void {
    this.grantDedup(consumer);
    if (consumer instanceof LambdaFunction) {
      consumer.addEnvironment(BROKER_ENV.dedupTableName, this.table.tableName);
      consumer.addEnvironment(BROKER_ENV.dedupRetentionSeconds, String(this.retention.toSeconds()));
    }
  }
}
