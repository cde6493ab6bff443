import type { DeadLetter, DeadLetterSink } from "../../lambdas/runtime/consumers/dead-letter.js";
import type {
  BatchSummary,
  ConsumerObserver,
  RecordEvent,
} from "../../lambdas/runtime/consumers/observability.js";
import type { PoisonReason } from "../../lambdas/runtime/errors.js";

/** A dead-letter queue in memory, optionally failing, for unit tests. */
export class RecordingDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failing = false;

  async send(letter: DeadLetter): Promise<void> {
    if (this.failing) throw new Error("dead-letter queue unavailable");
    this.letters.push(letter);
  }
}

/** One call to the observer, with everything it was told. */
export type ObservedEvent =
  | ({ readonly kind: "failed" } & RecordEvent & { readonly error: unknown })
  | ({ readonly kind: "held-back" } & RecordEvent & { readonly reason: string })
  | ({ readonly kind: "dead-lettered" } & RecordEvent & {
        readonly reason: PoisonReason;
        readonly detail: string;
      })
  | ({ readonly kind: "dead-letter-failed" } & RecordEvent & {
        readonly reason: PoisonReason;
        readonly error: unknown;
      });

/** An observer that keeps what it is told: the record ids per kind, and every event in full. */
export class RecordingObserver implements ConsumerObserver {
  readonly events: ObservedEvent[] = [];
  readonly failures: string[] = [];
  readonly heldBack: string[] = [];
  readonly deadLetters: string[] = [];
  readonly deadLetterFailures: string[] = [];
  readonly batches: BatchSummary[] = [];

  recordFailed(event: RecordEvent & { error: unknown }): void {
    this.events.push({ kind: "failed", ...event });
    this.failures.push(event.sourceRecordId);
  }
  recordHeldBack(event: RecordEvent & { reason: string }): void {
    this.events.push({ kind: "held-back", ...event });
    this.heldBack.push(event.sourceRecordId);
  }
  recordDeadLettered(event: RecordEvent & { reason: PoisonReason; detail: string }): void {
    this.events.push({ kind: "dead-lettered", ...event });
    this.deadLetters.push(event.sourceRecordId);
  }
  deadLetterFailed(event: RecordEvent & { reason: PoisonReason; error: unknown }): void {
    this.events.push({ kind: "dead-letter-failed", ...event });
    this.deadLetterFailures.push(event.sourceRecordId);
  }
  batchCompleted(summary: BatchSummary): void {
    this.batches.push(summary);
  }
}
