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
