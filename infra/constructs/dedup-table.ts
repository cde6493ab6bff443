import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { Grant, type IGrantable } from "aws-cdk-lib/aws-iam";
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
  /**
   * What happens to the table when it leaves the stack. Inside a `MessageBroker`, set the broker's
   * `removalPolicy` instead (a different value here fails synth). @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection: the table cannot be deleted until it is turned off. @default false */
  readonly deletionProtection?: boolean;
}

/**
 * What a consumer group may write on the shared table. The runtime keys a group's dedup records
 * `<group>#<message id>` and a stream group's shard checkpoints `checkpoint#<group>#<shard id>`; outbox rows
 * are `outbox#<message id>`, with no group in the key, so an outbox writer can be scoped to the outbox prefix
 * only, not to its own rows (the relay's IAM limits where those rows can be published).
 */
export interface DedupAccess {
  /** The consumer group: its dedup records, `<group>#*`. */
  readonly group: string;
  /** Also the group's Kinesis shard checkpoints, `checkpoint#<group>#*`. @default false */
  readonly checkpoints?: boolean;
  /** Also outbox rows, `outbox#*` (transactional mode with `transaction.publish`). @default false */
  readonly outbox?: boolean;
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
      deletionProtection: props.deletionProtection ?? false,
    });
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** The partition-key patterns (IAM StringLike) `access` may read and write. */
  static keyPatterns(access: DedupAccess): string[] {
    return [
      `${access.group}#*`,
      ...(access.checkpoints ? [`${DEDUP_TABLE.checkpointPrefix}${access.group}#*`] : []),
      ...(access.outbox ? [`${DEDUP_TABLE.outboxPrefix}*`] : []),
    ];
  }

  /**
   * Grants what the dedup middleware needs (GetItem, BatchGetItem, PutItem, UpdateItem, DeleteItem,
   * BatchWriteItem, ConditionCheckItem; TransactWriteItems is authorised through these component actions),
   * only on the items whose partition key matches the group's prefixes (`dynamodb:LeadingKeys`), so that one
   * group cannot forge another's records, checkpoints or outbox rows; plus kms:Decrypt and
   * kms:GenerateDataKey* (via the key's encrypt/decrypt grant) when the table has a customer-managed key.
   */
  grantDedup(grantee: IGrantable, access: DedupAccess): Grant {
    // DynamoDB fine-grained access control: "ForAllValues:StringLike" on dynamodb:LeadingKeys, per
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
    const grant = Grant.addToPrincipal({
      grantee,
      actions: DEDUP_ACTIONS,
      resourceArns: [this.table.tableArn],
      conditions: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": DedupTable.keyPatterns(access) } },
    });
    // Table.grant adds the key only for its own grants on some paths; a dedup call on a CMK table without
    // it is denied, so grant it explicitly.
    this.table.encryptionKey?.grantEncryptDecrypt(grantee);
    return grant;
  }

  /**
   * Lets `grantee` read one group's dedup records and checkpoints (GetItem, BatchGetItem; `dynamodb:LeadingKeys`
   * scoped like `grantDedup`), and decrypt them: for tools that ask whether a message was completed, such as
   * dead-letter redrive. No writes.
   */
  grantReadGroup(grantee: IGrantable, group: string): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem"],
      resourceArns: [this.table.tableArn],
      conditions: {
        "ForAllValues:StringLike": {
          "dynamodb:LeadingKeys": DedupTable.keyPatterns({ group, checkpoints: true }),
        },
      },
    });
    this.table.encryptionKey?.grantDecrypt(grantee);
    return grant;
  }

  /** Points a consumer function at this table (environment) and grants it its group's keys. */
  bindConsumer(consumer: IFunction, access: DedupAccess): void {
    this.grantDedup(consumer, access);
    if (consumer instanceof LambdaFunction) {
      consumer.addEnvironment(BROKER_ENV.dedupTableName, this.table.tableName);
      consumer.addEnvironment(BROKER_ENV.dedupRetentionSeconds, String(this.retention.toSeconds()));
    }
  }
}
