import { SetSubscriptionAttributesCommand } from "@aws-sdk/client-sns";
import type { Broker } from "./broker.js";
import { OpsError } from "./errors.js";
import { findGroup } from "./topology.js";

export interface TopicReplayReport {
  readonly topic: string;
  readonly group: string;
  readonly subscription: string;
  readonly replayPolicy: { PointType: "Timestamp"; StartingPoint: string; EndingPoint?: string };
  readonly dryRun: boolean;
}

/**
 * Replays an SNS FIFO topic's archive to one group's subscription: sets the subscription's ReplayPolicy,
 * and SNS redelivers the archived messages from that time to that subscription alone.
 * https://docs.aws.amazon.com/sns/latest/dg/message-archiving-and-replay-subscriber.html
 */
export async function replayTopic(
  broker: Broker,
  options: { topic: string; group: string; from: Date; to?: Date; dryRun?: boolean },
): Promise<TopicReplayReport> {
  const group = findGroup(broker.topology, options.group);
  const topic = broker.topology.topics.find(
    (candidate) => candidate.stackName === group.stackName && candidate.logicalId === options.topic,
  );
  if (!topic || group.source.kind !== "queue" || group.source.topic !== topic.logicalId)
    throw new OpsError(
      `The group ${group.name} is not subscribed to the topic ${options.topic}.`,
      "`serverless-broker topology` shows which groups each topic has.",
    );
  if (!topic.fifo || !topic.archiveRetentionDays)
    throw new OpsError(
      `The topic ${topic.logicalId} has no message archive (only SNS FIFO topics keep one, with an ArchivePolicy), so there is nothing to replay.`,
      "Give the topic an archive (archivePolicy on the construct) for messages published from then on.",
    );
  if (broker.target === "local")
    throw new OpsError(
      `The local cloud's SNS emulator keeps no message archive, so the topic ${topic.logicalId} cannot be replayed locally.`,
      "Replay a topic on AWS (--stack NAME without AWS_ENDPOINT_URL); locally, `serverless-broker dlq redrive` sends a group's dead letters back.",
    );
  if (!group.source.subscription)
    throw new OpsError(`The group ${group.name} has no subscription in the template.`, "");
  const subscription = await broker.physicalId(group.stackName, group.source.subscription);
  const replayPolicy = {
    PointType: "Timestamp" as const,
    StartingPoint: options.from.toISOString(),
    ...(options.to ? { EndingPoint: options.to.toISOString() } : {}),
  };
  if (!options.dryRun)
    await broker.clients.sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: subscription,
        AttributeName: "ReplayPolicy",
        AttributeValue: JSON.stringify(replayPolicy),
      }),
    );
  return {
    topic: topic.logicalId,
    group: group.name,
    subscription,
    replayPolicy,
    dryRun: options.dryRun === true,
  };
}
