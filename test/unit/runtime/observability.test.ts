import { afterEach, describe, expect, it, vi } from "vitest";
import { CONSUMER_METRICS, METRICS_NAMESPACE, METRICS_SERVICE } from "../../../lambdas/runtime/constants.js";
import { type BatchSummary, PowertoolsObserver } from "../../../lambdas/runtime/consumers/observability.js";
import { POISON_REASONS } from "../../../lambdas/runtime/errors.js";

/**
 * What an operator reads in CloudWatch: the default observer's JSON log lines and EMF metrics. The suite runs
 * with logging and metrics off; these tests turn them on for a group of their own and read stdout.
 */
let groups = 0;
function observed(): { observer: PowertoolsObserver; group: string; lines: () => Record<string, unknown>[] } {
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", "INFO");
  vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "false");
  vi.stubEnv("POWERTOOLS_DEV", "");
  const written: string[] = [];
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(capture);
  vi.spyOn(process.stderr, "write").mockImplementation(capture);
  const group = `observability-${++groups}`;
  const observer = new PowertoolsObserver(group);
  const lines = () =>
    written
      .join("")
      .split("\n")
      .filter((line) => line.trim().startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { observer, group, lines };
}

const summary = (overrides: Partial<BatchSummary> = {}): BatchSummary => ({
  group: "g",
  source: "aws:sqs",
  received: 10,
  processed: 6,
  skipped: 2,
  failed: 1,
  heldBack: 0,
  deadLettered: 1,
  deadLetterReasons: { [POISON_REASONS.notJson]: 1 },
  payloadMismatches: 0,
  durationMs: 12.5,
  ...overrides,
});

/** The EMF document's metric values by name. */
function metricsOf(lines: Record<string, unknown>[]): Record<string, unknown> {
  const emf = lines.find((line) => "_aws" in line);
  if (!emf) throw new Error(`no EMF document among ${JSON.stringify(lines)}`);
  const aws = emf._aws as {
    CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string }> }>;
  };
  expect(aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
  return Object.fromEntries(aws.CloudWatchMetrics[0]?.Metrics.map(({ Name }) => [Name, emf[Name]]) ?? []);
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("PowertoolsObserver", () => {
  it("logs a failed record as a warning with its ids, attempt and error", () => {
    const { observer, group, lines } = observed();
    observer.recordFailed({
      group,
      sourceRecordId: "r-1",
      messageId: "m-1",
      attempt: 2,
      error: new TypeError("boom"),
    });
    expect(lines()).toContainEqual(
      expect.objectContaining({
        level: "WARN",
        message: "message failed; it will be redelivered",
        service: METRICS_SERVICE,
        consumerGroup: group,
        sourceRecordId: "r-1",
        messageId: "m-1",
        attempt: 2,
        error: "TypeError: boom",
      }),
    );
  });

  it("logs a held-back record at info with the reason it waits", () => {
    const { observer, group, lines } = observed();
    observer.recordHeldBack({
      group,
      sourceRecordId: "r-2",
      messageId: "m-2",
      reason: "in flight elsewhere",
    });
    expect(lines()).toContainEqual(
      expect.objectContaining({
        level: "INFO",
        message: "message held back: in flight elsewhere; it will be redelivered",
        sourceRecordId: "r-2",
        reason: "in flight elsewhere",
      }),
    );
  });

  it("logs a dead letter as an error with its reason and detail", () => {
    const { observer, group, lines } = observed();
    observer.recordDeadLettered({
      group,
      sourceRecordId: "r-3",
      messageId: "m-3",
      reason: POISON_REASONS.notJson,
      detail: "Unexpected token",
    });
    expect(lines()).toContainEqual(
      expect.objectContaining({
        level: "ERROR",
        message: "message dead-lettered",
        sourceRecordId: "r-3",
        reason: POISON_REASONS.notJson,
        detail: "Unexpected token",
      }),
    );
  });

  it("logs a dead letter that could not be sent as an error that says it will be redelivered", () => {
    const { observer, group, lines } = observed();
    observer.deadLetterFailed({
      group,
      sourceRecordId: "r-4",
      reason: POISON_REASONS.notJson,
      error: new Error("AccessDenied"),
    });
    expect(lines()).toContainEqual(
      expect.objectContaining({
        level: "ERROR",
        message: "could not dead-letter a message; reporting it failed so it is redelivered",
        sourceRecordId: "r-4",
        reason: POISON_REASONS.notJson,
        error: "Error: AccessDenied",
      }),
    );
  });

  it("logs each batch and emits its counts and duration as EMF metrics of the group", () => {
    const { observer, group, lines } = observed();
    observer.batchCompleted(summary({ group }));
    const logged = lines();
    expect(logged).toContainEqual(
      expect.objectContaining({ level: "INFO", message: "batch processed", received: 10, processed: 6 }),
    );
    const emf = logged.find((line) => "_aws" in line);
    expect(emf?.ConsumerGroup).toBe(group);
    const metrics = metricsOf(logged);
    expect(metrics).toEqual({
      [CONSUMER_METRICS.processed]: 6,
      [CONSUMER_METRICS.failed]: 1,
      [CONSUMER_METRICS.poison]: 1,
      [CONSUMER_METRICS.duplicates]: 2,
      [CONSUMER_METRICS.duration]: 12.5,
    });
    expect(logged.some((line) => line.message === "message ids were seen again with different content")).toBe(
      false,
    );
  });

  it("emits held-back records and payload mismatches only when there are some, and warns of mismatches", () => {
    const { observer, group, lines } = observed();
    observer.batchCompleted(summary({ group, heldBack: 3, payloadMismatches: 2 }));
    const logged = lines();
    expect(metricsOf(logged)).toMatchObject({
      [CONSUMER_METRICS.heldBack]: 3,
      [CONSUMER_METRICS.payloadMismatches]: 2,
    });
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: "WARN",
        message: "message ids were seen again with different content",
        count: 2,
      }),
    );
  });
});
