import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  RegisterStreamConsumerCommand,
} from "@aws-sdk/client-kinesis";
import { type Provisioner, physicalName } from "../provisioner.js";

/** AWS::Kinesis::Stream: provisioned shards or on demand, retention. Encryption is not emulated. */
export const createStream: Provisioner = async (properties, context) => {
  const name =
    (properties.Name as string | undefined) ?? physicalName(context.stackName, context.logicalId, 128);
  const onDemand =
    (properties.StreamModeDetails as { StreamMode?: string } | undefined)?.StreamMode === "ON_DEMAND";
  const shardCount = Number(properties.ShardCount ?? 1);
  try {
    await context.clients.kinesis.send(
      new CreateStreamCommand(
        onDemand
          ? { StreamName: name, StreamModeDetails: { StreamMode: "ON_DEMAND" } }
          : { StreamName: name, ShardCount: shardCount },
      ),
    );
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
  }
  const summary = await waitUntilActive(context, name);
  const retention = Number(properties.RetentionPeriodHours ?? 24);
  if (retention > (summary.RetentionPeriodHours ?? 24)) {
    await context.clients.kinesis.send(
      new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: retention }),
    );
  }
  return {
    ref: name,
    attributes: { Arn: summary.StreamARN as string },
    detail: `${onDemand ? "on demand" : `${summary.OpenShardCount} shard${summary.OpenShardCount === 1 ? "" : "s"}`}, retention ${retention} h`,
  };
};

/** AWS::Kinesis::StreamConsumer: an enhanced fan-out consumer (its event source polls the stream locally). */
export const createStreamConsumer: Provisioner = async (properties, context) => {
  const streamArn = String(properties.StreamARN);
  const consumerName = String(properties.ConsumerName);
  let consumerArn: string;
  try {
    consumerArn = (
      await context.clients.kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      )
    ).Consumer?.ConsumerARN as string;
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
    consumerArn = (
      await context.clients.kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      )
    ).ConsumerDescription?.ConsumerARN as string;
  }
  return {
    ref: consumerArn,
    attributes: { ConsumerARN: consumerArn, ConsumerName: consumerName, StreamARN: streamArn },
    detail: `enhanced fan-out consumer ${consumerName}`,
  };
};

async function waitUntilActive(context: Parameters<Provisioner>[1], name: string) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { StreamDescriptionSummary } = await context.clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === "ACTIVE") return StreamDescriptionSummary;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`stream ${name} did not become ACTIVE`);
}
