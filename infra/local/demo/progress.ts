import type { BatchSummary } from "../../../lambdas/runtime/consumers/observability.js";

/** Running totals per consumer group, from the batch summaries the runtime logs. */
export class GroupProgress {
  private readonly totals = new Map<
    string,
    { processed: number; skipped: number; failed: number; deadLettered: number }
  >();

  record(summary: BatchSummary): void {
    const total = this.totals.get(summary.group) ?? { processed: 0, skipped: 0, failed: 0, deadLettered: 0 };
    total.processed += summary.processed;
    total.skipped += summary.skipped;
    total.failed += summary.failed;
    total.deadLettered += summary.deadLettered;
    this.totals.set(summary.group, total);
  }

  of(group: string) {
    return this.totals.get(group) ?? { processed: 0, skipped: 0, failed: 0, deadLettered: 0 };
  }

  /** One line: `billing 812/1000 · shipping 790/1000 …`. */
  line(expected: ReadonlyMap<string, number>, elapsedMs: number): string {
    const parts = [...expected].map(
      ([group, count]) => `${group} ${Math.min(this.of(group).processed, count)}/${count}`,
    );
    return `${parts.join(" · ")}  (${(elapsedMs / 1000).toFixed(1)} s)`;
  }
}
