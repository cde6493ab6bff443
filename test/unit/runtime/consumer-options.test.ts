/**
 * What every consumer wrapper resolves at cold start: its group, dead-letter queue and guard, from options or
 * the environment the constructs set, with errors that name the setting and the fix.
 */
import type { SendMessageCommandInput } from "@aws-sdk/client-sqs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { positiveInteger } from "../../../lambdas/runtime/consumers/consumer-options.js";
import type { ProcessingGuard } from "../../../lambdas/runtime/consumers/processing-guard.js";
import { sqsConsumer } from "../../../lambdas/runtime/consumers/sqs-consumer.js";
import { ConfigurationError } from "../../../lambdas/runtime/errors.js";
import { FakeClient } from "../../support/fake-clients.js";
import { sqsEvent, sqsRecord } from "../../support/lambda-events.js";
import { RecordingObserver } from "../../support/recording.js";

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("consumer options", () => {
  it("dead-letters to the queue URL given as an option, through the SQS client given", async () => {
    vi.stubEnv("BROKER_DLQ_URL", "");
    const sqs = new FakeClient<SendMessageCommandInput>(() => ({ MessageId: "dlq-1" }));
    const handler = sqsConsumer({
      group: "billing",
      deadLetterQueueUrl: "https://sqs.us-east-1.amazonaws.com/000000000000/billing-dlq",
      sqsClient: sqs as never,
      observer: new RecordingObserver(),
      handler: () => undefined,
    });

    const result = await handler.processEvent(sqsEvent(sqsRecord({ messageId: "poison", body: "nope" })));

    expect(result.outcomes[0]).toEqual({ kind: "dead-lettered", reason: "not-json" });
    expect(sqs.calls.map((call) => call.QueueUrl)).toEqual([
      "https://sqs.us-east-1.amazonaws.com/000000000000/billing-dlq",
    ]);
  });

  it("names the group setting and where the constructs set it", () => {
    vi.stubEnv("BROKER_CONSUMER_GROUP", "");
    expect(() => sqsConsumer({ handler: () => undefined })).toThrow(
      'sqsConsumer needs a consumer group: pass { group: "billing" } or set BROKER_CONSUMER_GROUP ' +
        "(the serverless-broker constructs set it for the functions they attach).",
    );
  });

  it("refuses a guard of another source, by its name or as 'This dedup guard', and says what to use", () => {
    const kinesisOnly: ProcessingGuard<undefined> = {
      sources: ["kinesis"],
      admit: async () => [],
      run: async () => undefined,
      settle: async () => undefined,
    };
    expect(() => sqsConsumer({ group: "billing", dedup: kinesisOnly, handler: () => undefined })).toThrow(
      "This dedup guard cannot guard sqsConsumer: it supports kinesis event sources only. " +
        "Use dynamoDbDedup() (per-message dedup, any source) for this consumer.",
    );
  });
});

describe("positiveInteger (numbers read from the environment)", () => {
  it("reads a whole number of 1 or more; treats unset or empty as not given", () => {
    expect(positiveInteger("BROKER_MAX_RECEIVE_COUNT", "5")).toBe(5);
    expect(positiveInteger("BROKER_MAX_RECEIVE_COUNT", 1)).toBe(1);
    expect(positiveInteger("BROKER_MAX_RECEIVE_COUNT", undefined)).toBeUndefined();
    expect(positiveInteger("BROKER_MAX_RECEIVE_COUNT", "")).toBeUndefined();
  });

  it("refuses a fraction, zero or text, naming the setting and the value", () => {
    for (const value of ["1.5", "0", "-3", "five"]) {
      expect(() => positiveInteger("BROKER_MAX_RECEIVE_COUNT", value)).toThrow(ConfigurationError);
    }
    expect(() => positiveInteger("BROKER_MAX_RECEIVE_COUNT", "1.5")).toThrow(
      'BROKER_MAX_RECEIVE_COUNT must be a whole number of 1 or more, but "1.5" was given.',
    );
  });
});
