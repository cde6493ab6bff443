// Runs one Lambda function inside a worker thread, as one execution environment: its own module graph
// and process.env. Loads the handler once (the init phase), then answers invocations posted to it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";

const { codeDir, handler, functionName, functionArn, memoryMb, timeoutMs } = workerData;
const separator = handler.lastIndexOf(".");
const modulePath = handler.slice(0, separator);
const exportName = handler.slice(separator + 1);

const serialize = (error) => ({
  errorType: error?.name ?? "Error",
  errorMessage: error?.message ?? String(error),
  stack: typeof error?.stack === "string" ? error.stack.split("\n").slice(0, 12) : [],
});

let handle;
try {
  const file = [".mjs", ".js", ".cjs"]
    .map((extension) => join(codeDir, `${modulePath}${extension}`))
    .find((path) => existsSync(path));
  if (!file) throw new Error(`no ${modulePath}.mjs, .js or .cjs in ${codeDir}`);
  const loaded = await import(pathToFileURL(file).href);
  handle = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof handle !== "function")
    throw new Error(`${file} exports no function named "${exportName}" (handler ${handler})`);
  parentPort.postMessage({ type: "ready" });
} catch (error) {
  parentPort.postMessage({ type: "init-error", error: serialize(error) });
}

parentPort.on("message", async (message) => {
  if (message.type !== "invoke" || !handle) return;
  const deadline = Date.now() + timeoutMs;
  const context = {
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: message.requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const response = await handle(message.event, context);
    parentPort.postMessage({ type: "result", id: message.id, response });
  } catch (error) {
    parentPort.postMessage({ type: "error", id: message.id, error: serialize(error) });
  }
});
