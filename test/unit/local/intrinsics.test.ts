import { describe, expect, it } from "vitest";
import {
  type ResolutionContext,
  referencedIds,
  resolve,
  UnresolvableError,
} from "../../../infra/local/apply/intrinsics.js";

const context: ResolutionContext = {
  region: "eu-west-1",
  accountId: "111122223333",
  stackName: "Orders",
  ref: (id) =>
    ({ Queue: "https://queue/url", Topic: "arn:aws:sns:eu-west-1:111122223333:orders", Env: "prod" })[id],
  getAtt: (id, attribute) =>
    id === "Queue" && attribute === "Arn" ? "arn:aws:sqs:eu-west-1:111122223333:q" : undefined,
  condition: (name) => ({ IsProd: true })[name],
};

describe("resolving intrinsic functions", () => {
  it.each([
    [{ Ref: "Queue" }, "https://queue/url"],
    [{ "Fn::GetAtt": ["Queue", "Arn"] }, "arn:aws:sqs:eu-west-1:111122223333:q"],
    [{ "Fn::GetAtt": "Queue.Arn" }, "arn:aws:sqs:eu-west-1:111122223333:q"],
    [{ "Fn::Join": ["-", ["a", { Ref: "AWS::Region" }, "b"]] }, "a-eu-west-1-b"],
    [
      { "Fn::Sub": "arn:${AWS::Partition}:s3:::${Env}-bucket/${Queue.Arn}" },
      "arn:aws:s3:::prod-bucket/arn:aws:sqs:eu-west-1:111122223333:q",
    ],
    [{ "Fn::Sub": ["${Name}.${AWS::URLSuffix}", { Name: { Ref: "Env" } }] }, "prod.amazonaws.com"],
    [{ "Fn::Select": [1, { "Fn::Split": [":", { Ref: "Topic" }] }] }, "aws"],
    [{ "Fn::If": ["IsProd", "large", "small"] }, "large"],
    [{ "Fn::Equals": [{ Ref: "Env" }, "prod"] }, true],
    [{ a: { Ref: "AWS::NoValue" }, b: 1 }, { b: 1 }],
  ])("resolves %j", (value, expected) => {
    expect(resolve(value, context)).toEqual(expected);
  });

  it("says what cannot be resolved", () => {
    expect(() => resolve({ "Fn::ImportValue": "Other" }, context)).toThrow(
      new UnresolvableError("Fn::ImportValue is not supported by the local cloud"),
    );
    expect(() => resolve({ Ref: "Missing" }, context)).toThrow("Ref Missing has no value here");
    expect(() => resolve({ "Fn::Select": [5, ["a"]] }, context)).toThrow(
      "Fn::Select index 5 is out of range",
    );
  });

  it("finds the resources a value refers to, to order creation", () => {
    expect(
      [
        ...referencedIds({
          a: { Ref: "Queue" },
          b: [{ "Fn::GetAtt": ["Table", "Arn"] }],
          c: { "Fn::Sub": "${Topic}/${Stream.Arn}/${AWS::Region}" },
        }),
      ].sort(),
    ).toEqual(["Queue", "Stream", "Table", "Topic"]);
  });
});
