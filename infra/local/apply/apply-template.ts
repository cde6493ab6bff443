import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { CfnResource, StackTemplate } from "./cloud-assembly.js";
import { unhonouredProperties } from "./honoured-properties.js";
import { type ResolutionContext, referencedIds, resolve, UnresolvableError } from "./intrinsics.js";
import type { ProvisionContext, Provisioned, Provisioner } from "./provisioner.js";
import { createTable } from "./provisioners/dynamodb.js";
import { createStream, createStreamConsumer } from "./provisioners/kinesis.js";
import { createSubscription, createTopic, SkipResource } from "./provisioners/sns.js";
import { createQueue } from "./provisioners/sqs.js";
import {
  deploymentTimeHandlers,
  EVENT_INVOKE_CONFIG_TYPE,
  EVENT_SOURCE_MAPPING_TYPE,
  FUNCTION_TYPE,
  placeholderOf,
  SKIPPED_TYPES,
} from "./skipped-types.js";

export const PROVISIONERS: Readonly<Record<string, Provisioner>> = {
  "AWS::SQS::Queue": createQueue,
  "AWS::SNS::Topic": createTopic,
  "AWS::SNS::Subscription": createSubscription,
  "AWS::Kinesis::Stream": createStream,
  "AWS::Kinesis::StreamConsumer": createStreamConsumer,
  "AWS::DynamoDB::Table": createTable,
};

export type ApplyEvent =
  | {
      readonly kind: "created";
      readonly logicalId: string;
      readonly type: string;
      readonly ref: string;
      readonly detail: string;
    }
  | { readonly kind: "skipped"; readonly logicalId: string; readonly type: string; readonly reason: string }
  | { readonly kind: "failed"; readonly logicalId: string; readonly type: string; readonly reason: string };

export interface ApplyOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly accountId?: string;
  /** Lower queue visibility timeouts above this many seconds (retries come sooner). @default - keep them */
  readonly maxVisibilityTimeoutSeconds?: number;
  /** Told each resource created, skipped or failed, as it happens. */
  readonly onEvent?: (event: ApplyEvent) => void;
}

/** A Lambda function of the template, resolved for the runner. */
export interface FunctionResource {
  readonly logicalId: string;
  readonly properties: Record<string, unknown>;
  readonly metadata: Record<string, unknown> | undefined;
  /** What could not be resolved in its properties (the function cannot run as written). */
  readonly problem?: string;
  /**
   * Set for the handlers CDK adds that run only while CloudFormation deploys (custom resource providers,
   * bucket notifications): what they are. The runner does not run them and does not call them failures.
   */
  readonly deploymentTime?: string;
}

/** An AWS::Lambda::EventInvokeConfig: retries and destinations of asynchronous invocations (SNS). */
export interface EventInvokeConfigResource {
  readonly logicalId: string;
  readonly properties: Record<string, unknown>;
}

export interface EventSourceMappingResource {
  readonly logicalId: string;
  readonly properties: Record<string, unknown>;
  readonly problem?: string;
}

export interface AppliedStack {
  readonly stackName: string;
  readonly assemblyDir: string;
  readonly region: string;
  readonly accountId: string;
  /** Ref values and attributes of everything created or given a placeholder, by logical id. */
  readonly resources: ReadonlyMap<string, Provisioned & { readonly type: string }>;
  readonly skipped: ReadonlyArray<{ logicalId: string; type: string; reason: string }>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly functions: readonly FunctionResource[];
  readonly eventSourceMappings: readonly EventSourceMappingResource[];
  readonly eventInvokeConfigs: readonly EventInvokeConfigResource[];
}

/**
 * Creates the messaging resources of a synthesized CloudFormation template on the endpoint (SNS topics
 * and subscriptions, SQS queues, Kinesis streams and consumers, DynamoDB tables) in dependency order,
 * resolving intrinsics; says what it skipped and why; and hands the functions and event source mappings,
 * resolved, to the runner. Works for any CDK app using these resource types.
 */
