import type { PoisonReason } from "../errors.js";

/** A record's content, read: the handler's message, or why it is poison. */
export type Decoded<TMessage> =
  | {
      readonly ok: true;
      readonly message: TMessage;
      readonly messageId: string;
      /** A hash of the message's content; computed only when a dedup guard asks for it. */
      readonly fingerprint: () => string;
    }
  | {
      readonly ok: false;
      readonly reason: PoisonReason;
      readonly detail: string;
      readonly messageId?: string;
    };

/** One record of a Lambda event, as the batch engine handles it whatever the source. */
export interface EngineRecord<TMessage> {
  /** What goes back in batchItemFailures: SQS message id, Kinesis / DynamoDB Streams sequence number. */
  readonly itemIdentifier: string;
  /** Records of one lane run one at a time, in order; undefined: the record is independent. */
  readonly lane: string | undefined;
  /**
   * Independent records (no lane) sharing a fairness key are started round-robin with those of other keys:
   * the tenant of an SQS fair queue.
   */
  readonly fairnessKey?: string;
  /** 1-based delivery attempt, where the source says (SQS). */
  readonly attempt: number | undefined;
  readonly source: string;
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  readonly messageGroupId?: string;
  /** The body as delivered, for the dead-letter queue. */
  readonly original: { readonly body: string; readonly encoding?: "base64" };
  /** Synchronous where it can be (no schema): a promise only when validation needs one. */
  readonly decode: () => Decoded<TMessage> | Promise<Decoded<TMessage>>;
}
