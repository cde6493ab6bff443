import { createHash } from "node:crypto";
import type { MessageAttributeValue, SQSClient } from "@aws-sdk/client-sqs";
import { DEAD_LETTER_ATTRIBUTES } from "../constants.js";
import type { PoisonReason } from "../errors.js";

/** A message that will not be processed, with why, on its way to the group's dead-letter queue. */
export interface DeadLetter {
  /** The body exactly as the source delivered it, so that a redrive replays it unchanged. */
  readonly body: string;
  readonly bodyEncoding?: "base64";
  readonly reason: PoisonReason;
  readonly detail: string;
  readonly consumerGroup: string;
  /** The envelope id, when the body could be read. */
  readonly messageId?: string;
  /** The event source ARN (queue, stream or table stream). */
  readonly source: string;
  /** SQS message id or Kinesis / DynamoDB Streams sequence number. */
  readonly sourceRecordId: string;
  /** Message group of a FIFO source; the group's DLQ keeps it. */
  readonly messageGroupId?: string;
  /** The delivery attempt it was dead-lettered on, where the source counts them (SQS ApproximateReceiveCount). */
  readonly attempt?: number;
}

export interface DeadLetterSink {
  send(letter: DeadLetter): Promise<void>;
}

/** SQS caps a message (body plus attributes) at 1 MiB; the detail line is kept short. */
const MAX_DETAIL_LENGTH = 1_000;
/** Characters an SQS message body may not hold; such bodies travel base64-encoded. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters SQS rejects.
const NOT_ALLOWED_IN_SQS = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Created on the first dead letter from the standard environment, then reused by a warm Lambda. */
let sharedClient: SQSClient | undefined;

/**
 * Sends dead letters to an SQS queue: original body, reason and provenance as message attributes (at most
 * 9 of the 10 a message may carry, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html:
 * the source's own attributes are not copied; the envelope in the body carries its type). The SQS
 * client is loaded on the first dead letter, not at cold start: most invocations never send one.
 */
export class SqsDeadLetterSink implements DeadLetterSink {
  private readonly fifo: boolean;

  constructor(
    readonly queueUrl: string,
    private readonly client?: SQSClient,
  ) {
    this.fifo = queueUrl.endsWith(".fifo");
  }

  async send(letter: DeadLetter): Promise<void> {
    const unsendable = letter.bodyEncoding === undefined && NOT_ALLOWED_IN_SQS.test(letter.body);
    const body = unsendable ? Buffer.from(letter.body).toString("base64") : letter.body;
    const encoding = unsendable ? "base64" : letter.bodyEncoding;
    const attributes: Record<string, MessageAttributeValue> = {
      [DEAD_LETTER_ATTRIBUTES.reason]: text(letter.reason),
      [DEAD_LETTER_ATTRIBUTES.detail]: text(letter.detail.slice(0, MAX_DETAIL_LENGTH) || "-"),
      [DEAD_LETTER_ATTRIBUTES.consumerGroup]: text(letter.consumerGroup),
      [DEAD_LETTER_ATTRIBUTES.source]: text(letter.source || "-"),
      [DEAD_LETTER_ATTRIBUTES.sourceRecordId]: text(letter.sourceRecordId),
      [DEAD_LETTER_ATTRIBUTES.failedAt]: text(new Date().toISOString()),
      ...(letter.messageId ? { [DEAD_LETTER_ATTRIBUTES.messageId]: text(letter.messageId) } : {}),
      ...(encoding ? { [DEAD_LETTER_ATTRIBUTES.bodyEncoding]: text(encoding) } : {}),
      ...(letter.attempt !== undefined
        ? { [DEAD_LETTER_ATTRIBUTES.attempt]: { DataType: "Number", StringValue: String(letter.attempt) } }
        : {}),
    };
    const { SendMessageCommand, SQSClient } = await import("@aws-sdk/client-sqs");
    let client = this.client ?? sharedClient;
    if (!client) {
      client = new SQSClient({});
      sharedClient = client;
    }
    await client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: body,
        MessageAttributes: attributes,
        ...(this.fifo
          ? {
              MessageGroupId: letter.messageGroupId ?? letter.consumerGroup,
              // The same record dead-lettered twice (a retried batch) is kept once.
              MessageDeduplicationId: createHash("sha256")
                .update(`${letter.source}|${letter.sourceRecordId}`)
                .digest("hex"),
            }
          : {}),
      }),
    );
  }
}

function text(value: string): MessageAttributeValue {
  return { DataType: "String", StringValue: value };
}
