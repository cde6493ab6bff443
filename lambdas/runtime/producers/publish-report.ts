/** What happened to one message handed to a publisher. */
export interface PublishResult {
  /** The message (envelope) id. */
  readonly id: string;
  readonly status: "published" | "failed";
  /** Calls it took part in, the successful one included. */
  readonly attempts: number;
  /** SNS MessageId; Kinesis sequence number and shard; FIFO sequence number. */
  readonly receipt?: {
    readonly messageId?: string;
    readonly sequenceNumber?: string;
    readonly shardId?: string;
  };
  /** `retryable: false`: the destination refused it for good (too large, a sender fault); no retry can help. */
  readonly error?: { readonly code: string; readonly message: string; readonly retryable?: boolean };
}

/** A result for every message, in the order they were given. */
export interface PublishReport {
  /** The topic ARN or stream name. */
  readonly destination: string;
  readonly results: readonly PublishResult[];
  readonly failed: readonly PublishResult[];
}
