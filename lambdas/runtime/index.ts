/**
 * serverless-broker runtime: what runs inside Lambda. Message envelope, batching producers, consumer
 * wrappers with exact batch semantics, and exactly-once processing backed by DynamoDB.
 */
export {
  BROKER_ENV,
  CONSUMER_METRICS,
  DEAD_LETTER_ATTRIBUTES,
  DEDUP_TABLE,
  MESSAGE_ATTRIBUTES,
  METRICS_NAMESPACE,
} from "./constants.js";
export type { BatchResult, RecordOutcome } from "./consumers/batch-engine.js";
export type { ConsumerOptions, EnvelopeConsumerOptions } from "./consumers/consumer-options.js";
export { type DeadLetter, type DeadLetterSink, SqsDeadLetterSink } from "./consumers/dead-letter.js";
export {
  type DynamoDbStreamConsumer,
  type DynamoDbStreamConsumerOptions,
  dynamoDbStreamConsumer,
  type StreamChange,
} from "./consumers/dynamodb-stream-consumer.js";
export type { HandlerContext, MessageHandler } from "./consumers/handler-context.js";
export {
  type KinesisConsumer,
  type KinesisConsumerOptions,
  kinesisConsumer,
} from "./consumers/kinesis-consumer.js";
export { type BatchSummary, type ConsumerObserver, PowertoolsObserver } from "./consumers/observability.js";
export type { Admission, GuardedRecord, ProcessingGuard } from "./consumers/processing-guard.js";
export { type SqsConsumer, type SqsConsumerOptions, sqsConsumer } from "./consumers/sqs-consumer.js";
export type { TumblingWindow, WindowOptions } from "./consumers/tumbling-window.js";
export { type CheckpointOptions, kinesisCheckpoints } from "./dedup/checkpoint-guard.js";
export { type DedupOptions, dynamoDbDedup } from "./dedup/dedup-guard.js";
export type { Checkpoint, DedupRecord, DedupStore } from "./dedup/dedup-store.js";
export { DynamoDbDedupStore } from "./dedup/dynamodb-dedup-store.js";
export { InMemoryDedupStore } from "./dedup/memory-dedup-store.js";
export type { OutboxDestination, Transaction } from "./dedup/transaction.js";
export {
  causedBy,
  createEnvelope,
  isEnvelope,
  type MessageEnvelope,
  type NewMessage,
  newMessageId,
} from "./envelope.js";
export {
  BrokerError,
  type CancellationReason,
  ConfigurationError,
  POISON_REASONS,
  PoisonMessageError,
  type PoisonReason,
  PublishError,
  RetryLaterError,
  TransactionCancelledError,
  TransactionTooLargeError,
} from "./errors.js";
export { type OutboxRelayOptions, outboxRelay } from "./outbox/outbox-relay.js";
export type { Publishable, Publisher } from "./producers/batch-publisher.js";
export { BufferedPublisher, type BufferedPublisherOptions } from "./producers/buffered-publisher.js";
export type { PublishReport, PublishResult } from "./producers/publish-report.js";
export { StreamPublisher, type StreamPublisherOptions } from "./producers/stream-publisher.js";
export { TopicPublisher, type TopicPublisherOptions } from "./producers/topic-publisher.js";
export type { RetryPolicy } from "./retry.js";
export type { InferPayload, StandardSchemaV1 } from "./schema.js";
