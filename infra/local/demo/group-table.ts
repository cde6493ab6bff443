import type { GroupResult } from "./orders-scenario.js";
import { renderTable } from "./table.js";

export interface GroupTableOptions {
  /** A column after the group's name saying how it deduplicates (the chaos suite's). */
  readonly mode?: (group: string) => string;
  /** Latency columns (publish → first side effect). @default false */
  readonly latency?: boolean;
}

/** What each consumer group of the orders scenario did, as the terminal table `npm start` and chaos print. */
export function renderGroupTable(groups: readonly GroupResult[], options: GroupTableOptions = {}): string {
  const { mode, latency = false } = options;
  return renderTable(
    [
      "group",
      ...(mode ? ["mode"] : []),
      "expected",
      "processed",
      "lost",
      "twice",
      "order violations",
      "dups suppressed",
      "retried",
      "DLQ",
      "DLQ reasons",
      ...(latency ? ["p50 ms", "p99 ms"] : []),
    ],
    groups.map((group) => [
      group.group,
      ...(mode ? [mode(group.group)] : []),
      group.expected,
      group.processed,
      group.lost,
      group.processedTwice,
      group.orderViolations,
      group.duplicatesSuppressed,
      group.retried,
      group.dlq,
      Object.entries(group.dlqReasons)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(", ") || "-",
      ...(latency ? [Math.round(group.latencyMs.p50), Math.round(group.latencyMs.p99)] : []),
    ]),
  );
}
