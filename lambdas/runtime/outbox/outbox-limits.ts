import { MESSAGE_ATTRIBUTES } from "../constants.js";
import type { OutboxDestination } from "../dedup/transaction.js";
import type { MessageEnvelope } from "../envelope.js";
import { POISON_REASONS, PoisonMessageError } from "../errors.js";

/**
 * SNS accepts a message of at most 256 KiB, body and attributes counted
 * (https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html); a Kinesis record at most 1 MiB,
 * data and partition key counted (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html).
 */
export const SNS_MESSAGE_MAX_BYTES = 262_144;
export const KINESIS_RECORD_MAX_BYTES = 1_048_576;

/** The bytes the relay will send for an envelope, counted as the destination counts them. */
export function outgoingBytes(destination: OutboxDestination, envelope: MessageEnvelope): number {
  const body = Buffer.byteLength(JSON.stringify(envelope));
  if ("topicArn" in destination) {
    return body + MESSAGE_ATTRIBUTES.type.length + "String".length + Buffer.byteLength(envelope.type);
  }
  return body + Buffer.byteLength(envelope.key ?? envelope.id);
}

/**
 * Refuses, in the handler, a message its destination could never accept, so that it never becomes an
 * outbox row that no retry can publish: too large, or without the key a FIFO topic needs.
 */
export function assertPublishable(destination: OutboxDestination, envelope: MessageEnvelope): void {
  const topic = "topicArn" in destination;
  const name = topic ? destination.topicArn : destination.streamName;
  const limit = topic ? SNS_MESSAGE_MAX_BYTES : KINESIS_RECORD_MAX_BYTES;
  const bytes = outgoingBytes(destination, envelope);
  if (bytes > limit) {
    throw new PoisonMessageError(
      `Message ${envelope.id} (${envelope.type}) comes to ${bytes} bytes, but ${name} accepts at most ${limit}: ` +
        "publish a smaller message (a reference to the data, say) from this handler.",
      POISON_REASONS.tooLarge,
    );
  }
  if (topic && destination.topicArn.endsWith(".fifo") && !envelope.key) {
    throw new PoisonMessageError(
      `Message ${envelope.id} (${envelope.type}) has no key, but ${name} is a FIFO topic: give it a key; ` +
        "it becomes the MessageGroupId that orders it.",
      POISON_REASONS.rejectedByHandler,
    );
  }
}
