import { createHash } from "node:crypto";
import type { CfnResource } from "./cloud-assembly.js";
import { referencedIds } from "./intrinsics.js";
import type { Provisioned, SkippedType } from "./provisioner.js";

type Names = { stackName: string; logicalId: string; region: string; accountId: string };
const named =
  (arn: (names: Names, name: string) => string) =>
  (names: Names): Provisioned => {
    const name = `${names.stackName}-${names.logicalId}`;
    return { ref: name, attributes: { Arn: arn(names, name) }, detail: "" };
  };
const idOnly = (names: Names): Provisioned => ({
  ref: `${names.stackName}-${names.logicalId}`,
  attributes: {},
  detail: "",
});

const IAM = "IAM is not enforced by the local cloud: every call is allowed";
const POLICY = "resource policies are not enforced by the local cloud";
const CLOUDWATCH = "metrics, alarms and dashboards are not emulated";

/**
 * Resource types the local cloud does not create, with the reason it says, and placeholder Ref/GetAtt
 * values (fake ARNs) so that resources referring to them still resolve.
 */
export const SKIPPED_TYPES: Readonly<Record<string, SkippedType>> = {
  "AWS::IAM::Role": {
    reason: IAM,
    placeholder: named(({ accountId }, name) => `arn:aws:iam::${accountId}:role/${name}`),
  },
  "AWS::IAM::Policy": { reason: IAM, placeholder: idOnly },
  "AWS::IAM::ManagedPolicy": {
    reason: IAM,
    placeholder: named(({ accountId }, name) => `arn:aws:iam::${accountId}:policy/${name}`),
  },
  "AWS::KMS::Key": {
    reason: "encryption at rest is not emulated: resources it encrypts are created unencrypted",
    placeholder: named(({ region, accountId }, name) => `arn:aws:kms:${region}:${accountId}:key/${name}`),
  },
  "AWS::KMS::Alias": { reason: "encryption at rest is not emulated", placeholder: idOnly },
  "AWS::SQS::QueuePolicy": { reason: POLICY, placeholder: idOnly },
  "AWS::SNS::TopicPolicy": { reason: POLICY, placeholder: idOnly },
  "AWS::Lambda::Permission": { reason: POLICY, placeholder: idOnly },
  "AWS::Logs::LogGroup": {
    reason: "function logs go to .local-cloud/logs/functions instead",
    placeholder: named(
      ({ region, accountId }, name) => `arn:aws:logs:${region}:${accountId}:log-group:${name}`,
    ),
  },
  "AWS::CloudWatch::Alarm": {
    reason: CLOUDWATCH,
    placeholder: named(
      ({ region, accountId }, name) => `arn:aws:cloudwatch:${region}:${accountId}:alarm:${name}`,
    ),
  },
  "AWS::CloudWatch::Dashboard": { reason: CLOUDWATCH, placeholder: idOnly },
  "AWS::CDK::Metadata": { reason: "CDK metadata" },
};

/** Types the runner plays rather than the applier creates. */
export const FUNCTION_TYPE = "AWS::Lambda::Function";
export const EVENT_SOURCE_MAPPING_TYPE = "AWS::Lambda::EventSourceMapping";
export const EVENT_INVOKE_CONFIG_TYPE = "AWS::Lambda::EventInvokeConfig";

/** Placeholder Ref and attributes for a resource the local cloud does not create, in each type's format. */
export function placeholderOf(
  type: string,
  names: Names,
): { provisioned: Provisioned; attribute: (name: string) => string } {
  const { stackName, logicalId, region, accountId } = names;
  const name = `${stackName}-${logicalId}`;
  const [, service = "unknown", kind = "resource"] = type.split("::");
  const generic = (attribute: string) =>
    attribute === "Arn" || attribute.endsWith("Arn")
      ? `arn:aws:${service.toLowerCase()}:${region}:${accountId}:${kind.toLowerCase()}/${name}`
      : `${name}-${attribute}`;
  const known = SKIPPED_TYPES[type]?.placeholder?.(names) ?? specific(type, names);
  if (known) return { provisioned: known, attribute: generic };
  if (type.startsWith("Custom::") || type === "AWS::CloudFormation::CustomResource") {
    // A custom resource's outputs are whatever its handler returned at deploy time: nothing to know here.
    return {
      provisioned: { ref: `${name}-local`, attributes: {}, detail: "" },
      attribute: (attribute) => `${logicalId}.${attribute}`,
    };
  }
  return { provisioned: { ref: name, attributes: { Arn: generic("Arn") }, detail: "" }, attribute: generic };
}