export async function applyTemplate(stack: StackTemplate, options: ApplyOptions = {}): Promise<AppliedStack> {
  const region = options.region ?? process.env.AWS_REGION ?? "us-east-1";
  const accountId = options.accountId ?? "000000000000";
  const clientConfig = { region, ...(options.endpoint ? { endpoint: options.endpoint } : {}) };
  const clients = {
    sqs: new SQSClient(clientConfig),
    sns: new SNSClient(clientConfig),
    kinesis: new KinesisClient(clientConfig),
    dynamodb: new DynamoDBClient(clientConfig),
  };
  const resources = new Map<string, Provisioned & { type: string }>();
  // Any attribute of a resource given a placeholder resolves (a custom resource's outputs, say).
  const placeholderAttributes = new Map<string, (attribute: string) => string>();
  const skipped: Array<{ logicalId: string; type: string; reason: string }> = [];
  const functions: FunctionResource[] = [];
  const eventSourceMappings: EventSourceMappingResource[] = [];
  const eventInvokeConfigs: EventInvokeConfigResource[] = [];
  const template = stack.template;
  const deploymentTime = deploymentTimeHandlers(template.Resources ?? {});
  const parameters = Object.fromEntries(
    Object.entries(template.Parameters ?? {}).map(([name, parameter]) => [name, parameter.Default]),
  );
  const context: ResolutionContext = {
    region,
    accountId,
    stackName: stack.stackName,
    ref: (logicalId) => resources.get(logicalId)?.ref ?? parameters[logicalId],
    getAtt: (logicalId, attribute) =>
      resources.get(logicalId)?.attributes[attribute] ?? placeholderAttributes.get(logicalId)?.(attribute),
    condition: (name) => {
      const definition = template.Conditions?.[name];
      return definition === undefined ? undefined : resolve(definition, context) === true;
    },
  };
  const skip = (logicalId: string, type: string, reason: string) => {
    skipped.push({ logicalId, type, reason });
    options.onEvent?.({ kind: "skipped", logicalId, type, reason });
  };

  for (const [logicalId, resource] of dependencyOrder(template.Resources ?? {})) {
    if (resource.Condition && context.condition(resource.Condition) === false) continue;
    const names = { stackName: stack.stackName, logicalId, region, accountId };
    if (resource.Type === FUNCTION_TYPE || resource.Type === EVENT_SOURCE_MAPPING_TYPE) {
      const functionName = `${stack.stackName}-${logicalId}`.slice(0, 64);
      resources.set(logicalId, {
        type: resource.Type,
        ref: resource.Type === FUNCTION_TYPE ? functionName : logicalId,
        attributes:
          resource.Type === FUNCTION_TYPE
            ? { Arn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}` }
            : {},
        detail: "",
      });
      const resolved = resolveProperties(resource, context);
      const entry = {
        logicalId,
        properties: resolved.properties,
        ...(resolved.problem ? { problem: resolved.problem } : {}),
      };
      if (resource.Type === FUNCTION_TYPE) {
        const handler = deploymentTime.get(logicalId);
        functions.push({
          ...entry,
          metadata: resource.Metadata,
          ...(handler ? { deploymentTime: handler } : {}),
        });
      } else eventSourceMappings.push(entry);
      continue;
    }
    if (resource.Type === EVENT_INVOKE_CONFIG_TYPE) {
      resources.set(logicalId, { type: resource.Type, ref: logicalId, attributes: {}, detail: "" });
      const resolved = resolveProperties(resource, context);
      if (!resolved.problem) eventInvokeConfigs.push({ logicalId, properties: resolved.properties });
      continue;
    }
    const skippedType = SKIPPED_TYPES[resource.Type];
    const provisioner = PROVISIONERS[resource.Type];
    if (skippedType || !provisioner) {
      // Not created, but references to it resolve to plausible values, so that what uses it still starts.
      const placeholder = placeholderOf(resource.Type, names);
      resources.set(logicalId, { type: resource.Type, ...placeholder.provisioned });
      placeholderAttributes.set(logicalId, placeholder.attribute);
      if (resource.Type === "AWS::CDK::Metadata") continue;
      skip(
        logicalId,
        resource.Type,
        skippedType?.reason ??
          `${resource.Type} is not a resource type the local cloud emulates; references to it resolve to placeholder values (${placeholder.provisioned.ref})`,
      );
      continue;
    }
    const resolved = resolveProperties(resource, context);
    if (resolved.problem) {
      skip(
        logicalId,
        resource.Type,
        `${resolved.problem}; fix the template, or use LocalStack (AWS_ENDPOINT_URL) for this resource`,
      );
      continue;
    }
    const provisionContext: ProvisionContext = {
      ...names,
      clients,
      maxVisibilityTimeoutSeconds: options.maxVisibilityTimeoutSeconds,
    };
    try {
      const provisioned = await provisioner(resolved.properties, provisionContext);
      resources.set(logicalId, { type: resource.Type, ...provisioned });
      const unhonoured = unhonouredProperties(resource.Type, resolved.properties);
      options.onEvent?.({
        kind: "created",
        logicalId,
        type: resource.Type,
        ref: provisioned.ref,
        detail: [
          provisioned.detail,
          unhonoured.length > 0 ? `not honoured locally: ${unhonoured.join(", ")}` : "",
        ]
          .filter(Boolean)
          .join("; "),
      });
    } catch (error) {
      if (error instanceof SkipResource) {
        skip(logicalId, resource.Type, error.message);
      } else {
        const reason = `${(error as Error).name}: ${(error as Error).message}`;
        skipped.push({ logicalId, type: resource.Type, reason });
        options.onEvent?.({ kind: "failed", logicalId, type: resource.Type, reason });
      }
    }
  }

  const outputs: Record<string, string> = {};
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    try {
      outputs[name] = String(resolve(output.Value, context));
    } catch {
      // An output of a skipped resource: left out.
    }
  }
  for (const client of Object.values(clients)) client.destroy();
  return {
    stackName: stack.stackName,
    assemblyDir: stack.assemblyDir,
    region,
    accountId,
    resources,
    skipped,
    outputs,
    functions,
    eventSourceMappings,
    eventInvokeConfigs,
  };
}

function resolveProperties(
  resource: CfnResource,
  context: ResolutionContext,
): { properties: Record<string, unknown>; problem?: string } {
  try {
    return { properties: (resolve(resource.Properties ?? {}, context) ?? {}) as Record<string, unknown> };
  } catch (error) {
    if (!(error instanceof UnresolvableError)) throw error;
    return { properties: {}, problem: `its properties cannot be resolved: ${error.message}` };
  }
}

/** Resources ordered so that each comes after what it references (Ref, GetAtt, Sub, DependsOn). */
function dependencyOrder(resources: Record<string, CfnResource>): Array<[string, CfnResource]> {
  const ordered: Array<[string, CfnResource]> = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (logicalId: string) => {
    const resource = resources[logicalId];
    if (!resource || state.get(logicalId)) return;
    state.set(logicalId, "visiting");
    const dependsOn = resource.DependsOn === undefined ? [] : ([] as string[]).concat(resource.DependsOn);
    for (const dependency of [...referencedIds(resource.Properties), ...dependsOn]) {
      if (state.get(dependency) !== "visiting") visit(dependency);
    }
    state.set(logicalId, "done");
    ordered.push([logicalId, resource]);
  };
  for (const logicalId of Object.keys(resources)) visit(logicalId);
  return ordered;
}
