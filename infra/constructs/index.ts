export { BrokerDashboard, type BrokerDashboardProps } from "./broker-dashboard.js";
export { ConsumerFunction, type ConsumerFunctionProps } from "./consumer-function.js";
export { type DedupAccess, DedupTable, type DedupTableProps } from "./dedup-table.js";
export {
  FanOutTopic,
  type FanOutTopicCommonProps,
  type FanOutTopicProps,
  type IFanOutTopic,
  type ImportedFanOutTopicProps,
} from "./fan-out-topic.js";
export { MessageBroker, type MessageBrokerProps } from "./message-broker.js";
export { Outbox, type OutboxProps } from "./outbox.js";
export {
  consumerMetric,
  QueueConsumerGroup,
  type QueueConsumerGroupOptions,
} from "./queue-consumer-group.js";
export { ShardedStream, type ShardedStreamProps } from "./sharded-stream.js";
export { StreamConsumerGroup, type StreamConsumerGroupOptions } from "./stream-consumer-group.js";
export { BrokerValidationError } from "./validation.js";
