import type { DeadLetter, DeadLetterSink } from "../../lambdas/runtime/consumers/dead-letter.js";
import type { BatchSummary, ConsumerObserver } from "../../lambdas/runtime/consumers/observability.js";

/** A dead-letter queue in memory, optionally failing, for unit tests. */
export class RecordingDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failing = false;

  async send(letter: DeadLetter): Promise<void> {
    if (this.failing) throw new Error("dead-letter queue unavailable");
    this.letters.push(letter);
  }
}

/** An observer that keeps what it is told. */
export class RecordingObserver implements ConsumerObserver {
  readonly failures: string[] = [];
  readonly heldBack: string[] = [];
  readonly deadLetters: string[] = [];
  readonly deadLetterFailures: string[] = [];
  readonly batches: BatchSummary[] = [];

  recordFailed(event: { sourceRecordId: string }): void {
    this.failures.push(event.sourceRecordId);
  }
  recordHeldBack(event: { sourceRecordId: string }): void {
    this.heldBack.push(event.sourceRecordId);
  }
  recordDeadLettered(event: { sourceRecordId: string }): void {
    this.deadLetters.push(event.sourceRecordId);
  }
  deadLetterFailed(event: { sourceRecordId: string }): void {
    this.deadLetterFailures.push(event.sourceRecordId);
  }
  batchCompleted(summary: BatchSummary): void {
    this.batches.push(summary);
  }
}
