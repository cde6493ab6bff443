/**
 * SNS Publish and PublishBatch for the fauxqs engine, replacing its own where it differs from AWS in ways an
 * app can observe: a FIFO topic deduplicates (explicit or content-based ids) across all its subscriptions for
 * 5 minutes; body filter policies match any element of an array; the notification envelope leaves `Subject`
 * out when none was given; AWS's input limits are enforced. Everything else (topics, subscriptions, queues)
 * stays fauxqs's, reached through its stores.
 */
import { createHash, randomUUID } from "node:crypto";
import { type FilterPolicyScope, type MessageAttribute, matchesFilterPolicy } from "./sns-filter-policy.js";

/** Publish: "messages must be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes)", attributes
 * included (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html); PublishBatch: the same for the sum. */
export const SNS_MAX_PAYLOAD_BYTES = 262_144;
/** "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters
 * long." (API_Publish.html; AWS accepts exactly 100). */
export const SNS_MAX_SUBJECT_CHARS = 100;
/** MessageGroupId and MessageDeduplicationId: up to 128 alphanumeric or punctuation characters. */
export const SNS_MAX_FIFO_ID_CHARS = 128;
/** "The maximum number of entries in a batch is 10." (API_PublishBatch.html) */
export const SNS_MAX_BATCH_ENTRIES = 10;
/** Batch entry ids: up to 80 alphanumeric characters, hyphens and underscores (API_PublishBatchRequestEntry). */
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** "Amazon SNS FIFO topics … deduplicate messages within a 5-minute interval" (fifo-message-dedup.html). */
export const SNS_FIFO_DEDUP_WINDOW_MS = 5 * 60_000;

/** The parts of fauxqs's stores and errors this uses (fauxqs 1.9). */
export interface FauxqsSns {
  readonly SnsError: new (code: string, message: string, statusCode?: number) => Error;
  readonly createMessage: (
    body: string,
    attributes: Record<string, MessageAttribute>,
    delaySeconds: undefined,
    groupId: string | undefined,
    dedupId: string | undefined,
  ) => { messageId: string; sequenceNumber?: string };
}
interface Topic {
  readonly name: string;
  readonly attributes: Record<string, string | undefined>;
  readonly subscriptionArns: readonly string[];
}
interface Subscription {
  readonly arn: string;
  readonly protocol: string;
  readonly endpoint: string;
  readonly confirmed: boolean;
  readonly attributes: Record<string, string | undefined>;
}
interface Queue {
  isFifo(): boolean;
  checkDeduplication(id: string): { isDuplicate: boolean };
  recordDeduplication(id: string, messageId: string): void;
  nextSequenceNumber(): string;
  enqueue(message: unknown): void;
}
export interface SnsStoreLike {
  getTopic(arn: string): Topic | undefined;
  getSubscription(arn: string): Subscription | undefined;
}
export interface SqsStoreLike {
  getQueueByArn(arn: string): Queue | undefined;
}
type Params = Record<string, string | undefined>;
type Handler = (params: Params, snsStore: SnsStoreLike, sqsStore: SqsStoreLike) => string;

interface Entry {
  readonly id?: string;
  readonly message: string | undefined;
  readonly subject: string | undefined;
  readonly groupId: string | undefined;
  readonly dedupId: string | undefined;
  readonly attributes: Record<string, MessageAttribute>;
}

interface Published {
  readonly messageId: string;
  readonly sequenceNumber?: string;
}

