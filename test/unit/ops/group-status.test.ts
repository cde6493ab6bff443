import type { SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { GroupStatusBoard } from "../../../infra/ops/group-status.js";
import { batchSummary } from "../../support/batch-summary.js";

/** No queues to read: the board's counters alone. */
const noSqs = {} as SQSClient;

describe("start's status line", () => {
  it("counts a broker consumer from its batch summaries, and a plain handler from what its event source delivered", () => {
    let delivered = { processed: 0, retried: 0 };
    const board = new GroupStatusBoard(
      [
        { name: "billing", delivered: () => ({ processed: 99, retried: 99 }) },
        { name: "PlainWorker", delivered: () => delivered },
      ],
      noSqs,
    );
    board.record(batchSummary("billing", { processed: 8, failed: 2, skipped: 1 }));
    delivered = { processed: 5, retried: 1 };

    // The summaries know duplicates and dead letters; a plain handler logs none, so its mapping's counts stand in.
    expect(board.line()).toBe("billing ✓8 ↻2 · PlainWorker ✓5 ↻1");
  });
});
