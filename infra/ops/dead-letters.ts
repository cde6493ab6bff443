import { createHash } from "node:crypto";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { DEAD_LETTER_ATTRIBUTES, DEDUP_TABLE } from "../../lambdas/runtime/constants.js";
import type { Broker } from "./broker.js";
import { OpsError } from "./errors.js";
import { findGroup, type GroupNode } from "./topology.js";

/**
 * Set on every copy a redrive sends: how many times this message was redriven. A dead letter that carries
 * it (SQS moved it back after maxReceiveCount) is not redriven again without `force`.
 */
export const REDRIVE_ATTRIBUTE = "broker.redriveCount";
/**
 * Dedup-table items that remember a redrive, for dead letters the runtime wrote anew (its dead letters keep
 * the body, not the incoming attributes, so the attribute above is gone): `redrive#<group>#<message id>`.
 */
export const REDRIVE_MARKER_PREFIX = "redrive#";

/** SQS ReceiveMessage returns at most 10 messages a call. https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html */
const RECEIVE_MAX = 10;
/** SQS allows at most 10 message attributes a message. https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html */
const MAX_MESSAGE_ATTRIBUTES = 10;
/** How long a read holds messages invisible to others; released (visibility 0) when done. */
const HOLD_SECONDS = 300;

export interface DeadLetterMessage {
  /** The DLQ's own message id. */
  readonly dlqMessageId: string;
  readonly reason: string;
  readonly detail: string;
  /** The envelope's message id, when the body could be read. */
  readonly messageId?: string;
  /** SQS message id or stream sequence number of the failed record. */
  readonly sourceRecordId?: string;
  /** Receives of the original message before it was dead-lettered (SQS redrive), or of the dead letter. */
  readonly attempts?: number;
  readonly failedAt?: string;
  readonly ageSeconds: number;
  readonly redriveCount: number;
  readonly messageGroupId?: string;
  readonly body: string;
  readonly bodyEncoding?: string;
  /** Message attributes other than the broker's own. */
  readonly attributes: Readonly<Record<string, MessageAttributeValue>>;
}

export interface DeadLetterQueueSummary {
  readonly group: string;
  readonly stackName: string;
  readonly queueUrl: string;
  /** Visible plus in flight, as SQS approximates them. */
  readonly depth: number;
  readonly oldestAgeSeconds?: number;
  readonly byReason: Readonly<Record<string, number>>;
  /** How many messages the age and reasons are from (at most the sample). */
  readonly sampled: number;
}

/** Every group's dead-letter queue: depth, oldest age and counts by reason (from up to `sample` messages). */
export async function listDeadLetterQueues(
  broker: Broker,
  options: { sample?: number } = {},
): Promise<DeadLetterQueueSummary[]> {
  const sample = options.sample ?? 100;
  const summaries: DeadLetterQueueSummary[] = [];
  for (const group of broker.topology.groups) {
    if (!group.deadLetterQueue) continue;
    const queueUrl = await broker.physicalId(group.stackName, group.deadLetterQueue);
    const depth = await queueDepth(broker, queueUrl);
    const messages = depth > 0 ? await peek(broker, queueUrl, sample) : [];
    const byReason: Record<string, number> = {};
    for (const message of messages) byReason[message.reason] = (byReason[message.reason] ?? 0) + 1;
    const oldest = Math.max(...messages.map((message) => message.ageSeconds));
    summaries.push({
      group: group.name,
      stackName: group.stackName,
      queueUrl,
      depth,
      ...(messages.length > 0 ? { oldestAgeSeconds: oldest } : {}),
      byReason,
      sampled: messages.length,
    });
  }
  return summaries;
}

/** The messages of a group's dead-letter queue (left in it), optionally of one reason. */
export async function showDeadLetters(
  broker: Broker,
  groupName: string,
  options: { reason?: string; limit?: number } = {},
): Promise<{ group: GroupNode; queueUrl: string; messages: DeadLetterMessage[] }> {
  const group = findGroup(broker.topology, groupName);
  const queueUrl = await deadLetterQueueOf(broker, group);
  const limit = options.limit ?? 20;
  const messages = await peek(
    broker,
    queueUrl,
    options.reason ? Number.POSITIVE_INFINITY : limit,
    (message) => (options.reason ? message.reason === options.reason : true),
  );
  return { group, queueUrl, messages: messages.slice(0, limit) };
}

