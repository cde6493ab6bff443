import type { Context } from "aws-lambda";

/** A clock the test moves; `sleep` moves it instead of waiting, so leases and backoff cost no real time. */
export class FakeClock {
  ms = Date.parse("2026-11-22T10:00:00Z");
  readonly now = () => this.ms;
  readonly sleep = async (ms: number) => {
    this.ms += Math.max(0, ms);
  };
  advance(ms: number) {
    this.ms += ms;
  }
  /** A Lambda context whose remaining time runs down with this clock. */
  invocation(remainingMs: number): Context {
    const deadline = this.ms + remainingMs;
    return { getRemainingTimeInMillis: () => Math.max(0, deadline - this.ms) } as Context;
  }
}
