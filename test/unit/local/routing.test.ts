import { describe, expect, it } from "vitest";
import { resolveService } from "../../../infra/local/cloud/routing.js";

const signedFor = (service: string) => ({
  authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc`,
});

describe("resolveService", () => {
  it.each([
    ["sns", "sns"],
    ["sqs", "sqs"],
    ["kinesis", "kinesis"],
    ["dynamodb", "dynamodb"],
  ])("routes a request signed for %s to %s", (scope, service) => {
    expect(resolveService(signedFor(scope))).toBe(service);
  });

  it("tells DynamoDB Streams from DynamoDB by X-Amz-Target, though both sign as dynamodb", () => {
    const headers = { ...signedFor("dynamodb"), "x-amz-target": "DynamoDBStreams_20120810.GetRecords" };
    expect(resolveService(headers)).toBe("dynamodbstreams");
  });

  it.each([
    ["Kinesis_20131202.PutRecords", "kinesis"],
    ["DynamoDB_20120810.PutItem", "dynamodb"],
    ["AmazonSQS.ReceiveMessage", "sqs"],
  ])("routes an unsigned request by its X-Amz-Target %s", (target, service) => {
    expect(resolveService({ "x-amz-target": target })).toBe(service);
  });

  it("reads the scope of a presigned URL", () => {
    const url =
      "/?Action=Publish&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsns%2Faws4_request&X-Amz-Signature=x";
    expect(resolveService({}, url)).toBe("sns");
  });

  it("answers undefined for services it does not serve, and for requests that name none", () => {
    expect(resolveService(signedFor("s3"))).toBeUndefined();
    expect(resolveService({})).toBeUndefined();
  });
});
