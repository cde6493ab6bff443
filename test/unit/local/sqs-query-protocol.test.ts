import { describe, expect, it } from "vitest";
import {
  queryErrorXml,
  queryResponseXml,
  translateQueryRequest,
} from "../../../infra/local/cloud/sqs-query-protocol.js";

describe("SQS query protocol translation", () => {
  it("reads batch entries with message attributes, lists and numbers into their JSON 1.0 members", () => {
    const form = new URLSearchParams({
      Action: "SendMessageBatch",
      Version: "2012-11-05",
      QueueUrl: "http://127.0.0.1:4566/000000000000/q",
      "SendMessageBatchRequestEntry.2.Id": "b",
      "SendMessageBatchRequestEntry.2.MessageBody": "second",
      "SendMessageBatchRequestEntry.1.Id": "a",
      "SendMessageBatchRequestEntry.1.MessageBody": "first",
      "SendMessageBatchRequestEntry.1.DelaySeconds": "5",
      "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "kind",
      "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
      "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "order",
    });
    expect(translateQueryRequest(form)).toEqual({
      action: "SendMessageBatch",
      input: {
        QueueUrl: "http://127.0.0.1:4566/000000000000/q",
        Entries: [
          {
            Id: "a",
            MessageBody: "first",
            DelaySeconds: 5,
            MessageAttributes: { kind: { DataType: "String", StringValue: "order" } },
          },
          { Id: "b", MessageBody: "second" },
        ],
      },
    });
  });

  it("reads queue attributes as a map, names as a list, and CreateQueue's tags as `tags`", () => {
    const form = new URLSearchParams({
      Action: "CreateQueue",
      QueueName: "q",
      "Attribute.1.Name": "VisibilityTimeout",
      "Attribute.1.Value": "30",
      "Tag.1.Key": "team",
      "Tag.1.Value": "orders",
    });
    expect(translateQueryRequest(form).input).toEqual({
      QueueName: "q",
      Attributes: { VisibilityTimeout: "30" },
      tags: { team: "orders" },
    });
    const receive = new URLSearchParams({
      Action: "ReceiveMessage",
      "AttributeName.1": "All",
      MaxNumberOfMessages: "10",
    });
    expect(translateQueryRequest(receive).input).toEqual({
      AttributeNames: ["All"],
      MaxNumberOfMessages: 10,
    });
  });

  it("writes answers with flattened lists, attribute maps and escaped text", () => {
    const xml = queryResponseXml(
      "ReceiveMessage",
      {
        Messages: [
          {
            MessageId: "m1",
            Body: "a < b & c\r\n",
            Attributes: { ApproximateReceiveCount: "1" },
            MessageAttributes: { kind: { DataType: "String", StringValue: "order" } },
          },
        ],
      },
      "req-1",
    );
    expect(xml).toContain(
      "<ReceiveMessageResult><Message><MessageId>m1</MessageId><Body>a &lt; b &amp; c&#xD;\n</Body>" +
        "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>" +
        "<MessageAttribute><Name>kind</Name><Value><DataType>String</DataType><StringValue>order</StringValue></Value></MessageAttribute>" +
        "</Message></ReceiveMessageResult>",
    );
    expect(xml).toContain("<RequestId>req-1</RequestId>");
  });

  it("takes the query error code and fault from x-amzn-query-error", () => {
    const xml = queryErrorXml(
      { __type: "com.amazonaws.sqs#QueueDoesNotExist", message: "The specified queue does not exist." },
      "AWS.SimpleQueueService.NonExistentQueue;Sender",
      "req-2",
    );
    expect(xml).toContain(
      "<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist.</Message>",
    );
  });
});
