import { Annotations, Names, Validations } from "aws-cdk-lib";
import { type IFunction, Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { IConstruct } from "constructs";
import { fail } from "./validation.js";

const groupOfFunction = new WeakMap<IFunction, string>();

/**
 * Gives a consumer function the environment the runtime reads (group, dead-letter queue, …). A function
 * serves one consumer group, since the runtime takes its group from that environment.
 */
export function bindConsumerEnvironment(
  group: IConstruct,
  consumer: IFunction,
  environment: Record<string, string>,
): void {
  const existing = groupOfFunction.get(consumer);
  if (existing) {
    fail(
      group,
      `the function ${consumer.node.path} already consumes the group at ${existing}; give each consumer group ` +
        "a function of its own (the runtime reads its consumer group from the function's environment).",
    );
  }
  groupOfFunction.set(consumer, group.node.path);
  Validations.of(consumer).acknowledge({
    id: "Serverless-LambdaDLQ",
    reason:
      "An event source mapping invokes this consumer synchronously; a function DLQ applies only to asynchronous " +
      "invocations. Failures go to the group's dead-letter queue or on-failure destination.",
  });
  if (consumer instanceof LambdaFunction) {
    for (const [name, value] of Object.entries(environment)) consumer.addEnvironment(name, value);
  } else {
    Annotations.of(group).addWarning(
      `The consumer ${consumer.node.path} is imported, so its environment cannot be set here: set ` +
        `${Object.keys(environment).join(", ")} on it yourself.`,
    );
  }
}

/**
 * CDK's grants on a KMS-encrypted queue use action wildcards (kms:GenerateDataKey*, kms:ReEncrypt*), scoped
 * to that queue's key. Acknowledge them on the consumer's role, with that reason, so cdk-nag stays clean.
 */
export function acknowledgeKmsGrantWildcards(consumer: IFunction): void {
  if (!consumer.role) return;
  for (const action of ["kms:GenerateDataKey*", "kms:ReEncrypt*"]) {
    Validations.of(consumer.role).acknowledge({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `CDK's grant on a KMS-encrypted queue: ${action} on that queue's key only, to send and read its messages.`,
    });
  }
}

/** Acknowledges, with `reason`, that a dead-letter queue has no dead-letter queue of its own. */
export function acknowledgeDeadLetterQueue(queue: IConstruct, reason: string): void {
  for (const id of ["AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"]) {
    Validations.of(queue).acknowledge({ id, reason });
  }
}

/**
 * An SQS event source mapping takes no on-failure destination (only stream and Kafka sources do): the
 * queue's redrive policy moves failed messages to the group's dead-letter queue. Acknowledged on that one
 * mapping, found by the id SqsEventSource gives it.
 */
export function acknowledgeSqsMappingDestination(consumer: IFunction, queue: IConstruct): void {
  const id = `SqsEventSource:${Names.nodeUniqueId(queue.node)}`;
  const mapping = consumer.node.tryFindChild(id);
  if (!mapping) return;
  Validations.of(mapping).acknowledge({
    id: "Serverless-LambdaEventSourceMappingDestination",
    reason:
      "SQS event source mappings take no on-failure destination; the queue's redrive policy moves failures to the group's dead-letter queue.",
  });
}

/** The function's timeout when it is known here (a function of this app). */
export function timeoutOf(consumer: IFunction): import("aws-cdk-lib").Duration | undefined {
  return consumer instanceof LambdaFunction ? consumer.timeout : undefined;
}
