import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  CloudFormationClient,
  GetTemplateCommand,
  ListStackResourcesCommand,
} from "@aws-sdk/client-cloudformation";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { CfnTemplate } from "../local/apply/cloud-assembly.js";
import { readCloudAssembly } from "../local/apply/cloud-assembly.js";
import { physicalName } from "../local/apply/provisioner.js";
import { synthesize } from "../local/apply/synth.js";
import { configuredEndpoint, runningEndpoint } from "../local/running-endpoint.js";
import { OpsError } from "./errors.js";
import { isTrue, literal } from "./template-refs.js";
import { readTopology, type TemplateSource, type Topology } from "./topology.js";

/** The default account of the local cloud's ARNs (what the template applier uses). */
const LOCAL_ACCOUNT = "000000000000";
const DEFAULT_LOCAL_PORT = 4566;

export interface BrokerClients {
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  readonly kinesis: KinesisClient;
  readonly dynamodb: DynamoDBClient;
}

/** A broker to operate on: its topology, where it runs, and the physical names of its resources. */
export interface Broker {
  readonly topology: Topology;
  readonly templates: readonly TemplateSource[];
  /** "local": the embedded local cloud (or AWS_ENDPOINT_URL); "aws": a deployed stack. */
  readonly target: "local" | "aws";
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly clients: BrokerClients;
  /** Locally: the cloud assembly the templates were read from (the functions' code is there). */
  readonly assemblyDir?: string;
  /**
   * What CloudFormation calls the resource's physical id: a queue's URL, a topic's ARN, a stream's or
   * table's name, a function's name.
   */
  physicalId(stackName: string, logicalId: string): Promise<string>;
  close(): void;
}

export interface OpenBrokerOptions {
  /** The CDK project (its cdk.json). @default process.cwd() */
  readonly appDir?: string;
  /** A synthesized cloud assembly to read instead of `<appDir>/cdk.out`. */
  readonly assemblyDir?: string;
  /** Synthesize even when `<appDir>/cdk.out` exists. @default false */
  readonly synth?: boolean;
  /**
   * A deployed stack. Without AWS_ENDPOINT_URL it is read from AWS (CloudFormation); with it, it picks
   * that stack of the local app.
   */
  readonly stack?: string;
  /**
   * @default AWS_ENDPOINT_URL, else http://127.0.0.1:$LOCAL_CLOUD_PORT, else the endpoint of a
   * `serverless-broker start` running in `appDir`, else http://127.0.0.1:4566
   */
  readonly endpoint?: string;
  readonly cloudFormation?: Pick<CloudFormationClient, "send">;
  readonly onStep?: (line: string) => void;
}

/**
 * Finds the broker to operate on. Locally: the app's synthesized templates (`cdk.out`, synthesized if
 * missing) on the local cloud, whose physical names are the ones the template applier gives. On AWS
 * (`stack` without AWS_ENDPOINT_URL): the deployed template (GetTemplate) and its physical resource ids
 * (ListStackResources), with the standard credential chain and region.
 */
export async function openBroker(options: OpenBrokerOptions = {}): Promise<Broker> {
  const envEndpoint = configuredEndpoint(options.endpoint);
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  if (options.stack && !envEndpoint) return openDeployedStack(options.stack, region, options);

  const endpoint =
    envEndpoint ??
    (process.env.LOCAL_CLOUD_PORT === undefined
      ? runningEndpoint(resolve(options.appDir ?? process.cwd()))
      : undefined) ??
    `http://127.0.0.1:${process.env.LOCAL_CLOUD_PORT ?? DEFAULT_LOCAL_PORT}`;
  const assembly = await localTemplates(options);
  const templates = assembly.templates.filter(
    (source) => !options.stack || source.stackName === options.stack,
  );
  if (options.stack && templates.length === 0)
    throw new OpsError(
      `The app has no stack named ${options.stack}.`,
      "Leave --stack out to use every stack of the app, or unset AWS_ENDPOINT_URL to read the stack from AWS.",
    );
  const config = {
    region,
    endpoint,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
    },
  };
  const clients = createClients(config);
  const byStack = new Map(templates.map((source) => [source.stackName, source.template]));
  return {
    topology: readTopology(templates),
    templates,
    target: "local",
    assemblyDir: assembly.assemblyDir,
    endpoint,
    region,
    clients,
    physicalId: (stackName, logicalId) =>
      localPhysicalId(byStack.get(stackName), stackName, logicalId, region, clients.sqs, endpoint),
    close: () => closeClients(clients),
  };
}

async function localTemplates(
  options: OpenBrokerOptions,
): Promise<{ templates: TemplateSource[]; assemblyDir: string }> {
  const appDir = resolve(options.appDir ?? process.cwd());
  let assemblyDir = options.assemblyDir ? resolve(options.assemblyDir) : join(appDir, "cdk.out");
  if (options.synth || !existsSync(join(assemblyDir, "manifest.json"))) {
    if (options.assemblyDir)
      throw new OpsError(
        `${assemblyDir} is not a cloud assembly (no manifest.json).`,
        "Pass the directory `cdk synth` wrote (cdk.out), or leave --cdk-out out to synthesize the app.",
      );
    options.onStep?.(`synthesizing the CDK app in ${appDir}…`);
    assemblyDir = await synthesize({ projectDir: appDir });
  }
  return {
    templates: readCloudAssembly(assemblyDir).map(({ stackName, template }) => ({ stackName, template })),
    assemblyDir,
  };
}