export type RedriveOutcome =
  | { readonly kind: "sent"; readonly message: DeadLetterMessage }
  | { readonly kind: "would-send"; readonly message: DeadLetterMessage }
  | { readonly kind: "skipped"; readonly message: DeadLetterMessage; readonly why: string }
  | { readonly kind: "failed"; readonly message: DeadLetterMessage; readonly why: string };

export interface RedriveOptions {
  readonly reason?: string;
  /** Say what would be sent and skipped; change nothing. */
  readonly dryRun?: boolean;
  /** Messages per second at most. @default 50 */
  readonly rate?: number;
  /** Redrive messages that were redriven before and failed again. */
  readonly force?: boolean;
  /** Told of each message as it is handled (a progress bar, say). */
  readonly onMessage?: (outcome: RedriveOutcome, done: number, depth: number) => void;
}

export interface RedriveReport {
  readonly group: string;
  readonly from: string;
  readonly to: string;
  readonly dryRun: boolean;
  readonly sent: number;
  readonly skipped: number;
  readonly failed: number;
  readonly outcomes: readonly RedriveOutcome[];
}

/**
 * Sends a group's dead letters back to the group's own queue (never to the topic: the other groups have
 * their copy), one at a time at `rate`:
 * - a message whose id the group's dedup table shows completed is skipped (it was processed meanwhile);
 * - a message redriven before is skipped unless `force` (it failed again: the loop guard);
 * - a dead letter is deleted only after SQS acknowledged its copy. Interrupted, nothing is lost: what was
 *   held comes back when its visibility timeout ends, and a copy sent twice is what the dedup table skips.
 * Skipped messages stay in the dead-letter queue.
 */
