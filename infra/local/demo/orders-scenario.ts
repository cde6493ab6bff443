import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { SNSClient } from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { LocalRun } from "../local-run.js";
import {
  type GroupReport,
  ORDERS_GROUPS,
  readDeadLetters,
  readEffects,
  reportGroup,
} from "./effects-report.js";
import { type PublishedWorkload, publishOrders, type WorkloadOptions } from "./orders-workload.js";
import { GroupProgress } from "./progress.js";

export interface ScenarioOptions extends WorkloadOptions {
  /** Give up waiting for the consumers after this long. */
  readonly timeoutMs: number;
  /** Told progress lines; `live` ones may overwrite each other on a terminal. */
  readonly onProgress?: (line: string) => void;
  readonly onStep?: (line: string) => void;
  /** Runs while the consumers work, e.g. to kill an emulator (the chaos suite). */
  readonly whileRunning?: () => Promise<void>;
}

export type GroupResult = GroupReport & { readonly duplicatesSuppressed: number; readonly retried: number };

/**
 * Why the scenario stopped following the groups: everything arrived; nothing new for 30 s (what is missing
 * is lost); or its time ran out while records were still arriving (what is missing may only be late).
 */
export type ScenarioEnding = "complete" | "stalled" | "timed-out";

export interface ScenarioResult {
  readonly ok: boolean;
  readonly ending: ScenarioEnding;
  readonly workload: PublishedWorkload;
  readonly groups: readonly GroupResult[];
  readonly durationMs: number;
  readonly throughputPerSecond: number;
}

/** The outputs the orders scenario needs; undefined when the app is not the orders topology. */
export function ordersChannels(outputs: Readonly<Record<string, string>>) {
  const { OrderEventsTopicArn, OrderLifecycleTopicArn, LedgerStreamName, OrdersTableName } = outputs;
  if (!OrderEventsTopicArn || !OrderLifecycleTopicArn || !LedgerStreamName || !OrdersTableName)
    return undefined;
  return {
    orderEventsTopicArn: OrderEventsTopicArn,
    orderLifecycleTopicArn: OrderLifecycleTopicArn,
    ledgerStreamName: LedgerStreamName,
    ordersTableName: OrdersTableName,
  };
}

/**
 * Drives the reference orders topology: publishes the workload, follows the consumer groups until every
 * order is processed and every malformed message dead-lettered (or nothing moves for 30 s), then reports
 * per group from the effect rows the handlers wrote and the dead-letter queues: what `npm start` shows and
 * the chaos suite asserts.
 */
