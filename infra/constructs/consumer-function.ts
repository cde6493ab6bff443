import { Annotations, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { Effect, PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IKey } from "aws-cdk-lib/aws-kms";
import { Architecture, type IEventSource, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct, IConstruct } from "constructs";

export interface ConsumerFunctionProps extends NodejsFunctionProps {
  /** Path of the handler's TypeScript (or JavaScript) file. */
  readonly entry: string;
  /** How long the function's log group keeps logs. @default RetentionDays.ONE_MONTH */
  readonly logGroupRetention?: RetentionDays;
  /**
   * A customer-managed KMS key that encrypts the function's log group. Its policy is given a statement that
   * lets CloudWatch Logs (`logs.<region>.amazonaws.com`) use it for this log group only (the
   * `kms:EncryptionContext:aws:logs:arn` condition); the log group then gets a fixed name, which that
   * condition needs. Ignored when you pass `logGroup`.
   * @default - logs encrypted by CloudWatch Logs' own keys
   */
  readonly logGroupEncryptionKey?: IKey;
  /**
   * What happens to the log group the function is given when it leaves the stack. Logs are not messages:
   * by default they go with the function, and an encrypted log group (whose name is fixed) must, or the next
   * deployment of the same function could not create it again. Ignored when you pass `logGroup`.
   * @default RemovalPolicy.DESTROY
   */
  readonly logGroupRemovalPolicy?: RemovalPolicy;
  /** Active X-Ray tracing. @default false */
  readonly xray?: boolean;
}

/**
 * A NodejsFunction with defaults fit for a message consumer: the current Node.js Lambda runtime (24.x) on
 * ARM64, esbuild bundling to minified ESM with source maps, a log group of its own with a retention (not
 * the deprecated log-retention custom resource), 30 s timeout, 512 MiB. Every prop can be overridden.
 */
export class ConsumerFunction extends NodejsFunction {
  readonly logGroupRetention: RetentionDays;
  private readonly sources: IEventSource[] = [];

  constructor(scope: Construct, id: string, props: ConsumerFunctionProps) {
    // The deprecated `logRetention` (a custom resource) is read as the log group's retention instead.
    const {
      logGroupRetention,
      logRetention: deprecatedLogRetention,
      logGroupEncryptionKey,
      logGroupRemovalPolicy,
      xray,
      ...functionProps
    } = props;
    const retention = logGroupRetention ?? deprecatedLogRetention ?? RetentionDays.ONE_MONTH;
    const removalPolicy = logGroupRemovalPolicy ?? RemovalPolicy.DESTROY;
    const logGroup =
      props.logGroup ??
      (logGroupEncryptionKey
        ? encryptedLogGroup(scope, id, retention, logGroupEncryptionKey, removalPolicy)
        : new LogGroup(scope, `${id}Logs`, { retention, removalPolicy }));
    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      tracing: xray ? Tracing.ACTIVE : Tracing.DISABLED,
      ...functionProps,
      logGroup,
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        format: OutputFormat.ESM,
        target: "node24",
        mainFields: ["module", "main"],
        // Some dependencies still call require(); give the ESM bundle one.
        banner:
          "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        ...props.bundling,
      },
      environment: { NODE_OPTIONS: "--enable-source-maps", ...props.environment },
    });
    this.logGroupRetention = retention;
    if (!xray) {
      Validations.of(this).acknowledge({
        id: "Serverless-LambdaTracing",
        reason: "X-Ray tracing is off by default (it costs per trace); turn it on with xray: true.",
      });
    }
    if (this.role) {
      Validations.of(this.role).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        reason: "Lambda's basic execution role grants only writes to the function's own CloudWatch Logs.",
      });
    }
  }

  /** The event sources added so far (what the function consumes), for checks that depend on them. */
  get eventSources(): readonly IEventSource[] {
    return this.sources;
  }

  override addEventSource(source: IEventSource): void {
    super.addEventSource(source);
    this.sources.push(source);
  }
}

/**
 * A log group encrypted with `key`, whose policy lets CloudWatch Logs use it for this log group only, as in
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html: the service principal
 * `logs.<region>.amazonaws.com`, conditioned on the log group's ARN in the encryption context. The ARN must
 * be known before the log group exists (the group depends on the key), hence a name derived from the path.
 */
function encryptedLogGroup(
  scope: Construct,
  id: string,
  retention: RetentionDays,
  key: IKey,
  removalPolicy: RemovalPolicy,
): LogGroup {
  const stack = Stack.of(scope);
  const logGroupName = `/serverless-broker/${stack.stackName}/${constructPath(scope, id)}`;
  const logGroupArn = `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${logGroupName}`;
  const added = key.addToResourcePolicy(
    new PolicyStatement({
      sid: `AllowCloudWatchLogs${constructPath(scope, id).replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 128),
      effect: Effect.ALLOW,
      principals: [new ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
      resources: ["*"],
      conditions: { ArnEquals: { "kms:EncryptionContext:aws:logs:arn": logGroupArn } },
    }),
  );
  if (!added.statementAdded) {
    Annotations.of(scope).addWarningV2(
      "serverless-broker:logGroupKey",
      `The key of ${constructPath(scope, id)}'s log group cannot be edited here: let logs.${stack.region}.amazonaws.com ` +
        `use it for ${logGroupArn}, or the log group cannot be created.`,
    );
  }
  return new LogGroup(scope, `${id}Logs`, {
    logGroupName,
    retention,
    encryptionKey: key,
    removalPolicy,
  });
}

/** The construct path of `id` under `scope`, below the stack, in the characters a log group name allows. */
function constructPath(scope: IConstruct, id: string): string {
  const stack = Stack.of(scope);
  const ids = scope.node.scopes.slice(scope.node.scopes.indexOf(stack) + 1).map((s) => s.node.id);
  return [...ids, id].join("/").replace(/[^A-Za-z0-9_\-/.#]/g, "-");
}