export async function redriveDeadLetters(
  broker: Broker,
  groupName: string,
  options: RedriveOptions = {},
): Promise<RedriveReport> {
  const group = findGroup(broker.topology, groupName);
  if (group.source.kind !== "queue")
    throw new OpsError(
      `The group ${group.name} reads ${group.source.kind === "stream" ? `the Kinesis stream ${group.source.stream}` : `the stream of ${group.source.table}`}, not a queue: its dead letters cannot go back to a queue of its own.`,
      group.source.kind === "stream"
        ? `Each dead letter carries the record's shard sequence number (sourceRecordId; \`serverless-broker dlq show ${group.name}\` lists them): write those records to the stream again, or reprocess them from your producer.`
        : "Fix the cause and write the rows again.",
    );
  const from = await deadLetterQueueOf(broker, group);
  const to = await broker.physicalId(group.stackName, group.source.queue);
  const dedupTable = group.dedupTable
    ? await broker.physicalId(group.stackName, group.dedupTable)
    : undefined;
  const fifo = group.source.fifo;
  // Well below SQS FIFO's 300 SendMessage calls a second per queue (without high throughput mode):
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
  const rate = options.rate ?? 50;
  if (!(rate > 0)) throw new OpsError(`--rate must be above 0, but ${rate} was given.`, "");
  const depth = await queueDepth(broker, from);

  const outcomes: RedriveOutcome[] = [];
  const held: Message[] = [];
  const seen = new Set<string>();
  let nextSendAt = 0;
  try {
    for (;;) {
      const batch = await receive(broker, from, RECEIVE_MAX);
      const fresh = batch.filter((message) => !seen.has(message.MessageId as string));
      if (fresh.length === 0) break;
      for (const raw of fresh) {
        seen.add(raw.MessageId as string);
        const message = deadLetterOf(raw);
        const outcome = await (async (): Promise<RedriveOutcome | undefined> => {
          if (options.reason && message.reason !== options.reason) return undefined;
          if (dedupTable && message.messageId) {
            if (await completed(broker, dedupTable, `${group.name}#${message.messageId}`))
              return { kind: "skipped", message, why: "the dedup table shows it completed" };
          }
          const previousRedrives = Math.max(
            message.redriveCount,
            dedupTable && message.messageId
              ? await redriveMarker(broker, dedupTable, group.name, message.messageId)
              : 0,
          );
          if (previousRedrives > 0 && !options.force)
            return {
              kind: "skipped",
              message,
              why: `redriven ${previousRedrives} time(s) before and dead-lettered again (pass --force to redrive it anyway)`,
            };
          const attributes = {
            ...message.attributes,
            [REDRIVE_ATTRIBUTE]: { DataType: "Number", StringValue: String(previousRedrives + 1) },
          };
          if (Object.keys(attributes).length > MAX_MESSAGE_ATTRIBUTES)
            return {
              kind: "failed",
              message,
              why: `it has ${Object.keys(attributes).length - 1} message attributes; with the redrive count it would exceed SQS's ${MAX_MESSAGE_ATTRIBUTES}`,
            };
          if (options.dryRun) return { kind: "would-send", message };
          const wait = nextSendAt - performance.now();
          if (wait > 0) await new Promise((done) => setTimeout(done, wait));
          nextSendAt = Math.max(nextSendAt, performance.now()) + 1000 / rate;
          try {
            const body =
              message.bodyEncoding === "base64"
                ? Buffer.from(message.body, "base64").toString()
                : message.body;
            const sent = await broker.clients.sqs.send(
              new SendMessageCommand({
                QueueUrl: to,
                MessageBody: body,
                MessageAttributes: attributes,
                ...(fifo
                  ? {
                      MessageGroupId: message.messageGroupId ?? group.name,
                      // The same dead letter sent twice (a redrive interrupted and run again) is kept once.
                      MessageDeduplicationId: createHash("sha256").update(message.dlqMessageId).digest("hex"),
                    }
                  : {}),
              }),
            );
            if (!sent.MessageId) throw new Error("SendMessage returned no MessageId");
            if (dedupTable && message.messageId)
              await markRedriven(broker, dedupTable, group.name, message.messageId, previousRedrives + 1);
          } catch (error) {
            return { kind: "failed", message, why: `${(error as Error).name}: ${(error as Error).message}` };
          }
          // Acknowledged by the group's queue: only now does it leave the dead-letter queue.
          await broker.clients.sqs.send(
            new DeleteMessageCommand({ QueueUrl: from, ReceiptHandle: raw.ReceiptHandle }),
          );
          return { kind: "sent", message };
        })();
        if (!outcome) {
          held.push(raw);
          continue;
        }
        if (outcome.kind !== "sent") held.push(raw);
        outcomes.push(outcome);
        options.onMessage?.(outcome, outcomes.length, depth);
      }
    }
  } finally {
    await release(broker, from, held);
  }
  const count = (kind: RedriveOutcome["kind"]) => outcomes.filter((outcome) => outcome.kind === kind).length;
  return {
    group: group.name,
    from,
    to,
    dryRun: options.dryRun === true,
    sent: options.dryRun ? count("would-send") : count("sent"),
    skipped: count("skipped"),
    failed: count("failed"),
    outcomes,
  };
}

async function deadLetterQueueOf(broker: Broker, group: GroupNode): Promise<string> {
  if (!group.deadLetterQueue)
    throw new OpsError(
      `The group ${group.name} has no dead-letter queue.`,
      "Give its queue a redrive policy (deadLetterQueue), or its stream event source an on-failure destination.",
    );
  return broker.physicalId(group.stackName, group.deadLetterQueue);
}