/** The names the template applier (infra/local/apply) gives: explicit names, else `<stack>-<logical id>`. */
async function localPhysicalId(
  template: CfnTemplate | undefined,
  stackName: string,
  logicalId: string,
  region: string,
  sqs: SQSClient,
  endpoint: string,
): Promise<string> {
  const resource = template?.Resources?.[logicalId];
  if (!resource)
    throw new OpsError(`${stackName} has no resource ${logicalId}.`, "Synthesize the app again.");
  const properties = resource.Properties ?? {};
  const named = (property: string, maxLength: number, suffix = "") => {
    const explicit = properties[property];
    if (explicit !== undefined && literal(explicit) === undefined)
      throw new OpsError(
        `${stackName}/${logicalId} names itself with an expression (${JSON.stringify(explicit)}).`,
        "Give it a literal name, or leave the name to CloudFormation.",
      );
    return literal(explicit) ?? physicalName(stackName, logicalId, maxLength, suffix);
  };
  switch (resource.Type) {
    case "AWS::SQS::Queue": {
      const name = named("QueueName", 80, isTrue(properties.FifoQueue) ? ".fifo" : "");
      try {
        const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
        return QueueUrl as string;
      } catch (error) {
        throw new OpsError(
          `The queue ${name} (${stackName}/${logicalId}) is not on the local cloud at ${endpoint}.`,
          "Run the app there first: `npx serverless-broker start` (in another terminal).",
          { cause: error },
        );
      }
    }
    case "AWS::SNS::Topic":
      return `arn:aws:sns:${region}:${LOCAL_ACCOUNT}:${named("TopicName", 256, isTrue(properties.FifoTopic) ? ".fifo" : "")}`;
    case "AWS::Kinesis::Stream":
      return named("Name", 128);
    case "AWS::DynamoDB::Table":
      return named("TableName", 255);
    case "AWS::Lambda::Function":
      return `${stackName}-${logicalId}`.slice(0, 64);
    default:
      throw new OpsError(
        `${stackName}/${logicalId} is a ${resource.Type}, which no command operates on.`,
        "",
      );
  }
}

async function openDeployedStack(
  stackName: string,
  region: string,
  options: OpenBrokerOptions,
): Promise<Broker> {
  const cloudFormation = options.cloudFormation ?? new CloudFormationClient({ region });
  options.onStep?.(`reading the stack ${stackName} from CloudFormation (${region})…`);
  let template: CfnTemplate;
  const physicalIds = new Map<string, string>();
  try {
    const { TemplateBody } = await cloudFormation.send(
      new GetTemplateCommand({ StackName: stackName, TemplateStage: "Processed" }),
    );
    template = parseTemplate(stackName, TemplateBody);
    // ListStackResources pages through every resource; DescribeStackResources returns only the first 100.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html
    let nextToken: string | undefined;
    do {
      const page = await cloudFormation.send(
        new ListStackResourcesCommand({ StackName: stackName, NextToken: nextToken }),
      );
      for (const summary of page.StackResourceSummaries ?? []) {
        if (summary.LogicalResourceId && summary.PhysicalResourceId)
          physicalIds.set(summary.LogicalResourceId, summary.PhysicalResourceId);
      }
      nextToken = page.NextToken;
    } while (nextToken);
  } catch (error) {
    if (error instanceof OpsError) throw error;
    throw new OpsError(
      `Could not read the stack ${stackName} in ${region}: ${(error as Error).name}: ${(error as Error).message}`,
      "Check the stack's name and region (AWS_REGION), and that your credentials allow cloudformation:GetTemplate and cloudformation:ListStackResources. For the local cloud, set AWS_ENDPOINT_URL.",
      { cause: error },
    );
  } finally {
    if (!options.cloudFormation) (cloudFormation as CloudFormationClient).destroy();
  }
  const templates = [{ stackName, template }];
  const clients = createClients({ region });
  return {
    topology: readTopology(templates),
    templates,
    target: "aws",
    endpoint: undefined,
    region,
    clients,
    physicalId: async (_stack, logicalId) => {
      const id = physicalIds.get(logicalId);
      if (!id)
        throw new OpsError(
          `The stack ${stackName} has no deployed resource ${logicalId}.`,
          "Is the deployment complete? `aws cloudformation describe-stack-events` says.",
        );
      return id;
    },
    close: () => closeClients(clients),
  };
}

function parseTemplate(stackName: string, body: string | undefined): CfnTemplate {
  try {
    return JSON.parse(body ?? "") as CfnTemplate;
  } catch {
    throw new OpsError(
      `The template of ${stackName} is not JSON (a YAML template?).`,
      "CDK deploys JSON templates; for other stacks, convert the template to JSON.",
    );
  }
}

function createClients(config: ConstructorParameters<typeof SQSClient>[0]): BrokerClients {
  return {
    sqs: new SQSClient(config ?? {}),
    sns: new SNSClient(config ?? {}),
    kinesis: new KinesisClient(config ?? {}),
    dynamodb: new DynamoDBClient(config ?? {}),
  };
}

function closeClients(clients: BrokerClients): void {
  for (const client of Object.values(clients)) client.destroy();
}
