import type { Context } from "aws-lambda";
import { ConfigurationError } from "../errors.js";
import type { BatchHandler, BatchResult } from "./batch-engine.js";
import type { EngineRecord } from "./engine-record.js";

/** The window fields Lambda adds to a Kinesis / DynamoDB Streams event when TumblingWindowInSeconds is set. */
export interface TumblingWindow {
  /** ISO-8601 start and end of the window. */
  readonly start: string;
  readonly end: string;
  readonly shardId: string;
  readonly eventSourceARN: string;
  /** The last invoke of this window: the state is complete, act on it in `onWindowEnd`. */
  readonly isFinalInvokeForWindow: boolean;
  /** The window closed before its time (a shard split or merge, or the batch hit its limits). */
  readonly isWindowTerminatedEarly: boolean;
}

/** Options for taking part in tumbling windows: fold each record into a state Lambda carries between invokes. */
export interface WindowOptions<TMessage, TState> {
  /** The state of a new window (Lambda sends an empty state at the start of each window). */
  initial(): TState;
  /** Folds one successfully processed record into the state; records run in event order. Keep it pure. */
  reduce(state: TState, message: TMessage): TState;
  /** Called once the window is complete (its final invoke, with nothing failed); a throw retries that invoke. */
  onWindowEnd?(state: TState, window: TumblingWindow): void | Promise<void>;
}

/** The window fields of the event, as Lambda sends them. */
interface WindowFields {
  readonly window?: { readonly start: string; readonly end: string };
  readonly state?: Record<string, unknown>;
  readonly shardId?: string;
  readonly eventSourceARN?: string;
  readonly isFinalInvokeForWindow?: boolean;
  readonly isWindowTerminatedEarly?: boolean;
}

export type WindowedResponse<TState> = {
  batchItemFailures: Array<{ itemIdentifier: string }>;
  state?: TState;
};

/**
 * Wraps a stream wrapper's handler for tumbling windows. Lambda retries from the first reported failure
 * with the state of this response, so the state counts each record the retry will not run again:
 * - without a guard, the records ahead of the first failure (those after it run again and fold then);
 * - with a dedup guard (`replaysSkipped`), every record processed, also past the failure (`ordering: "key"`
 *   lets other keys finish): the retry skips them as duplicates, so this is their only chance to be folded.
 */
export function windowed<TEvent extends { Records: readonly TRecord[] }, TRecord, TMessage, TState>(
  base: BatchHandler<TEvent, { batchItemFailures: Array<{ itemIdentifier: string }> }>,
  toEngineRecord: (record: TRecord) => EngineRecord<TMessage>,
  options: WindowOptions<TMessage, TState>,
  replaysSkipped: boolean,
): BatchHandler<TEvent, WindowedResponse<TState>> {
  const handler = async (event: TEvent, context?: Context): Promise<WindowedResponse<TState>> => {
    const fields = event as unknown as WindowFields;
    const result: BatchResult = await base.processEvent(event, context);
    if (!fields.window) return { batchItemFailures: result.batchItemFailures };

    const incoming = fields.state;
    let state =
      incoming && Object.keys(incoming).length > 0 ? (incoming as unknown as TState) : options.initial();
    for (const [index, record] of event.Records.entries()) {
      const outcome = result.outcomes[index];
      if (!outcome) break;
      // Without a guard Lambda's retry replays from the batch's first failure (records held back or not run
      // only ever follow a failed one), so nothing from there on may be counted now.
      if (!replaysSkipped && outcome.kind === "failed") break;
      if (outcome.kind !== "processed") continue;
      const decoded = await toEngineRecord(record).decode();
      if (decoded.ok) state = options.reduce(state, decoded.message);
    }

    if (fields.isFinalInvokeForWindow && result.batchItemFailures.length === 0) {
      await options.onWindowEnd?.(state, {
        start: fields.window.start,
        end: fields.window.end,
        shardId: fields.shardId ?? "",
        eventSourceARN: fields.eventSourceARN ?? "",
        isFinalInvokeForWindow: true,
        isWindowTerminatedEarly: fields.isWindowTerminatedEarly ?? false,
      });
    }
    return { batchItemFailures: result.batchItemFailures, state };
  };
  return Object.assign(handler, { processEvent: base.processEvent });
}

/**
 * A stream wrapper without `window` on a mapping with TumblingWindowInSeconds: Lambda counts a response
 * without `state` as a failed invocation, so every batch would fail in silence until its retries run out.
 */
export function refusingWindows<TEvent, TResponse>(
  base: BatchHandler<TEvent, TResponse>,
  wrapper: string,
): BatchHandler<TEvent, TResponse> {
  const handler = async (event: TEvent, context?: Context): Promise<TResponse> => {
    if ((event as WindowFields).window) {
      throw new ConfigurationError(
        `${wrapper} received a tumbling-window event (TumblingWindowInSeconds is set on its event source ` +
          "mapping) but has no `window` option, and Lambda fails a windowed invocation whose response has no " +
          "`state`. Pass `window: { initial, reduce, onWindowEnd }`, or remove the mapping's tumbling window.",
      );
    }
    return base(event, context);
  };
  return Object.assign(handler, { processEvent: base.processEvent });
}
