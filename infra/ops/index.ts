/**
 * Operations over a broker, on the local cloud or on AWS: what the `serverless-broker` CLI calls, and a
 * web console can later.
 */
export { type Broker, type BrokerClients, type OpenBrokerOptions, openBroker } from "./broker.js";
export {
  type DeadLetterMessage,
  type DeadLetterQueueSummary,
  listDeadLetterQueues,
  REDRIVE_ATTRIBUTE,
  type RedriveOptions,
  type RedriveOutcome,
  type RedriveReport,
  redriveDeadLetters,
  showDeadLetters,
} from "./dead-letters.js";
export { OpsError } from "./errors.js";
export { openFunctionInvoker } from "./function-invoker.js";
export { type GroupStatus, GroupStatusBoard, type WatchedGroup } from "./group-status.js";
export {
  type FunctionInvoker,
  type ReplayMode,
  type ReplayOptions,
  type ReplayProgress,
  type ReplayReport,
  replayStream,
  type StreamPosition,
} from "./replay.js";
export { type TailedMessage, type TailOptions, type TailReport, tail } from "./tail.js";
export { replayTopic, type TopicReplayReport } from "./topic-replay.js";
export { findGroup, type GroupNode, readTopology, type Topology } from "./topology.js";
