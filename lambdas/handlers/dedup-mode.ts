import {
  ConfigurationError,
  dynamoDbDedup,
  kinesisCheckpoints,
  type ProcessingGuard,
} from "../runtime/index.js";
import { type DedupMode, ORDERS_ENV } from "./order-events.js";

const MODES: readonly DedupMode[] = ["transactional", "plain", "checkpoints", "off"];

/** The dedup guard the stack asked for in ORDERS_DEDUP_MODE, else `fallback`. */
export function dedupFromEnvironment(fallback: DedupMode): ProcessingGuard | undefined {
  const mode = (process.env[ORDERS_ENV.dedupMode] ?? fallback) as DedupMode;
  if (!MODES.includes(mode)) {
    throw new ConfigurationError(
      `${ORDERS_ENV.dedupMode} must be one of ${MODES.join(", ")}, but "${mode}" was given.`,
    );
  }
  if (mode === "off") return undefined;
  if (mode === "checkpoints") return kinesisCheckpoints();
  return dynamoDbDedup({ mode });
}