/** Builds the two handlers over one deduplication memory (per topic, per engine process). */
export function createPublishHandlers(fauxqs: FauxqsSns): { Publish: Handler; PublishBatch: Handler } {
  const recent = new Map<string, Map<string, { published: Published; until: number }>>();
  const sequences = new Map<string, bigint>();
  const invalid = (message: string) =>
    new fauxqs.SnsError("InvalidParameter", `Invalid parameter: ${message}`);

  const topicOf = (params: Params, snsStore: SnsStoreLike): [string, Topic] => {
    const arn = params.TopicArn ?? params.TargetArn;
    if (!arn) throw invalid("TopicArn or TargetArn Reason: no value for required parameter");
    const topic = snsStore.getTopic(arn);
    if (!topic) throw new fauxqs.SnsError("NotFound", "Topic does not exist", 404);
    return [arn, topic];
  };

  /** Validates one entry against AWS's limits; answers the error message, or undefined when valid. */
  const problemWith = (entry: Entry, topic: Topic): string | undefined => {
    if (!entry.message) return "Message Reason: Empty message";
    if (payloadBytes(entry) > SNS_MAX_PAYLOAD_BYTES)
      return `Message too long. Message must be shorter than ${SNS_MAX_PAYLOAD_BYTES} bytes.`;
    if (entry.subject !== undefined) {
      if (entry.subject.length > SNS_MAX_SUBJECT_CHARS)
        return `Subject Reason: must be at most ${SNS_MAX_SUBJECT_CHARS} characters, but it has ${entry.subject.length}`;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what is refused.
      if (/[\u0000-\u001f\u007f]/.test(entry.subject))
        return "Subject Reason: no line breaks or control characters";
    }
    for (const [label, value] of [
      ["MessageGroupId", entry.groupId],
      ["MessageDeduplicationId", entry.dedupId],
    ] as const)
      if (
        value !== undefined &&
        (value.length === 0 || value.length > SNS_MAX_FIFO_ID_CHARS || !/^[\x21-\x7e]+$/.test(value))
      )
        return `${label} Reason: up to ${SNS_MAX_FIFO_ID_CHARS} alphanumeric or punctuation characters`;
    if (topic.attributes.FifoTopic === "true") {
      if (!entry.groupId) return "The MessageGroupId parameter is required for FIFO topics";
      if (!entry.dedupId && topic.attributes.ContentBasedDeduplication !== "true")
        return "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";
    }
    return undefined;
  };

  const publishOne = (
    topicArn: string,
    topic: Topic,
    entry: Entry,
    snsStore: SnsStoreLike,
    sqsStore: SqsStoreLike,
  ): Published => {
    const fifo = topic.attributes.FifoTopic === "true";
    // Content-based: "a SHA-256 hash … of the body of the message (but not the attributes)".
    const dedupId = fifo
      ? (entry.dedupId ??
        createHash("sha256")
          .update(entry.message ?? "")
          .digest("hex"))
      : undefined;
    const now = Date.now();
    let seen: Map<string, { published: Published; until: number }> | undefined;
    if (dedupId !== undefined) {
      seen = recent.get(topicArn) ?? new Map();
      recent.set(topicArn, seen);
      for (const [id, record] of seen) if (record.until <= now) seen.delete(id);
      const earlier = seen.get(dedupId);
      // A duplicate is accepted and answered like the original, but delivered to no one.
      if (earlier) return earlier.published;
    }
    const messageId = randomUUID();
    let sequenceNumber: string | undefined;
    if (fifo) {
      const next = (sequences.get(topicArn) ?? 10_000_000_000_000_000_000n) + 1n;
      sequences.set(topicArn, next);
      sequenceNumber = next.toString();
    }
    const published: Published = { messageId, ...(sequenceNumber ? { sequenceNumber } : {}) };
    seen?.set(dedupId as string, { published, until: now + SNS_FIFO_DEDUP_WINDOW_MS });
    deliver(topicArn, topic, entry, messageId, dedupId, snsStore, sqsStore);
    return published;
  };

  const deliver = (
    topicArn: string,
    topic: Topic,
    entry: Entry,
    messageId: string,
    dedupId: string | undefined,
    snsStore: SnsStoreLike,
    sqsStore: SqsStoreLike,
  ): void => {
    const message = entry.message ?? "";
    const timestamp = new Date().toISOString();
    for (const subscriptionArn of topic.subscriptionArns) {
      const subscription = snsStore.getSubscription(subscriptionArn);
      if (!subscription?.confirmed || subscription.protocol !== "sqs") continue;
      if (!passesFilter(subscription, message, entry.attributes)) continue;
      const queue = sqsStore.getQueueByArn(subscription.endpoint);
      if (!queue) continue;
      const raw = subscription.attributes.RawMessageDelivery === "true";
      const body = raw
        ? message
        : JSON.stringify({
            Type: "Notification",
            MessageId: messageId,
            TopicArn: topicArn,
            // Absent, not null, when the publisher gave none (as AWS delivers it).
            ...(entry.subject !== undefined ? { Subject: entry.subject } : {}),
            Message: message,
            Timestamp: timestamp,
            SignatureVersion: "1",
            Signature: "EXAMPLE",
            SigningCertURL:
              "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            UnsubscribeURL: `https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${subscription.arn}`,
            MessageAttributes: envelopeAttributes(entry.attributes),
          });
      const queued = fauxqs.createMessage(
        body,
        raw ? entry.attributes : {},
        undefined,
        entry.groupId,
        dedupId,
      );
      if (queue.isFifo() && dedupId !== undefined) {
        if (queue.checkDeduplication(dedupId).isDuplicate) continue;
        queued.sequenceNumber = queue.nextSequenceNumber();
        queue.recordDeduplication(dedupId, queued.messageId);
      }
      queue.enqueue(queued);
    }
  };

  const Publish: Handler = (params, snsStore, sqsStore) => {
    const [topicArn, topic] = topicOf(params, snsStore);
    const entry: Entry = {
      message: params.Message,
      subject: params.Subject,
      groupId: params.MessageGroupId,
      dedupId: params.MessageDeduplicationId,
      attributes: parseAttributes(params, "MessageAttributes"),
    };
    const problem = problemWith(entry, topic);
    if (problem) throw invalid(problem);
    const { messageId, sequenceNumber } = publishOne(topicArn, topic, entry, snsStore, sqsStore);
    return successXml(
      "Publish",
      `<MessageId>${messageId}</MessageId>${sequenceNumber ? `<SequenceNumber>${sequenceNumber}</SequenceNumber>` : ""}`,
    );
  };

  const PublishBatch: Handler = (params, snsStore, sqsStore) => {
    const [topicArn, topic] = topicOf(params, snsStore);
    const entries = parseBatch(params);
    if (entries.length === 0)
      throw new fauxqs.SnsError("EmptyBatchRequest", "The batch request doesn't contain any entries.");
    if (entries.length > SNS_MAX_BATCH_ENTRIES)
      throw new fauxqs.SnsError(
        "TooManyEntriesInBatchRequest",
        `The batch request contains more entries than permissible (${SNS_MAX_BATCH_ENTRIES}).`,
      );
    if (new Set(entries.map((entry) => entry.id)).size !== entries.length)
      throw new fauxqs.SnsError(
        "BatchEntryIdsNotDistinct",
        "Two or more batch entries in the request have the same Id.",
      );
    if (entries.some((entry) => !BATCH_ENTRY_ID.test(entry.id ?? "")))
      throw new fauxqs.SnsError(
        "InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores, up to 80 characters.",
      );
    if (entries.reduce((sum, entry) => sum + payloadBytes(entry), 0) > SNS_MAX_PAYLOAD_BYTES)
      throw new fauxqs.SnsError(
        "BatchRequestTooLong",
        `The length of all the messages put together is more than the limit (${SNS_MAX_PAYLOAD_BYTES} bytes).`,
      );
    let successful = "";
    let failed = "";
    for (const entry of entries) {
      const problem = problemWith(entry, topic);
      if (problem) {
        failed += `<member><Id>${entry.id}</Id><Code>InvalidParameter</Code><Message>${escapeXml(`Invalid parameter: ${problem}`)}</Message><SenderFault>true</SenderFault></member>`;
        continue;
      }
      const { messageId, sequenceNumber } = publishOne(topicArn, topic, entry, snsStore, sqsStore);
      successful += `<member><Id>${entry.id}</Id><MessageId>${messageId}</MessageId>${sequenceNumber ? `<SequenceNumber>${sequenceNumber}</SequenceNumber>` : ""}</member>`;
    }
    return successXml("PublishBatch", `<Successful>${successful}</Successful><Failed>${failed}</Failed>`);
  };

  return { Publish, PublishBatch };
}

