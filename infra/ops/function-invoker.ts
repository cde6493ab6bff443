import { join } from "node:path";
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from "@aws-sdk/client-lambda";
import type { BatchSummary } from "../../lambdas/runtime/consumers/observability.js";
import { applyTemplate } from "../local/apply/apply-template.js";
import { readCloudAssembly } from "../local/apply/cloud-assembly.js";
import { localCloudEnv } from "../local/cloud/local-cloud.js";
import { LocalRuntime } from "../local/runner/local-runtime.js";
import type { Broker } from "./broker.js";
import { OpsError } from "./errors.js";
import type { FunctionInvoker } from "./replay.js";
import type { GroupNode } from "./topology.js";

/** How long a local invocation's batch summary may trail its result (the worker's log is a stream). */
const SUMMARY_GRACE_MS = 2000;

/**
 * The group's function, to invoke directly: on AWS with Lambda Invoke (RequestResponse, the log tail read
 * for the runtime's batch summary); locally in the local runner, the function alone (no event source: the
 * running app's own would otherwise consume the stream twice).
 */
export async function openFunctionInvoker(broker: Broker, group: GroupNode): Promise<FunctionInvoker> {
  return broker.target === "aws" ? lambdaInvoker(broker, group) : localInvoker(broker, group);
}

async function lambdaInvoker(broker: Broker, group: GroupNode): Promise<FunctionInvoker> {
  const functionName = await broker.physicalId(group.stackName, group.function);
  const lambda = new LambdaClient({ region: broker.region });
  return {
    invoke: async (event) => {
      let result: InvokeCommandOutput;
      try {
        result = await lambda.send(
          new InvokeCommand({
            FunctionName: functionName,
            Payload: Buffer.from(JSON.stringify(event)),
            LogType: "Tail",
          }),
        );
      } catch (error) {
        throw new OpsError(
          `Could not invoke ${functionName}: ${(error as Error).name}: ${(error as Error).message}`,
          "Replay needs lambda:InvokeFunction on the group's function (and kinesis:GetRecords on its stream).",
          { cause: error },
        );
      }
      const summary = summaryIn(Buffer.from(result.LogResult ?? "", "base64").toString("utf8"));
      const payload = result.Payload ? Buffer.from(result.Payload).toString("utf8") : "null";
      if (result.FunctionError)
        return {
          ok: false,
          error: `${result.FunctionError}: ${payload.slice(0, 300)}`,
          ...withSummary(summary),
        };
      return { ok: true, response: JSON.parse(payload || "null"), ...withSummary(summary) };
    },
    close: async () => lambda.destroy(),
  };
}

async function localInvoker(broker: Broker, group: GroupNode): Promise<FunctionInvoker> {
  const endpoint = broker.endpoint as string;
  const stack = readCloudAssembly(broker.assemblyDir as string).find(
    (candidate) => candidate.stackName === group.stackName,
  );
  if (!stack)
    throw new OpsError(`The cloud assembly has no stack ${group.stackName}.`, "Synthesize the app again.");
  // Idempotent on a cloud where the app runs: it resolves the function's environment (table names, URLs).
  const applied = await applyTemplate(stack, {
    endpoint,
    region: broker.region,
    maxVisibilityTimeoutSeconds: 5,
  });
  const problems: string[] = [];
  const runtime = await LocalRuntime.start(applied, {
    onEvent: (event) => {
      if ("reason" in event && event.logicalId === group.function) problems.push(event.reason);
    },
    endpoint,
    environment: localCloudEnv(endpoint, broker.region),
    // The runtime's batch summary (INFO) says how many records the guard skipped.
    extraEnvironment: { POWERTOOLS_LOG_LEVEL: "INFO" },
    logDir: join(broker.assemblyDir as string, "..", ".local-cloud", "logs", "replay"),
    onlyFunctions: [group.function],
  });
  const host = runtime.functions.get(group.function);
  if (!host) {
    await runtime.stop();
    throw new OpsError(
      `The function ${group.function} of ${group.name} does not run locally: ${problems.join("; ") || "no reason given"}.`,
      "Fix what the reason says; `serverless-broker start` runs the app's functions the same way.",
    );
  }
  const summaries: BatchSummary[] = [];
  let waiter: (() => void) | undefined;
  host.onBatchSummary((summary) => {
    summaries.push(summary);
    waiter?.();
  });
  let summariesSeen = true;
  return {
    invoke: async (event) => {
      const result = await host.invoke(event);
      if (summaries.length === 0 && summariesSeen) {
        // Wait on the summary itself; a function that logs none (not a broker consumer) is not waited for again.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            summariesSeen = false;
            resolve();
          }, SUMMARY_GRACE_MS);
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter = undefined;
      }
      const summary = summaries.shift();
      if (!result.ok)
        return { ok: false, error: `${result.errorType}: ${result.errorMessage}`, ...withSummary(summary) };
      return { ok: true, response: result.response, ...withSummary(summary) };
    },
    close: () => runtime.stop(),
  };
}

const withSummary = (summary: BatchSummary | undefined) => (summary ? { summary } : {});

/** The runtime's "batch processed" line in a log (Lambda's 4 KB log tail). */
function summaryIn(log: string): BatchSummary | undefined {
  for (const line of log.split("\n").reverse()) {
    if (!line.includes('"batch processed"')) continue;
    try {
      return JSON.parse(line.slice(line.indexOf("{"))) as BatchSummary;
    } catch {}
  }
  return undefined;
}
