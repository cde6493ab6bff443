import { BROKER_ENV } from "../../lambdas/runtime/constants.js";
import type { CfnResource, CfnTemplate } from "../local/apply/cloud-assembly.js";
import { OpsError } from "./errors.js";
import { isTrue, literal, refTarget } from "./template-refs.js";

/** A stack's template, as synthesized (cdk.out) or as deployed (CloudFormation GetTemplate). */
export interface TemplateSource {
  readonly stackName: string;
  readonly template: CfnTemplate;
}

export interface TopicNode {
  readonly stackName: string;
  readonly logicalId: string;
  readonly fifo: boolean;
  /** SNS FIFO message archive retention, in days; replay needs it. */
  readonly archiveRetentionDays?: number;
  /** The consumer groups subscribed to it (by group name). */
  readonly groups: readonly string[];
}

export interface StreamNode {
  readonly stackName: string;
  readonly logicalId: string;
  /** undefined for an on-demand stream. */
  readonly shardCount?: number;
  readonly onDemand: boolean;
  readonly retentionHours: number;
  readonly groups: readonly string[];
}

/** What a group reads: its queue (subscribed to a topic, or standalone), a Kinesis stream or a table's stream. */
export type GroupSource =
  | {
      readonly kind: "queue";
      readonly queue: string;
      readonly fifo: boolean;
      readonly topic?: string;
      readonly subscription?: string;
      readonly filterPolicy?: unknown;
      readonly filterPolicyScope?: string;
      readonly rawMessageDelivery: boolean;
      /** The queue's redrive maxReceiveCount. */
      readonly maxReceiveCount?: number;
    }
  | { readonly kind: "stream"; readonly stream: string; readonly startingPosition?: string }
  | { readonly kind: "table-stream"; readonly table: string };

export interface BatchSettings {
  readonly batchSize?: number;
  readonly maxBatchingWindowSeconds?: number;
  readonly parallelizationFactor?: number;
  readonly maxRetryAttempts?: number;
  readonly maxRecordAgeSeconds?: number;
  readonly bisectOnError?: boolean;
  readonly maxConcurrency?: number;
  readonly reportBatchItemFailures: boolean;
}

export interface GroupNode {
  /** BROKER_CONSUMER_GROUP of its function, or the function's logical id for a plain CDK app. */
  readonly name: string;
  readonly stackName: string;
  /** The function's logical id. */
  readonly function: string;
  /** The event source mapping's logical id. */
  readonly eventSourceMapping: string;
  readonly source: GroupSource;
  /** Where its dead letters go: the queue's redrive target, or the on-failure destination of a stream. */
  readonly deadLetterQueue?: string;
  /** The dedup table of its exactly-once middleware, if the function has one. */
  readonly dedupTable?: string;
  /** A relay of the transactional outbox (it reads the dedup table's stream). */
  readonly outboxRelay: boolean;
  readonly batch: BatchSettings;
}

/** A broker as a tree: topics and streams, the consumer groups on them, and what each group runs. */
export interface Topology {
  readonly stacks: readonly string[];
  readonly topics: readonly TopicNode[];
  readonly streams: readonly StreamNode[];
  readonly groups: readonly GroupNode[];
}

const ESM = "AWS::Lambda::EventSourceMapping";

/**
 * Reads the broker out of CloudFormation templates: every event source mapping is a consumer group (named
 * by its function's BROKER_CONSUMER_GROUP, else the function's logical id), placed under the topic its
 * queue subscribes to or the stream it reads. Works on any CDK app, with or without this package's constructs.
 */
export function readTopology(sources: readonly TemplateSource[]): Topology {
  const topics: TopicNode[] = [];
  const streams: StreamNode[] = [];
  const groups: GroupNode[] = [];
  for (const { stackName, template } of sources) {
    const resources = template.Resources ?? {};
    const of = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
    const stackGroups = of(ESM).flatMap(([logicalId, mapping]) => {
      const group = groupOf(stackName, logicalId, mapping, resources);
      return group ? [group] : [];
    });
    groups.push(...stackGroups);
    for (const [logicalId, topic] of of("AWS::SNS::Topic")) {
      const archive = (topic.Properties?.ArchivePolicy as { MessageRetentionPeriod?: unknown } | undefined)
        ?.MessageRetentionPeriod;
      topics.push({
        stackName,
        logicalId,
        fifo: isTrue(topic.Properties?.FifoTopic),
        ...(archive === undefined ? {} : { archiveRetentionDays: Number(archive) }),
        groups: stackGroups
          .filter((group) => group.source.kind === "queue" && group.source.topic === logicalId)
          .map((group) => group.name),
      });
    }
    for (const [logicalId, stream] of of("AWS::Kinesis::Stream")) {
      const properties = stream.Properties ?? {};
      const onDemand =
        (properties.StreamModeDetails as { StreamMode?: string } | undefined)?.StreamMode === "ON_DEMAND";
      streams.push({
        stackName,
        logicalId,
        onDemand,
        ...(onDemand ? {} : { shardCount: Number(properties.ShardCount ?? 1) }),
        // Kinesis keeps records 24 hours unless the stream says otherwise.
        retentionHours: Number(properties.RetentionPeriodHours ?? 24),
        groups: stackGroups
          .filter((group) => group.source.kind === "stream" && group.source.stream === logicalId)
          .map((group) => group.name),
      });
    }
  }
  return { stacks: sources.map((source) => source.stackName), topics, streams, groups };
}

