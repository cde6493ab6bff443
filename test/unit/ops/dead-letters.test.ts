/**
 * Redrive's one irreversible step, over an SQS fake (the emulator cannot be made to fail a SendMessage on
 * demand): a dead letter is deleted only after its copy was acknowledged, and released when it was not.
 */
import { describe, expect, it } from "vitest";
import type { Broker, BrokerClients } from "../../../infra/ops/broker.js";
import { redriveDeadLetters } from "../../../infra/ops/dead-letters.js";
import { readTopology } from "../../../infra/ops/topology.js";

const template = {
  Resources: {
    Queue: {
      Type: "AWS::SQS::Queue",
      Properties: {
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": ["Dlq", "Arn"] }, maxReceiveCount: 3 },
      },
    },
    Dlq: { Type: "AWS::SQS::Queue" },
    Fn: {
      Type: "AWS::Lambda::Function",
      Properties: { Environment: { Variables: { BROKER_CONSUMER_GROUP: "billing" } } },
    },
    Mapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: { FunctionName: { Ref: "Fn" }, EventSourceArn: { "Fn::GetAtt": ["Queue", "Arn"] } },
    },
  },
};

/** An SQS whose DLQ holds two messages and whose SendMessage fails for the body "refused". */
function fakeSqs() {
  const calls: Array<{ command: string; input: Record<string, unknown> }> = [];
  let delivered = false;
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    calls.push({ command: command.constructor.name, input: command.input });
    switch (command.constructor.name) {
      case "GetQueueAttributesCommand":
        return { Attributes: { ApproximateNumberOfMessages: "2" } };
      case "ReceiveMessageCommand":
        if (delivered) return { Messages: [] };
        delivered = true;
        return {
          Messages: [
            {
              MessageId: "d1",
              ReceiptHandle: "r1",
              Body: "accepted",
              Attributes: { SentTimestamp: String(Date.now()) },
            },
            {
              MessageId: "d2",
              ReceiptHandle: "r2",
              Body: "refused",
              Attributes: { SentTimestamp: String(Date.now()) },
            },
          ],
        };
      case "SendMessageCommand":
        if (command.input.MessageBody === "refused")
          throw Object.assign(new Error("throttled"), { name: "RequestThrottled" });
        return { MessageId: "copy" };
      default:
        return {};
    }
  };
  return { calls, client: { send } };
}

describe("redriveDeadLetters", () => {
  it("deletes a dead letter only after its copy was acknowledged, and releases the one that was not", async () => {
    const sqs = fakeSqs();
    const broker: Broker = {
      topology: readTopology([{ stackName: "S", template }]),
      templates: [],
      target: "local",
      endpoint: "http://fake",
      region: "us-east-1",
      clients: { sqs: sqs.client } as unknown as BrokerClients,
      physicalId: async (_stack, logicalId) => `url-${logicalId}`,
      close: () => undefined,
    };

    const report = await redriveDeadLetters(broker, "billing", { rate: 1000 });

    expect(report).toMatchObject({ sent: 1, failed: 1, from: "url-Dlq", to: "url-Queue" });
    const order = sqs.calls.map(
      (call) => `${call.command}:${String(call.input.MessageBody ?? call.input.ReceiptHandle ?? "")}`,
    );
    expect(order.filter((entry) => /^(Send|Delete)/.test(entry))).toEqual([
      "SendMessageCommand:accepted",
      "DeleteMessageCommand:r1",
      "SendMessageCommand:refused",
    ]);
    const released = sqs.calls.find((call) => call.command === "ChangeMessageVisibilityBatchCommand");
    expect(released?.input.Entries).toEqual([
      expect.objectContaining({ ReceiptHandle: "r2", VisibilityTimeout: 0 }),
    ]);
  });
});
