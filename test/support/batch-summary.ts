import type { BatchSummary } from "../../lambdas/runtime/consumers/observability.js";

/** A consumer's batch summary: nothing happened but what `counts` says. */
export function batchSummary(group: string, counts: Partial<BatchSummary> = {}): BatchSummary {
  return {
    group,
    source: "aws:sqs",
    received: 0,
    processed: 0,
    skipped: 0,
    failed: 0,
    heldBack: 0,
    deadLettered: 0,
    deadLetterReasons: {},
    payloadMismatches: 0,
    durationMs: 1,
    ...counts,
  };
}