async function queueDepth(broker: Broker, queueUrl: string): Promise<number> {
  const { Attributes } = await broker.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function receive(broker: Broker, queueUrl: string, max: number): Promise<Message[]> {
  // Real SQS samples a subset of its servers on a short poll; a one-second long poll sees them all.
  const { Messages } = await broker.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(max, RECEIVE_MAX),
      VisibilityTimeout: HOLD_SECONDS,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return Messages ?? [];
}

/** Reads up to `max` messages (matching `keep`) and makes all it read visible again. */
async function peek(
  broker: Broker,
  queueUrl: string,
  max: number,
  keep: (message: DeadLetterMessage) => boolean = () => true,
): Promise<DeadLetterMessage[]> {
  const held: Message[] = [];
  const seen = new Set<string>();
  const kept: DeadLetterMessage[] = [];
  try {
    while (kept.length < max) {
      const fresh = (await receive(broker, queueUrl, max - kept.length)).filter(
        (message) => !seen.has(message.MessageId as string),
      );
      if (fresh.length === 0) break;
      for (const raw of fresh) {
        seen.add(raw.MessageId as string);
        held.push(raw);
        const message = deadLetterOf(raw);
        if (keep(message)) kept.push(message);
      }
    }
  } finally {
    await release(broker, queueUrl, held);
  }
  return kept;
}

async function release(broker: Broker, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let index = 0; index < messages.length; index += RECEIVE_MAX) {
    await broker.clients.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.slice(index, index + RECEIVE_MAX).map((message, offset) => ({
          Id: String(offset),
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

function deadLetterOf(raw: Message): DeadLetterMessage {
  const attributes = raw.MessageAttributes ?? {};
  const text = (name: string) => attributes[name]?.StringValue;
  const system = raw.Attributes ?? {};
  const sent = Number(system.SentTimestamp ?? Date.now());
  const own = new Set<string>([...Object.values(DEAD_LETTER_ATTRIBUTES), REDRIVE_ATTRIBUTE]);
  const messageId = text(DEAD_LETTER_ATTRIBUTES.messageId);
  const sourceRecordId = text(DEAD_LETTER_ATTRIBUTES.sourceRecordId);
  const failedAt = text(DEAD_LETTER_ATTRIBUTES.failedAt);
  const bodyEncoding = text(DEAD_LETTER_ATTRIBUTES.bodyEncoding);
  const attempt = text(DEAD_LETTER_ATTRIBUTES.attempt);
  return {
    dlqMessageId: raw.MessageId as string,
    // Without the runtime's attributes, SQS moved it here after maxReceiveCount receives.
    reason: text(DEAD_LETTER_ATTRIBUTES.reason) ?? "max-receives",
    detail:
      text(DEAD_LETTER_ATTRIBUTES.detail) ??
      "moved by the queue's redrive policy after maxReceiveCount receives",
    ...(messageId ? { messageId } : {}),
    ...(sourceRecordId ? { sourceRecordId } : {}),
    // The source's attempt the runtime recorded; else (moved by the redrive policy) the receives SQS counted.
    ...((attempt ?? system.ApproximateReceiveCount)
      ? { attempts: Number(attempt ?? system.ApproximateReceiveCount) }
      : {}),
    ...(failedAt ? { failedAt } : {}),
    ageSeconds: Math.max(0, Math.round((Date.now() - sent) / 1000)),
    redriveCount: Number(text(REDRIVE_ATTRIBUTE) ?? 0),
    ...(system.MessageGroupId ? { messageGroupId: system.MessageGroupId } : {}),
    body: raw.Body ?? "",
    ...(bodyEncoding ? { bodyEncoding } : {}),
    attributes: Object.fromEntries(Object.entries(attributes).filter(([name]) => !own.has(name))),
  };
}

async function completed(broker: Broker, table: string, key: string): Promise<boolean> {
  const { Item } = await broker.clients.dynamodb.send(
    new GetItemCommand({
      TableName: table,
      Key: { [DEDUP_TABLE.partitionKey]: { S: key } },
      ConsistentRead: true,
    }),
  );
  if (Item?.status?.S !== "COMPLETED") return false;
  // Past its retention the record no longer counts (DynamoDB TTL deletes it some time after).
  const expiresAt = Number(Item[DEDUP_TABLE.timeToLiveAttribute]?.N ?? Number.POSITIVE_INFINITY);
  return expiresAt > Date.now() / 1000;
}

async function redriveMarker(
  broker: Broker,
  table: string,
  group: string,
  messageId: string,
): Promise<number> {
  const { Item } = await broker.clients.dynamodb.send(
    new GetItemCommand({
      TableName: table,
      Key: { [DEDUP_TABLE.partitionKey]: { S: `${REDRIVE_MARKER_PREFIX}${group}#${messageId}` } },
      ConsistentRead: true,
    }),
  );
  return Number(Item?.count?.N ?? 0);
}

/** SQS keeps a message at most 14 days; a redrive marker needs to live no longer. */
const MARKER_RETENTION_SECONDS = 14 * 24 * 3600;

async function markRedriven(broker: Broker, table: string, group: string, messageId: string, count: number) {
  await broker.clients.dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        [DEDUP_TABLE.partitionKey]: { S: `${REDRIVE_MARKER_PREFIX}${group}#${messageId}` },
        count: { N: String(count) },
        [DEDUP_TABLE.timeToLiveAttribute]: {
          N: String(Math.floor(Date.now() / 1000) + MARKER_RETENTION_SECONDS),
        },
      },
    }),
  );
}
