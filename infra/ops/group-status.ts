import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { BatchSummary } from "../../lambdas/runtime/consumers/observability.js";

export interface WatchedGroup {
  readonly name: string;
  /** The group's own queue (lag is its depth); undefined for a stream group. */
  readonly queueUrl?: string;
  readonly deadLetterQueueUrl?: string;
  /**
   * What the group's event source handed its function and got back failed, so far: the counts of a plain
   * handler, which logs no batch summary (a function without this package's consumer wrappers).
   */
  readonly delivered?: () => { readonly processed: number; readonly retried: number };
}

export interface GroupStatus {
  readonly group: string;
  readonly processed: number;
  /** Reported back for redelivery (a failure, or waiting behind one). */
  readonly retried: number;
  readonly deadLettered: number;
  readonly skipped: number;
  readonly dlqDepth?: number;
  /** Messages waiting in the group's queue. */
  readonly lag?: number;
}

/**
 * Live counters per consumer group, for `start`'s status line (and a console later): totals from the
 * runtime's batch summaries (for a plain handler, from its event source), DLQ depth and queue lag read from
 * SQS on `refresh`.
 */
export class GroupStatusBoard {
  private readonly totals = new Map<
    string,
    { processed: number; retried: number; deadLettered: number; skipped: number }
  >();
  private readonly depths = new Map<string, { dlqDepth?: number; lag?: number }>();

  constructor(
    private readonly groups: readonly WatchedGroup[],
    private readonly sqs: SQSClient,
  ) {}

  record(summary: BatchSummary): void {
    const total = this.totals.get(summary.group) ?? { processed: 0, retried: 0, deadLettered: 0, skipped: 0 };
    total.processed += summary.processed;
    total.retried += summary.failed;
    total.deadLettered += summary.deadLettered;
    total.skipped += summary.skipped;
    this.totals.set(summary.group, total);
  }

  async refresh(): Promise<void> {
    await Promise.all(
      this.groups.map(async (group) => {
        const [lag, dlqDepth] = await Promise.all([
          depth(this.sqs, group.queueUrl),
          depth(this.sqs, group.deadLetterQueueUrl),
        ]);
        this.depths.set(group.name, {
          ...(lag === undefined ? {} : { lag }),
          ...(dlqDepth === undefined ? {} : { dlqDepth }),
        });
      }),
    );
  }

  snapshot(): GroupStatus[] {
    return this.groups.map((group) => ({
      group: group.name,
      // A batch summary knows duplicates and dead letters; without any, the event source's counts stand in.
      ...(this.totals.get(group.name) ?? {
        processed: 0,
        retried: 0,
        deadLettered: 0,
        skipped: 0,
        ...group.delivered?.(),
      }),
      ...this.depths.get(group.name),
    }));
  }

  /** `billing ✓12 ↻1 dlq 0 lag 3 · ledger ✓40 ↻0 dlq 1` */
  line(): string {
    return this.snapshot()
      .map(
        (status) =>
          `${status.group} ✓${status.processed} ↻${status.retried}` +
          (status.dlqDepth === undefined ? "" : ` dlq ${status.dlqDepth}`) +
          (status.lag === undefined ? "" : ` lag ${status.lag}`),
      )
      .join(" · ");
  }
}

async function depth(sqs: SQSClient, queueUrl: string | undefined): Promise<number | undefined> {
  if (!queueUrl) return undefined;
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  } catch {
    return undefined;
  }
}