function passesFilter(
  subscription: Subscription,
  body: string,
  attributes: Record<string, MessageAttribute>,
): boolean {
  const source = subscription.attributes.FilterPolicy;
  if (!source) return true;
  let policy: unknown;
  try {
    policy = JSON.parse(source);
  } catch {
    return false;
  }
  if (policy === null || typeof policy !== "object" || Object.keys(policy).length === 0) return true;
  const scope = (subscription.attributes.FilterPolicyScope ?? "MessageAttributes") as FilterPolicyScope;
  return matchesFilterPolicy(policy as Record<string, unknown>, scope, { body, attributes });
}

function envelopeAttributes(
  attributes: Record<string, MessageAttribute>,
): Record<string, { Type: string; Value: string }> {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, attribute]) => [
      name,
      { Type: attribute.DataType, Value: attribute.StringValue ?? attribute.BinaryValue ?? "" },
    ]),
  );
}

/** Body plus each attribute's name, type and value, as SNS counts a message's size. */
function payloadBytes(entry: Entry): number {
  let bytes = Buffer.byteLength(entry.message ?? "", "utf8");
  for (const [name, attribute] of Object.entries(entry.attributes))
    bytes +=
      Buffer.byteLength(name) +
      Buffer.byteLength(attribute.DataType) +
      Buffer.byteLength(attribute.StringValue ?? attribute.BinaryValue ?? "");
  return bytes;
}

