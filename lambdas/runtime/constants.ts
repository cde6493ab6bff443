/**
 * Names shared by the CDK constructs (which set them) and the runtime (which reads them), so that the two
 * sides cannot drift. Infra imports this file; it must stay free of runtime dependencies.
 */

/** Environment variables the constructs inject into consumer functions. */
export const BROKER_ENV = {
  /** The consumer group a function processes for; the first half of every dedup key. */
  consumerGroup: "BROKER_CONSUMER_GROUP",
  /** The group's dead-letter queue (SQS) or on-failure destination (Kinesis): where poison goes. */
  deadLetterQueueUrl: "BROKER_DLQ_URL",
  /** The source queue's redrive maxReceiveCount: on that attempt the runtime dead-letters with the reason. */
  maxReceiveCount: "BROKER_MAX_RECEIVE_COUNT",
  /** The dedup table (DynamoDB) of the exactly-once middleware. */
  dedupTableName: "BROKER_DEDUP_TABLE_NAME",
  /** How long a completed dedup record is kept, in seconds: at least the channel's redelivery window. */
  dedupRetentionSeconds: "BROKER_DEDUP_RETENTION_SECONDS",
  /**
   * Caps a dedup claim's lease (ms). By default a lease lasts as long as the invocation could; a shorter
   * one lets a crashed worker's messages be taken over sooner, for handlers known to finish quickly.
   */
  dedupMaxLeaseMs: "BROKER_DEDUP_MAX_LEASE_MS",
  /** A Kinesis group's ParallelizationFactor: per-shard checkpoints refuse to run above 1. */
  parallelizationFactor: "BROKER_PARALLELIZATION_FACTOR",
} as const;

/** Attribute names of the dedup table. */
export const DEDUP_TABLE = {
  partitionKey: "pk",
  /** Epoch seconds; DynamoDB TTL deletes the item some time after. */
  timeToLiveAttribute: "expiresAt",
  /** Key prefixes of the three kinds of item the table holds. */
  checkpointPrefix: "checkpoint#",
  outboxPrefix: "outbox#",
} as const;

/**
 * A replay on purpose (`serverless-broker replay --mode all`) marks its records: their eventSourceARN is
 * `<stream ARN>#replay#<replay id>`. The dedup and checkpoint guards then keep their state under the scope
 * `<group>#replay#<replay id>` (dedup rows `<group>#replay#<id>#<message id>`, checkpoints
 * `checkpoint#<group>#replay#<id>#<shard>`): inside the `<group>#*` and `checkpoint#<group>#*` LeadingKeys the
 * constructs grant, and apart from the group's live rows, which such a replay neither skips on nor changes.
 */
export const REPLAY_MARKER = "#replay#";

/** The replay id of a batch whose source carries REPLAY_MARKER, else undefined. */
export function replayIdOf(source: string): string | undefined {
  const at = source.lastIndexOf(REPLAY_MARKER);
  return at < 0 ? undefined : source.slice(at + REPLAY_MARKER.length) || undefined;
}

/** Where a group's guards keep their state for a batch: the group, or its replay's own scope. */
export function guardScope(group: string, source: string): string {
  const replayId = replayIdOf(source);
  return replayId === undefined ? group : `${group}${REPLAY_MARKER}${replayId}`;
}

/** SNS message attributes the producers set (filter policies can match them). */
export const MESSAGE_ATTRIBUTES = {
  type: "type",
} as const;

/** SQS message attributes on a dead-lettered message, next to its original body. */
export const DEAD_LETTER_ATTRIBUTES = {
  reason: "broker.reason",
  detail: "broker.detail",
  consumerGroup: "broker.consumerGroup",
  messageId: "broker.messageId",
  source: "broker.source",
  sourceRecordId: "broker.sourceRecordId",
  failedAt: "broker.failedAt",
  /** "base64" when the original body was binary (Kinesis data that is not UTF-8). */
  bodyEncoding: "broker.bodyEncoding",
  /** The source's delivery attempt it failed on (SQS ApproximateReceiveCount), a Number. */
  attempt: "broker.attempt",
} as const;

/** Metric namespace of the runtime's CloudWatch EMF metrics. */
export const METRICS_NAMESPACE = "ServerlessBroker";

/** The `service` dimension Powertools Metrics adds to every metric, next to ConsumerGroup. */
export const METRICS_SERVICE = "serverless-broker";

/** Names of the EMF metrics the consumer wrappers emit, per ConsumerGroup dimension. */
export const CONSUMER_METRICS = {
  processed: "MessagesProcessed",
  failed: "MessagesFailed",
  poison: "MessagesDeadLettered",
  duplicates: "DuplicatesSkipped",
  /** Returned for redelivery without running: in flight elsewhere (an in-flight duplicate), not failed. */
  heldBack: "MessagesHeldBack",
  payloadMismatches: "PayloadMismatches",
  duration: "BatchDuration",
} as const;

/**
 * Consumer group names the runtime uses itself, or that would collide with the dedup table's internal key
 * prefixes (a group's dedup keys start with `<group>#`): the constructs refuse them as group names.
 */
export const RESERVED_CONSUMER_GROUPS = {
  /** The transactional outbox relay's group (its metrics and dead letters). */
  outboxRelay: "outbox-relay",
  /** `<group>#…` would be the outbox's `outbox#…` rows. */
  outbox: "outbox",
  /** `<group>#…` would be the stream checkpoints' `checkpoint#…` rows. */
  checkpoint: "checkpoint",
} as const;