export async function runOrdersScenario(run: LocalRun, options: ScenarioOptions): Promise<ScenarioResult> {
  const channels = ordersChannels(run.outputs);
  if (!channels)
    throw new Error("this app is not the reference orders topology: its outputs name no orders channels");
  const clients = {
    sns: new SNSClient({}),
    kinesis: new KinesisClient({}),
    sqs: new SQSClient({}),
    dynamodb: new DynamoDBClient({}),
  };
  const progress = new GroupProgress();
  run.onBatchSummary((summary) => progress.record(summary));
  const started = performance.now();
  const startedEpoch = Date.now();
  try {
    const workload = await publishOrders(channels, options, clients);
    options.onStep?.(
      `✓ published in ${(workload.publishMs / 1000).toFixed(1)} s (${workload.duplicatesPublished} duplicates, ${workload.poisonPublished.orderEvents} poison per channel)`,
    );
    const expected = new Map(
      ORDERS_GROUPS.map((group) => [group.group, options.messages * group.types.length]),
    );
    const ticker = setInterval(
      () => options.onProgress?.(progress.line(expected, performance.now() - started)),
      250,
    );
    const [{ effects, ending }] = await Promise.all([
      waitForEffects(
        clients.dynamodb,
        channels.ordersTableName,
        () => poisonDeadLettered(clients.sqs, run.outputs, workload),
        workload,
        progress,
        expected,
        started,
        options.timeoutMs,
      ),
      options.whileRunning?.(),
    ]);
    clearInterval(ticker);
    // The workload's time: until every effect and dead letter is seen, not the report's pause below.
    const durationMs = performance.now() - started;
    options.onProgress?.(progress.line(expected, durationMs));

    // Let the last dead letters land before counting them.
    await new Promise((done) => setTimeout(done, 1_500));
    const groups: GroupResult[] = [];
    for (const group of ORDERS_GROUPS) {
      const deadLetters = await readDeadLetters(
        clients.sqs,
        run.outputs[group.deadLetterOutput] as string,
        startedEpoch,
      );
      const totals = progress.of(group.group);
      groups.push({
        ...reportGroup(group, effects, workload, deadLetters),
        duplicatesSuppressed: totals.skipped,
        retried: totals.failed,
      });
    }
    const processed = groups.reduce((sum, group) => sum + group.processed, 0);
    return {
      ok: groups.every((group) => group.lost === 0 && group.processedTwice === 0),
      ending,
      workload,
      groups,
      durationMs,
      throughputPerSecond: processed / (durationMs / 1000),
    };
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
}

/**
 * Waits until every expected effect is there and every dead-letter queue holds at least its channel's
 * malformed messages, or no new effect appears for 30 s, or the timeout. The batch
 * summaries say cheaply when it is worth scanning the effects table to check.
 */
async function waitForEffects(
  dynamodb: DynamoDBClient,
  tableName: string,
  deadLettersLanded: () => Promise<boolean>,
  workload: PublishedWorkload,
  progress: GroupProgress,
  expected: ReadonlyMap<string, number>,
  since: number,
  timeoutMs: number,
) {
  const expectedKeys = ORDERS_GROUPS.flatMap((group) =>
    group.types.map((type) => ({ group: group.group, type })),
  );
  const complete = (effects: Awaited<ReturnType<typeof readEffects>>) => {
    const seen = new Set(effects.map((effect) => `${effect.group}#${effect.type}#${effect.orderId}`));
    return expectedKeys.every(({ group, type }) =>
      [...workload.orders.keys()].every((orderId) => seen.has(`${group}#${type}#${orderId}`)),
    );
  };
  const state = () => [...expected.keys()].map((group) => JSON.stringify(progress.of(group))).join();
  let lastState = state();
  let lastSummary = performance.now();
  let lastScan = performance.now();
  let effectCount = -1;
  let lastNewEffect = performance.now();
  while (performance.now() - since < timeoutMs) {
    await new Promise((done) => setTimeout(done, 500));
    const now = state();
    if (now !== lastState) {
      lastState = now;
      lastSummary = performance.now();
    }
    // The summaries are cheap but miss what crashed invocations did: the effect rows are the truth.
    const reported = [...expected].every(
      ([group, count]) => progress.of(group).processed + progress.of(group).deadLettered >= count,
    );
    const lull = performance.now() - lastSummary > 3_000 && performance.now() - lastScan > 5_000;
    if (!reported && !lull) continue;
    const effects = await readEffects(dynamodb, tableName);
    lastScan = performance.now();
    if (complete(effects) && (await deadLettersLanded())) return { effects, ending: "complete" as const };
    if (effects.length !== effectCount) {
      effectCount = effects.length;
      lastNewEffect = performance.now();
    } else if (performance.now() - lastNewEffect > 30_000) {
      return { effects, ending: "stalled" as const }; // nothing new for 30 s: report what is missing
    }
  }
  const effects = await readEffects(dynamodb, tableName);
  return { effects, ending: complete(effects) ? ("complete" as const) : ("timed-out" as const) };
}

/** Whether each group's dead-letter queue holds at least as many messages as its channel had malformed. */
async function poisonDeadLettered(
  sqs: SQSClient,
  outputs: Readonly<Record<string, string>>,
  workload: PublishedWorkload,
): Promise<boolean> {
  for (const group of ORDERS_GROUPS) {
    if (!group.poisonFrom) continue;
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: outputs[group.deadLetterOutput],
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const held =
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    if (held < workload.poisonPublished[group.poisonFrom]) return false;
  }
  return true;
}