/** `<prefix>.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` / `.Value.BinaryValue`. */
function parseAttributes(params: Params, prefix: string): Record<string, MessageAttribute> {
  const attributes: Record<string, MessageAttribute> = {};
  const pattern = new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.entry\\.(\\d+)\\.Name$`);
  for (const [key, name] of Object.entries(params)) {
    const index = pattern.exec(key)?.[1];
    if (index === undefined || !name) continue;
    const base = `${prefix}.entry.${index}.Value`;
    const dataType = params[`${base}.DataType`];
    if (!dataType) continue;
    const stringValue = params[`${base}.StringValue`];
    const binaryValue = params[`${base}.BinaryValue`];
    attributes[name] = {
      DataType: dataType,
      ...(stringValue !== undefined ? { StringValue: stringValue } : {}),
      ...(binaryValue !== undefined ? { BinaryValue: binaryValue } : {}),
    };
  }
  return attributes;
}

function parseBatch(params: Params): Entry[] {
  const indexes = new Set<number>();
  for (const key of Object.keys(params)) {
    const index = /^PublishBatchRequestEntries\.member\.(\d+)\./.exec(key)?.[1];
    if (index !== undefined) indexes.add(Number(index));
  }
  return [...indexes]
    .sort((a, b) => a - b)
    .map((index) => {
      const prefix = `PublishBatchRequestEntries.member.${index}`;
      return {
        id: params[`${prefix}.Id`],
        message: params[`${prefix}.Message`],
        subject: params[`${prefix}.Subject`],
        groupId: params[`${prefix}.MessageGroupId`],
        dedupId: params[`${prefix}.MessageDeduplicationId`],
        attributes: parseAttributes(params, `${prefix}.MessageAttributes`),
      };
    });
}

function successXml(action: string, result: string): string {
  return (
    `<${action}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><${action}Result>${result}</${action}Result>` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
