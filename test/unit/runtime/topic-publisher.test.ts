import type { PublishBatchCommandInput, SNSClient } from "@aws-sdk/client-sns";
import { describe, expect, it } from "vitest";
import { ConfigurationError, PublishError } from "../../../lambdas/runtime/errors.js";
import { TopicPublisher } from "../../../lambdas/runtime/producers/topic-publisher.js";
import { AccessDenied, FakeClient, ThrottlingError } from "../../support/fake-clients.js";

const TOPIC = "arn:aws:sns:us-east-1:000000000000:orders";
const FIFO_TOPIC = "arn:aws:sns:us-east-1:000000000000:orders.fifo";
const fast = { baseDelayMs: 1, maxDelayMs: 2 };

type Entry = NonNullable<PublishBatchCommandInput["PublishBatchRequestEntries"]>[number];
const idsOf = (entries: Entry[] | undefined) =>
  (entries ?? []).map((entry) => JSON.parse(entry.Message ?? "{}").id as string);

/** SNS that fails the entries `shouldFail` picks (once each unless `always`), with SenderFault as given. */
function sns(shouldFail: (id: string, call: number) => boolean, senderFault = false) {
  return new FakeClient<PublishBatchCommandInput>((input, call) => {
    const entries = input.PublishBatchRequestEntries ?? [];
    const failed = entries.filter((entry) => shouldFail(JSON.parse(entry.Message ?? "{}").id, call));
    return {
      Successful: entries
        .filter((entry) => !failed.includes(entry))
        .map((entry) => ({
          Id: entry.Id,
          MessageId: `sns-${entry.Id}`,
          SequenceNumber: input.TopicArn?.endsWith(".fifo") ? "1" : undefined,
        })),
      Failed: failed.map((entry) => ({
        Id: entry.Id,
        Code: senderFault ? "InvalidParameter" : "InternalError",
        SenderFault: senderFault,
        Message: "nope",
      })),
    };
  });
}

const messages = (count: number, key?: (index: number) => string) =>
  Array.from({ length: count }, (_, index) => ({
    id: `m${index}`,
    type: "order.placed",
    payload: { index },
    ...(key ? { key: key(index) } : {}),
  }));