function specific(type: string, { stackName, logicalId, region, accountId }: Names): Provisioned | undefined {
  const name = `${stackName}-${logicalId}`;
  const id = createHash("sha256").update(name).digest("hex").slice(0, 10);
  switch (type) {
    case "AWS::S3::Bucket": {
      // Bucket names: 3–63 characters, lower case (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
      const bucket = name
        .toLowerCase()
        .replace(/[^a-z0-9.-]/g, "-")
        .slice(0, 63);
      return {
        ref: bucket,
        attributes: {
          Arn: `arn:aws:s3:::${bucket}`,
          DomainName: `${bucket}.s3.amazonaws.com`,
          RegionalDomainName: `${bucket}.s3.${region}.amazonaws.com`,
          DualStackDomainName: `${bucket}.s3.dualstack.${region}.amazonaws.com`,
          WebsiteURL: `http://${bucket}.s3-website-${region}.amazonaws.com`,
        },
        detail: "",
      };
    }
    case "AWS::StepFunctions::StateMachine": {
      const arn = `arn:aws:states:${region}:${accountId}:stateMachine:${name}`;
      return { ref: arn, attributes: { Arn: arn, Name: name }, detail: "" };
    }
    case "AWS::Events::EventBus":
      return {
        ref: name,
        attributes: { Arn: `arn:aws:events:${region}:${accountId}:event-bus/${name}`, Name: name },
        detail: "",
      };
    case "AWS::Events::Rule":
      return {
        ref: name,
        attributes: { Arn: `arn:aws:events:${region}:${accountId}:rule/${name}` },
        detail: "",
      };
    case "AWS::ApiGateway::RestApi":
      return { ref: id, attributes: { RestApiId: id, RootResourceId: id.slice(0, 6) }, detail: "" };
    case "AWS::ApiGatewayV2::Api":
      return {
        ref: id,
        attributes: { ApiId: id, ApiEndpoint: `https://${id}.execute-api.${region}.amazonaws.com` },
        detail: "",
      };
    case "AWS::SecretsManager::Secret": {
      const arn = `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${id.slice(0, 6)}`;
      return { ref: arn, attributes: { Id: arn }, detail: "" };
    }
    case "AWS::SSM::Parameter":
      return { ref: name, attributes: { Type: "String", Value: name }, detail: "" };
    default:
      return undefined;
  }
}

/**
 * The functions CDK adds that CloudFormation calls only while it deploys: custom resource providers
 * (anything a custom resource's ServiceToken names) and the S3 bucket notifications handler. By
 * logical id, what they are.
 */
export function deploymentTimeHandlers(resources: Record<string, CfnResource>): Map<string, string> {
  const handlers = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(resources)) {
    const custom =
      resource.Type.startsWith("Custom::") || resource.Type === "AWS::CloudFormation::CustomResource";
    if (!custom) continue;
    for (const id of referencedIds(resource.Properties?.ServiceToken)) {
      if (resources[id]?.Type !== FUNCTION_TYPE) continue;
      handlers.set(id, `the provider of custom resource ${logicalId} (${resource.Type})`);
      // A provider framework's function calls the user's onEvent/isComplete handlers, named in its environment.
      for (const called of referencedIds(resources[id]?.Properties?.Environment)) {
        if (resources[called]?.Type === FUNCTION_TYPE)
          handlers.set(called, `a handler of custom resource ${logicalId} (${resource.Type})`);
      }
    }
  }
  for (const [logicalId, resource] of Object.entries(resources)) {
    const path = String(resource.Metadata?.["aws:cdk:path"] ?? "");
    if (resource.Type !== FUNCTION_TYPE || handlers.has(logicalId)) continue;
    if (/\/BucketNotificationsHandler[0-9a-f]*\//.test(path) || /\/Custom::[^/]+Provider\//.test(path))
      handlers.set(logicalId, `a CDK deployment handler (${path})`);
  }
  return handlers;
}
