import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { BatchSummary } from "../../../lambdas/runtime/consumers/observability.js";
import type { AppliedStack, EventSourceMappingResource, FunctionResource } from "../apply/apply-template.js";
import { LOCAL_STREAM_ARN_ATTRIBUTE } from "../apply/provisioners/dynamodb.js";
import {
  LOCAL_DELIVERY_QUEUE_URL,
  LOCAL_SUBSCRIBED_FUNCTION,
  LOCAL_SUBSCRIBED_TOPIC,
} from "../apply/provisioners/sns.js";
import { LOCAL_RETRY_DELAY_ATTRIBUTE, LOCAL_VISIBILITY_ATTRIBUTE } from "../apply/provisioners/sqs.js";
import { withLambdaModuleScope } from "./code-directory.js";
import { ASYNC_DEFAULTS, type AsyncInvokeSettings } from "./event-sources/async-invocation.js";
import type { OnFailureDestination } from "./event-sources/on-failure.js";
import { settingsOf } from "./event-sources/settings.js";
import { DynamoDbShardSource, KinesisShardSource, type ShardSource } from "./event-sources/shard-source.js";
import { SnsSubscriptionPoller } from "./event-sources/sns-subscription.js";
import { SqsPoller } from "./event-sources/sqs-poller.js";
import { StreamPoller } from "./event-sources/stream-poller.js";
import {
  DEFAULT_MAX_ENVIRONMENTS,
  FunctionHost,
  FunctionInitError,
  type FunctionSpec,
} from "./function-host.js";

export type RuntimeEvent =
  | {
      readonly kind: "function-started";
      readonly logicalId: string;
      readonly logFile: string;
      readonly ms: number;
    }
  | { readonly kind: "function-failed"; readonly logicalId: string; readonly reason: string }
  /** Its init failed at start; it stays in place, each invocation retrying the init, as Lambda does. */
  | { readonly kind: "function-init-failed"; readonly logicalId: string; readonly reason: string }
  /** Not run locally, and rightly so (CDK's deployment-time handlers). */
  | { readonly kind: "function-skipped"; readonly logicalId: string; readonly reason: string }
  | { readonly kind: "event-source-started"; readonly logicalId: string; readonly description: string }
  | { readonly kind: "event-source-skipped"; readonly logicalId: string; readonly reason: string }
  | { readonly kind: "poll-error"; readonly logicalId: string; readonly error: string };

export interface LocalRuntimeOptions {
  /** The endpoint the functions and pollers use. */
  readonly endpoint: string;
  readonly environment: Readonly<Record<string, string>>;
  /** Function logs: `<logDir>/<stack name>/<logical id>.log`. */
  readonly logDir: string;
  /** Extra variables for every function (e.g. chaos settings). */
  readonly extraEnvironment?: Readonly<Record<string, string>>;
  readonly onEvent?: (event: RuntimeEvent) => void;
  /** Start only these functions (logical ids) and no event source or subscription. */
  readonly onlyFunctions?: readonly string[];
}

type Poller = SqsPoller | StreamPoller | SnsSubscriptionPoller;

/**
 * Runs a stack's Lambda functions in-process (a worker thread each) and plays its event source mappings
 * against the local cloud with AWS's semantics. A function that does not load, or an event source whose
 * source was skipped, is reported by logical id and left out; the rest runs.
 */
export class LocalRuntime {
  readonly functions = new Map<string, FunctionHost>();
  readonly pollers = new Map<string, { poller: Poller; functionLogicalId: string; source: string }>();
  /** Functions not run (another runtime, code not in the assembly): their event sources say nothing more. */
  private readonly notRun = new Set<string>();
  private readonly clients;

  private constructor(
    private readonly stack: AppliedStack,
    private readonly options: LocalRuntimeOptions,
  ) {
    const config = { region: stack.region, endpoint: options.endpoint };
    this.clients = {
      sqs: new SQSClient(config),
      sns: new SNSClient(config),
      kinesis: new KinesisClient(config),
      dynamodbStreams: new DynamoDBStreamsClient(config),
    };
  }

  get stackName(): string {
    return this.stack.stackName;
  }

  static async start(stack: AppliedStack, options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const runtime = new LocalRuntime(stack, options);
    const only = options.onlyFunctions;
    if (only) {
      // A tool that invokes the functions itself (replay): no event source, or the live app's would run twice.
      await Promise.all(
        stack.functions.filter((fn) => only.includes(fn.logicalId)).map((fn) => runtime.startFunction(fn)),
      );
      return runtime;
    }
    await Promise.all(stack.functions.map((fn) => runtime.startFunction(fn)));
    for (const mapping of stack.eventSourceMappings) await runtime.startEventSource(mapping);
    runtime.startSnsSubscriptions();
    return runtime;
  }

