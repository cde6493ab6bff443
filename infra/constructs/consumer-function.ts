import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Architecture, type IEventSource, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

export interface ConsumerFunctionProps extends NodejsFunctionProps {
  /** Path of the handler's TypeScript (or JavaScript) file. */
  readonly entry: string;
  /** How long the function's log group keeps logs. @default RetentionDays.ONE_MONTH */
  readonly logGroupRetention?: RetentionDays;
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
    const { logGroupRetention, logRetention: deprecatedLogRetention, xray, ...functionProps } = props;
    const retention = logGroupRetention ?? deprecatedLogRetention ?? RetentionDays.ONE_MONTH;
    const logGroup =
      props.logGroup ?? new LogGroup(scope, `${id}Logs`, { retention, removalPolicy: RemovalPolicy.DESTROY });
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
