import { Aspects, CfnResource, type IAspect, RemovalPolicy } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * The resource types that hold data, and the keys that make it readable: a retained table whose key was
 * destroyed could never be read again, so keys always follow the data's policy.
 */
export const DATA_RESOURCE_TYPES: readonly string[] = [
  "AWS::DynamoDB::Table",
  "AWS::DynamoDB::GlobalTable",
  "AWS::Kinesis::Stream",
  "AWS::SQS::Queue",
  "AWS::KMS::Key",
];

/** Applies one removal policy to every data-bearing resource under the scope it is added to. */
export class DataRemovalPolicy implements IAspect {
  constructor(readonly policy: RemovalPolicy) {}

  visit(node: IConstruct): void {
    if (node instanceof CfnResource && DATA_RESOURCE_TYPES.includes(node.cfnResourceType)) {
      node.applyRemovalPolicy(this.policy);
    }
  }
}

/**
 * One removal policy for every table, stream, queue (source and dead-letter) and KMS key under `scope`:
 * RETAIN unless the user asks for DESTROY, never half and half (CDK's own defaults would retain tables,
 * streams and keys but delete queues, dead letters included).
 */
export function applyDataRemovalPolicy(scope: IConstruct, policy: RemovalPolicy | undefined): RemovalPolicy {
  const effective = policy ?? RemovalPolicy.RETAIN;
  Aspects.of(scope).add(new DataRemovalPolicy(effective));
  return effective;
}