function groupOf(
  stackName: string,
  logicalId: string,
  mapping: CfnResource,
  resources: Record<string, CfnResource>,
): GroupNode | undefined {
  const properties = mapping.Properties ?? {};
  const functionId = refTarget(properties.FunctionName);
  const sourceId = refTarget(properties.EventSourceArn);
  if (!functionId || !sourceId) return undefined;
  const fn = resources[functionId];
  const sourceResource = resources[sourceId];
  if (!fn || !sourceResource) return undefined;
  const variables =
    (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  const name = literal(variables[BROKER_ENV.consumerGroup]) ?? functionId;
  const onFailure = refTarget(
    (properties.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure
      ?.Destination,
  );

  let source: GroupSource;
  let deadLetterQueue: string | undefined;
  if (sourceResource.Type === "AWS::SQS::Queue") {
    const queue = sourceResource.Properties ?? {};
    const redrive = queue.RedrivePolicy as
      | { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown }
      | undefined;
    const subscription = Object.entries(resources).find(
      ([, resource]) =>
        resource.Type === "AWS::SNS::Subscription" &&
        resource.Properties?.Protocol === "sqs" &&
        refTarget(resource.Properties?.Endpoint) === sourceId,
    );
    const subscriptionProperties = subscription?.[1].Properties ?? {};
    const topic = refTarget(subscriptionProperties.TopicArn);
    source = {
      kind: "queue",
      queue: sourceId,
      fifo: isTrue(queue.FifoQueue),
      ...(subscription ? { subscription: subscription[0] } : {}),
      ...(topic ? { topic } : {}),
      ...(subscriptionProperties.FilterPolicy === undefined
        ? {}
        : { filterPolicy: subscriptionProperties.FilterPolicy }),
      ...(typeof subscriptionProperties.FilterPolicyScope === "string"
        ? { filterPolicyScope: subscriptionProperties.FilterPolicyScope }
        : {}),
      rawMessageDelivery: isTrue(subscriptionProperties.RawMessageDelivery),
      ...(redrive?.maxReceiveCount === undefined ? {} : { maxReceiveCount: Number(redrive.maxReceiveCount) }),
    };
    deadLetterQueue = refTarget(redrive?.deadLetterTargetArn);
  } else if (sourceResource.Type === "AWS::Kinesis::Stream") {
    source = {
      kind: "stream",
      stream: sourceId,
      ...(typeof properties.StartingPosition === "string"
        ? { startingPosition: properties.StartingPosition }
        : {}),
    };
  } else if (sourceResource.Type === "AWS::Kinesis::StreamConsumer") {
    const stream = refTarget(sourceResource.Properties?.StreamARN);
    if (!stream) return undefined;
    source = { kind: "stream", stream };
  } else if (sourceResource.Type === "AWS::DynamoDB::Table") {
    source = { kind: "table-stream", table: sourceId };
  } else {
    return undefined;
  }
  deadLetterQueue ??= onFailure ?? refTarget(variables[BROKER_ENV.deadLetterQueueUrl]);
  const dedupTable = refTarget(variables[BROKER_ENV.dedupTableName]);
  const number = (value: unknown) => (value === undefined ? undefined : Number(value));
  const batch: BatchSettings = dropUndefined({
    batchSize: number(properties.BatchSize),
    maxBatchingWindowSeconds: number(properties.MaximumBatchingWindowInSeconds),
    parallelizationFactor: number(properties.ParallelizationFactor),
    maxRetryAttempts: number(properties.MaximumRetryAttempts),
    maxRecordAgeSeconds: number(properties.MaximumRecordAgeInSeconds),
    bisectOnError:
      properties.BisectBatchOnFunctionError === undefined
        ? undefined
        : isTrue(properties.BisectBatchOnFunctionError),
    maxConcurrency: number(
      (properties.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency,
    ),
    reportBatchItemFailures: ((properties.FunctionResponseTypes as unknown[] | undefined) ?? []).includes(
      "ReportBatchItemFailures",
    ),
  });
  return {
    name,
    stackName,
    function: functionId,
    eventSourceMapping: logicalId,
    source,
    ...(deadLetterQueue ? { deadLetterQueue } : {}),
    ...(dedupTable ? { dedupTable } : {}),
    outboxRelay: source.kind === "table-stream",
    batch,
  };
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}

/** The group by name; a clear error naming the groups there are when it is not one of them. */
export function findGroup(topology: Topology, name: string): GroupNode {
  const matches = topology.groups.filter((group) => group.name === name);
  if (matches.length === 1) return matches[0] as GroupNode;
  const known = topology.groups.map((group) => group.name).join(", ") || "(none)";
  if (matches.length === 0)
    throw new OpsError(
      `No consumer group "${name}" in ${topology.stacks.join(", ")}.`,
      `The groups are: ${known}. \`serverless-broker topology\` shows them all.`,
    );
  throw new OpsError(
    `"${name}" names a consumer group in several stacks (${matches.map((group) => group.stackName).join(", ")}).`,
    "Pass --stack to pick one.",
  );
}