  /** Summaries of every batch the functions' consumer wrappers processed. */
  onBatchSummary(listener: (functionLogicalId: string, summary: BatchSummary) => void): void {
    for (const [logicalId, host] of this.functions)
      host.onBatchSummary((summary) => listener(logicalId, summary));
  }

  /**
   * After a new synth: restarts the functions whose bundle changed, on the new code. Returns their
   * logical ids. The topology itself is not re-applied.
   */
  async reloadChangedCode(
    stacks: ReadonlyArray<{
      template: { Resources?: Record<string, { Metadata?: Record<string, unknown> }> };
      assemblyDir: string;
    }>,
  ): Promise<string[]> {
    const reloaded: string[] = [];
    for (const stack of stacks) {
      for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
        const host = this.functions.get(logicalId);
        const assetPath = resource.Metadata?.["aws:asset:path"];
        if (!host || typeof assetPath !== "string") continue;
        const codeDir = withLambdaModuleScope(resolve(stack.assemblyDir, assetPath), stack.assemblyDir);
        if (codeDir === host.spec.codeDir) continue;
        await host.reload(codeDir);
        reloaded.push(logicalId);
      }
    }
    return reloaded;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pollers.values()].map(({ poller }) => poller.stop()));
    await Promise.all([...this.functions.values()].map((host) => host.stop()));
    for (const client of Object.values(this.clients)) client.destroy();
  }

  private async startFunction(fn: FunctionResource): Promise<void> {
    const fail = (reason: string) => {
      this.notRun.add(fn.logicalId);
      this.options.onEvent?.({ kind: "function-failed", logicalId: fn.logicalId, reason });
    };
    if (fn.deploymentTime) {
      this.notRun.add(fn.logicalId);
      return this.options.onEvent?.({
        kind: "function-skipped",
        logicalId: fn.logicalId,
        reason: `${fn.deploymentTime}: CloudFormation calls it only while deploying`,
      });
    }
    if (fn.problem) return fail(`${fn.problem}; fix the template and restart`);
    const runtime = String(fn.properties.Runtime ?? "");
    const sources = this.stack.eventSourceMappings.filter(
      (mapping) => this.functionOf(String(mapping.properties.FunctionName)) === fn.logicalId,
    ).length;
    if (!runtime.startsWith("nodejs"))
      return fail(
        `runtime ${runtime || "(container image)"} is not run locally, only Node.js functions are; its queues, streams and tables exist and can be inspected${sources > 0 ? `, but its ${sources} event source(s) deliver nothing` : ""}`,
      );
    const codeDir = this.codeDirOf(fn);
    if (!codeDir)
      return fail(
        "its code is not in the cloud assembly (an S3 object or a container image); run `cdk synth` with bundling, or use inline code",
      );
    const reserved = fn.properties.ReservedConcurrentExecutions;
    if (reserved !== undefined && Number(reserved) === 0)
      return fail("its reserved concurrency is 0: Lambda throttles every invocation of it");
    const resource = this.stack.resources.get(fn.logicalId);
    const functionName = resource?.ref ?? fn.logicalId;
    const memoryMb = Number(fn.properties.MemorySize ?? 128);
    const spec: FunctionSpec = {
      logicalId: fn.logicalId,
      functionName,
      functionArn: resource?.attributes.Arn ?? functionName,
      runtime,
      handler: String(fn.properties.Handler ?? "index.handler"),
      codeDir,
      timeoutMs: Number(fn.properties.Timeout ?? 3) * 1000,
      memoryMb,
      endpoint: this.options.endpoint,
      maxEnvironments: reserved === undefined ? DEFAULT_MAX_ENVIRONMENTS : Number(reserved),
      environment: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        ...this.options.environment,
        AWS_REGION: this.stack.region,
        AWS_DEFAULT_REGION: this.stack.region,
        AWS_LAMBDA_FUNCTION_NAME: functionName,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
        LAMBDA_TASK_ROOT: codeDir,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        ...((fn.properties.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ??
          {}),
        ...this.options.extraEnvironment,
      },
    };
    // Two stacks may have functions of the same logical id: one log folder a stack.
    const host = new FunctionHost(spec, join(this.options.logDir, this.stack.stackName));
    this.functions.set(fn.logicalId, host);
    const started = performance.now();
    try {
      await host.start();
      this.options.onEvent?.({
        kind: "function-started",
        logicalId: fn.logicalId,
        logFile: host.logFile,
        ms: Math.round(performance.now() - started),
      });
    } catch (error) {
      if (!(error instanceof FunctionInitError)) throw error;
      // Lambda keeps such a function: each invocation tries the init again and fails, so its event
      // sources go on polling and their records take the retries and dead-letter path.
      this.options.onEvent?.({
        kind: "function-init-failed",
        logicalId: fn.logicalId,
        reason: `${error.message}; each invocation retries the init, and its event sources keep polling (failed records go to their DLQ or on-failure destination); see ${host.logFile}`,
      });
    }
  }

  /** The handler's directory: the bundle CDK built (asset metadata) or inline code written out. */
  private codeDirOf(fn: FunctionResource): string | undefined {
    const assetPath = fn.metadata?.["aws:asset:path"];
    if (typeof assetPath === "string")
      return withLambdaModuleScope(resolve(this.stack.assemblyDir, assetPath), this.stack.assemblyDir);
    const inline = (fn.properties.Code as { ZipFile?: string } | undefined)?.ZipFile;
    if (typeof inline !== "string") return undefined;
    // Under the cloud assembly, so that `require("@aws-sdk/…")` resolves from the project's node_modules,
    // as the Lambda runtime provides the SDK to inline code.
    const dir = join(this.stack.assemblyDir, "local-inline-code", fn.logicalId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "index.js"), inline);
    // Lambda runs inline code as CommonJS, whatever the enclosing project's module type.
    writeFileSync(join(dir, "package.json"), '{ "type": "commonjs" }\n');
    return dir;
  }

  private async startEventSource(mapping: EventSourceMappingResource): Promise<void> {
    const skip = (reason: string) =>
      this.options.onEvent?.({ kind: "event-source-skipped", logicalId: mapping.logicalId, reason });
    if (mapping.problem) return skip(`${mapping.problem}; fix the template and restart`);
    const properties = mapping.properties;
    if (properties.Enabled === false || properties.Enabled === "false")
      return skip("it is disabled in the template");
    const functionLogicalId = this.functionOf(String(properties.FunctionName));
    if (functionLogicalId && this.notRun.has(functionLogicalId)) return; // said once, with its function
    const host = functionLogicalId ? this.functions.get(functionLogicalId) : undefined;
    if (!host)
      return skip(
        `its function ${functionLogicalId ?? String(properties.FunctionName)} is not running (see above)`,
      );

    const arn = String(properties.EventSourceArn);
    const source = this.sourceOf(arn);
    if (!source) {
      return skip(
        `it reads ${arn}, which the local cloud did not create (see the skipped resources above); its function ${functionLogicalId} runs but gets no events`,
      );
    }
    const onFailure = this.onFailureOf(
      (properties.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)?.OnFailure
        ?.Destination,
    );
    const onError = (error: unknown) =>
      this.options.onEvent?.({
        kind: "poll-error",
        logicalId: mapping.logicalId,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    let poller: Poller;
    if (source.kind === "sqs") {
      poller = new SqsPoller(
        settingsOf(mapping.logicalId, properties, "sqs", onFailure),
        source,
        host,
        this.clients.sqs,
        this.stack.region,
        onError,
      );
      poller.start();
    } else {
      poller = new StreamPoller(
        settingsOf(mapping.logicalId, properties, "stream", onFailure),
        source.shards,
        host,
        this.clients,
        onError,
      );
      await poller.start();
    }
    this.pollers.set(mapping.logicalId, {
      poller,
      functionLogicalId: functionLogicalId as string,
      source: source.description,
    });
    this.options.onEvent?.({
      kind: "event-source-started",
      logicalId: mapping.logicalId,
      description: `${source.description} → ${functionLogicalId}`,
    });
  }

  /** SNS subscriptions of protocol lambda: each notification an asynchronous invocation. */
  private startSnsSubscriptions(): void {
    for (const [logicalId, resource] of this.stack.resources) {
      const deliveryQueueUrl = resource.attributes[LOCAL_DELIVERY_QUEUE_URL];
      if (resource.type !== "AWS::SNS::Subscription" || !deliveryQueueUrl) continue;
      const subscription = {
        endpoint: resource.attributes[LOCAL_SUBSCRIBED_FUNCTION] ?? "",
        topicArn: resource.attributes[LOCAL_SUBSCRIBED_TOPIC] ?? "",
      };
      const functionLogicalId = this.functionOf(subscription.endpoint);
      if (functionLogicalId && this.notRun.has(functionLogicalId)) continue;
      const host = functionLogicalId ? this.functions.get(functionLogicalId) : undefined;
      if (!host) {
        this.options.onEvent?.({
          kind: "event-source-skipped",
          logicalId,
          reason: `its function ${subscription.endpoint} is not running (see above)`,
        });
        continue;
      }
      const poller = new SnsSubscriptionPoller(
        { arn: resource.ref, topicArn: subscription.topicArn, deliveryQueueUrl },
        host,
        this.asyncSettingsOf(functionLogicalId as string),
        this.clients,
        (error) =>
          this.options.onEvent?.({
            kind: "poll-error",
            logicalId,
            error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          }),
      );
      poller.start();
      const topic = subscription.topicArn.split(":").pop();
      this.pollers.set(logicalId, {
        poller,
        functionLogicalId: functionLogicalId as string,
        source: `topic ${topic}`,
      });
      this.options.onEvent?.({
        kind: "event-source-started",
        logicalId,
        description: `topic ${topic} → ${functionLogicalId} (asynchronous invocations)`,
      });
    }
  }

  /** The function's EventInvokeConfig and DeadLetterConfig, with Lambda's defaults. */
  private asyncSettingsOf(functionLogicalId: string): AsyncInvokeSettings {
    const fn = this.stack.functions.find((candidate) => candidate.logicalId === functionLogicalId);
    const config = this.stack.eventInvokeConfigs.find(
      (candidate) => this.functionOf(String(candidate.properties.FunctionName)) === functionLogicalId,
    )?.properties;
    const destination = (config?.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)
      ?.OnFailure?.Destination;
    const deadLetter = (fn?.properties.DeadLetterConfig as { TargetArn?: string } | undefined)?.TargetArn;
    return {
      ...ASYNC_DEFAULTS,
      ...(config?.MaximumRetryAttempts !== undefined
        ? { maxRetryAttempts: Number(config.MaximumRetryAttempts) }
        : {}),
      ...(config?.MaximumEventAgeInSeconds !== undefined
        ? { maxEventAgeSeconds: Number(config.MaximumEventAgeInSeconds) }
        : {}),
      onFailure: this.onFailureOf(destination),
      deadLetter: this.onFailureOf(deadLetter),
    };
  }

  private functionOf(nameOrArn: string): string | undefined {
    for (const fn of this.stack.functions) {
      const resource = this.stack.resources.get(fn.logicalId);
      if (
        resource &&
        (resource.ref === nameOrArn ||
          resource.attributes.Arn === nameOrArn ||
          fn.logicalId === nameOrArn ||
          // A qualified ARN (`…:function:name:$LATEST`, an alias or version).
          nameOrArn.startsWith(`${resource.attributes.Arn}:`))
      )
        return fn.logicalId;
    }
    return undefined;
  }

  private sourceOf(arn: string):
    | ((
        | {
            kind: "sqs";
            queueUrl: string;
            queueArn: string;
            visibilityTimeoutSeconds: number;
            retryDelaySeconds: number;
          }
        | { kind: "stream"; shards: ShardSource }
      ) & {
        description: string;
      })
    | undefined {
    for (const [logicalId, resource] of this.stack.resources) {
      if (resource.type === "AWS::SQS::Queue" && resource.attributes.Arn === arn) {
        return {
          kind: "sqs",
          queueUrl: resource.ref,
          queueArn: arn,
          visibilityTimeoutSeconds: Number(resource.attributes[LOCAL_VISIBILITY_ATTRIBUTE] ?? 30),
          retryDelaySeconds: Number(
            resource.attributes[LOCAL_RETRY_DELAY_ATTRIBUTE] ??
              resource.attributes[LOCAL_VISIBILITY_ATTRIBUTE] ??
              30,
          ),
          description: `queue ${logicalId}`,
        };
      }
      if (resource.type === "AWS::Kinesis::Stream" && resource.attributes.Arn === arn) {
        return {
          kind: "stream",
          shards: new KinesisShardSource(this.clients.kinesis, arn, this.stack.region),
          description: `stream ${logicalId}`,
        };
      }
      if (resource.type === "AWS::Kinesis::StreamConsumer" && resource.attributes.ConsumerARN === arn) {
        const streamArn = resource.attributes.StreamARN as string;
        return {
          kind: "stream",
          shards: new KinesisShardSource(this.clients.kinesis, streamArn, this.stack.region),
          description: `stream consumer ${logicalId}`,
        };
      }
      if (resource.type === "AWS::DynamoDB::Table" && resource.attributes.StreamArn === arn) {
        return {
          kind: "stream",
          shards: new DynamoDbShardSource(
            this.clients.dynamodbStreams,
            arn,
            this.stack.region,
            resource.attributes[LOCAL_STREAM_ARN_ATTRIBUTE] ?? arn,
          ),
          description: `table stream ${logicalId}`,
        };
      }
    }
    return undefined;
  }

  private onFailureOf(destination: string | undefined): OnFailureDestination | undefined {
    if (!destination) return undefined;
    for (const resource of this.stack.resources.values()) {
      if (resource.type === "AWS::SQS::Queue" && resource.attributes.Arn === destination)
        return { queueUrl: resource.ref };
      if (resource.type === "AWS::SNS::Topic" && resource.ref === destination)
        return { topicArn: destination };
      // A queue created by the app but named by ARN through a placeholder-free template.
      if (resource.type === "AWS::SQS::Queue" && resource.attributes.QueueUrl === destination)
        return { queueUrl: destination };
    }
    return undefined;
  }
}
