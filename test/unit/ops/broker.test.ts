/**
 * Discovery of a deployed stack (CloudFormation GetTemplate + ListStackResources) over an SDK fake: the
 * emulators have no CloudFormation, so this is what can be tested without an AWS account.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openBroker } from "../../../infra/ops/broker.js";
import { OpsError } from "../../../infra/ops/errors.js";
import { FakeClient } from "../../support/fake-clients.js";

const template = {
  Resources: {
    Topic: { Type: "AWS::SNS::Topic", Properties: { FifoTopic: false } },
    Queue: {
      Type: "AWS::SQS::Queue",
      Properties: {
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": ["Dlq", "Arn"] }, maxReceiveCount: 3 },
      },
    },
    Dlq: { Type: "AWS::SQS::Queue" },
    Subscription: {
      Type: "AWS::SNS::Subscription",
      Properties: {
        Protocol: "sqs",
        TopicArn: { Ref: "Topic" },
        Endpoint: { "Fn::GetAtt": ["Queue", "Arn"] },
      },
    },
    Fn: {
      Type: "AWS::Lambda::Function",
      Properties: { Environment: { Variables: { BROKER_CONSUMER_GROUP: "billing" } } },
    },
    Mapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: {
        FunctionName: { Ref: "Fn" },
        EventSourceArn: { "Fn::GetAtt": ["Queue", "Arn"] },
        BatchSize: 10,
      },
    },
  },
};

let savedEndpoint: string | undefined;
beforeEach(() => {
  savedEndpoint = process.env.AWS_ENDPOINT_URL;
  delete process.env.AWS_ENDPOINT_URL;
});
afterEach(() => {
  if (savedEndpoint !== undefined) process.env.AWS_ENDPOINT_URL = savedEndpoint;
});

describe("openBroker on a deployed stack", () => {
  it("reads the deployed template and pages through every resource's physical id", async () => {
    const cloudFormation = new FakeClient<{ StackName: string; NextToken?: string; TemplateStage?: string }>(
      (input) => {
        if (input.TemplateStage) return { TemplateBody: JSON.stringify(template) };
        return input.NextToken === undefined
          ? {
              StackResourceSummaries: [
                { LogicalResourceId: "Queue", PhysicalResourceId: "https://sqs.eu-west-1.amazonaws.com/1/q" },
              ],
              NextToken: "page-2",
            }
          : {
              StackResourceSummaries: [
                { LogicalResourceId: "Dlq", PhysicalResourceId: "https://sqs.eu-west-1.amazonaws.com/1/dlq" },
              ],
            };
      },
    );

    const broker = await openBroker({ stack: "Orders", cloudFormation });
    try {
      expect(broker.target).toBe("aws");
      expect(broker.topology.groups).toEqual([
        expect.objectContaining({
          name: "billing",
          deadLetterQueue: "Dlq",
          source: expect.objectContaining({ topic: "Topic" }),
        }),
      ]);
      expect(await broker.physicalId("Orders", "Dlq")).toBe("https://sqs.eu-west-1.amazonaws.com/1/dlq");
      expect(cloudFormation.calls.filter((call) => call.StackName === "Orders")).toHaveLength(3);
      await expect(broker.physicalId("Orders", "Missing")).rejects.toThrow(/no deployed resource Missing/);
    } finally {
      broker.close();
    }
  });

  it("says which permissions and settings to check when the stack cannot be read", async () => {
    const cloudFormation = new FakeClient(() => {
      throw Object.assign(new Error("Stack with id Nope does not exist"), { name: "ValidationError" });
    });

    const opening = openBroker({ stack: "Nope", cloudFormation });

    await expect(opening).rejects.toBeInstanceOf(OpsError);
    await expect(opening).rejects.toThrow(/cloudformation:GetTemplate.*AWS_ENDPOINT_URL/s);
  });
});