describe("TopicPublisher", () => {
  it("sends PublishBatch calls of at most 10 entries with the type attribute for filter policies", async () => {
    const client = sns(() => false);
    const publisher = new TopicPublisher({ topicArn: TOPIC, client: client as unknown as SNSClient });
    const report = await publisher.publish(messages(25));

    expect(client.calls.map((call) => call.PublishBatchRequestEntries?.length)).toEqual([10, 10, 5]);
    expect(client.calls[0]?.PublishBatchRequestEntries?.[0]?.MessageAttributes).toEqual({
      type: { DataType: "String", StringValue: "order.placed" },
    });
    expect(report.failed).toEqual([]);
    expect(report.results.map((result) => result.id)).toEqual(messages(25).map((message) => message.id));
  });

  it("keeps a request under 256 KiB by splitting on bytes as well as count", async () => {
    const client = sns(() => false);
    const publisher = new TopicPublisher({ topicArn: TOPIC, client: client as unknown as SNSClient });
    const big = Array.from({ length: 6 }, (_, index) => ({
      type: "blob",
      payload: "x".repeat(100_000),
      id: `b${index}`,
    }));
    await publisher.publish(big);

    expect(client.calls.map((call) => call.PublishBatchRequestEntries?.length)).toEqual([2, 2, 2]);
  });

  it("retries only the entries that failed, and reports every message published", async () => {
    const client = sns((id, call) => call === 1 && (id === "m3" || id === "m7"));
    const publisher = new TopicPublisher({
      topicArn: TOPIC,
      client: client as unknown as SNSClient,
      retry: fast,
    });
    const report = await publisher.publish(messages(10));

    expect(idsOf(client.calls[1]?.PublishBatchRequestEntries)).toEqual(["m3", "m7"]);
    expect(report.results.find((result) => result.id === "m3")).toMatchObject({
      status: "published",
      attempts: 2,
    });
    expect(report.results.find((result) => result.id === "m0")).toMatchObject({
      status: "published",
      attempts: 1,
    });
  });

  it("retries a throttled call as a whole", async () => {
    const client = new FakeClient<PublishBatchCommandInput>((input, call) => {
      if (call === 1) throw new ThrottlingError("Rate exceeded");
      return {
        Successful: input.PublishBatchRequestEntries?.map((entry) => ({ Id: entry.Id, MessageId: "x" })),
      };
    });
    const publisher = new TopicPublisher({
      topicArn: TOPIC,
      client: client as unknown as SNSClient,
      retry: fast,
    });

    expect((await publisher.publish(messages(3))).failed).toEqual([]);
    expect(client.calls).toHaveLength(2);
  });

  it("does not retry what the sender got wrong, and throws a PublishError naming each failure", async () => {
    const client = sns((id) => id === "m1", true);
    const publisher = new TopicPublisher({
      topicArn: TOPIC,
      client: client as unknown as SNSClient,
      retry: fast,
    });
    const error = await publisher.publish(messages(3)).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).message).toBe(
      `1 of 3 messages were not published to ${TOPIC}; first: m1: InvalidParameter: nope`,
    );
    expect((error as PublishError).report.results.map((result) => result.status)).toEqual([
      "published",
      "failed",
      "published",
    ]);
    expect(client.calls).toHaveLength(1);
  });

  it("gives up after maxAttempts and reports the message failed, never silently", async () => {
    const client = sns((id) => id === "m0");
    const publisher = new TopicPublisher({
      topicArn: TOPIC,
      client: client as unknown as SNSClient,
      retry: { ...fast, maxAttempts: 3 },
    });
    const report = await publisher.publishSettled(messages(1));

    expect(report.failed).toEqual([
      { id: "m0", status: "failed", attempts: 3, error: { code: "InternalError", message: "nope" } },
    ]);
  });

  it("fails every message of a call the service refuses outright, without retrying", async () => {
    const client = new FakeClient(() => {
      throw new AccessDenied("not authorized to perform SNS:Publish");
    });
    const publisher = new TopicPublisher({
      topicArn: TOPIC,
      client: client as unknown as SNSClient,
      retry: fast,
    });
    const report = await publisher.publishSettled(messages(2));

    expect(report.failed.map((result) => result.error?.code)).toEqual([
      "AuthorizationErrorException",
      "AuthorizationErrorException",
    ]);
    expect(client.calls).toHaveLength(1);
  });

  it("rejects a message over the topic's size limit without sending it", async () => {
    const client = sns(() => false);
    const publisher = new TopicPublisher({ topicArn: TOPIC, client: client as unknown as SNSClient });
    const report = await publisher.publishSettled([
      { type: "huge", payload: "x".repeat(300_000), id: "huge" },
      ...messages(1),
    ]);

    expect(report.failed).toEqual([
      expect.objectContaining({ id: "huge", error: expect.objectContaining({ code: "MessageTooLarge" }) }),
    ]);
    expect(idsOf(client.calls[0]?.PublishBatchRequestEntries)).toEqual(["m0"]);
  });

  describe("on a FIFO topic", () => {
    it("sets MessageGroupId from the key and MessageDeduplicationId from the id", async () => {
      const client = sns(() => false);
      await new TopicPublisher({ topicArn: FIFO_TOPIC, client: client as unknown as SNSClient }).publish(
        messages(1, () => "customer-1"),
      );

      expect(client.calls[0]?.PublishBatchRequestEntries?.[0]).toMatchObject({
        MessageGroupId: "customer-1",
        MessageDeduplicationId: "m0",
      });
    });

    it("never has two messages of one group in flight, so a failed one is not overtaken by the next", async () => {
      const client = sns((id, call) => id === "m0" && call === 1);
      const publisher = new TopicPublisher({
        topicArn: FIFO_TOPIC,
        client: client as unknown as SNSClient,
        retry: fast,
      });
      // m0, m2, m4 are group "a"; m1, m3 group "b".
      await publisher.publish(messages(5, (index) => (index % 2 === 0 ? "a" : "b")));

      const order = client.calls.flatMap((call) => idsOf(call.PublishBatchRequestEntries));
      for (const call of client.calls) {
        const groups = call.PublishBatchRequestEntries?.map((entry) => entry.MessageGroupId);
        expect(new Set(groups).size).toBe(groups?.length);
      }
      const written = order.filter((id, index) => !(id === "m0" && index === 0));
      expect(written.filter((id) => ["m0", "m2", "m4"].includes(id))).toEqual(["m0", "m2", "m4"]);
    });

    it("does not send the rest of a group after one of its messages failed for good", async () => {
      const client = sns((id) => id === "m0", true);
      const publisher = new TopicPublisher({
        topicArn: FIFO_TOPIC,
        client: client as unknown as SNSClient,
        retry: fast,
      });
      const report = await publisher.publishSettled(messages(3, () => "a"));

      expect(report.results.map((result) => result.error?.code)).toEqual([
        "InvalidParameter",
        "PrecedingMessageFailed",
        "PrecedingMessageFailed",
      ]);
      expect(client.calls.flatMap((call) => idsOf(call.PublishBatchRequestEntries))).toEqual(["m0"]);
    });

    it("still sends the messages of a group ahead of one too large to send", async () => {
      const client = sns(() => false);
      const publisher = new TopicPublisher({ topicArn: FIFO_TOPIC, client: client as unknown as SNSClient });
      const report = await publisher.publishSettled([
        { id: "m0", type: "order.placed", key: "a", payload: {} },
        { id: "big", type: "order.placed", key: "a", payload: "x".repeat(300_000) },
        { id: "m2", type: "order.placed", key: "a", payload: {} },
      ]);

      expect(report.results.map((result) => result.error?.code ?? result.status)).toEqual([
        "published",
        "MessageTooLarge",
        "PrecedingMessageFailed",
      ]);
      expect(client.calls.flatMap((call) => idsOf(call.PublishBatchRequestEntries))).toEqual(["m0"]);
    });

    it("refuses a message without a key before sending anything", async () => {
      const client = sns(() => false);
      const publisher = new TopicPublisher({ topicArn: FIFO_TOPIC, client: client as unknown as SNSClient });

      await expect(publisher.publish(messages(1))).rejects.toThrow(ConfigurationError);
      await expect(publisher.publish(messages(1))).rejects.toThrow(/give every message a key/);
      expect(client.calls).toHaveLength(0);
    });
  });
});
