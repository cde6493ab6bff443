// Runs one Lambda function inside a worker thread, as one execution environment: its own module graph
// and process.env. Provides what the Lambda Node.js runtime provides (the AWS SDK, callback handlers),
// loads the handler once (the init phase), then answers invocations posted to it, one at a time.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { installProvidedSdk } from "./provided-sdk.mjs";

const { codeDir, handler, logicalId, runtime, functionName, functionArn, memoryMb, timeoutMs, endpoint } =
  workerData;
const separator = handler.lastIndexOf(".");
const modulePath = handler.slice(0, separator);
const exportName = handler.slice(separator + 1);

// The Lambda runtime interface client's own messages, word for word.
const CALLBACKS_REMOVED =
  "ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.";

const serialize = (error) => ({
  errorType: error?.name ?? "Error",
  errorMessage: error?.message ?? String(error),
  stack: typeof error?.stack === "string" ? error.stack.split("\n").slice(0, 12) : [],
});

/** nodejs24.x and later dropped callback handlers (`nodejs18.x` → 18). */
const runtimeMajor = Number(/^nodejs(\d+)/.exec(runtime)?.[1] ?? 0);
const callbacksSupported = runtimeMajor < 24;

let handle;
try {
  await installProvidedSdk({ logicalId, runtime, runtimeMajor, codeDir, endpoint });
  const file = [".mjs", ".js", ".cjs"]
    .map((extension) => join(codeDir, `${modulePath}${extension}`))
    .find((path) => existsSync(path));
  if (!file) throw named("Runtime.ImportModuleError", `no ${modulePath}.mjs, .js or .cjs in ${codeDir}`);
  const loaded = await import(pathToFileURL(file).href);
  handle = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof handle !== "function")
    throw named(
      "Runtime.HandlerNotFound",
      `${file} exports no function named "${exportName}" (handler ${handler})`,
    );
  // Lambda decides a handler is callback-style by the parameters it declares.
  if (!callbacksSupported && handle.length >= 3)
    throw named("Runtime.CallbackHandlerDeprecated", CALLBACKS_REMOVED);
  parentPort.postMessage({ type: "ready" });
} catch (error) {
  parentPort.postMessage({ type: "init-error", error: serialize(error) });
}

parentPort.on("message", (message) => {
  if (message.type !== "invoke" || !handle) return;
  const deadline = Date.now() + timeoutMs;
  let settled = false;
  const settle = (error, response) => {
    if (settled) return;
    settled = true;
    if (error === null || error === undefined)
      parentPort.postMessage({ type: "result", id: message.id, response });
    else parentPort.postMessage({ type: "error", id: message.id, error: serialize(toError(error)) });
  };
  // callback(error, result), and the legacy context.done/succeed/fail, where the runtime has them.
  const callback = (error, response) => settle(error, response);
  const legacy = callbacksSupported
    ? {
        done: (error, response) => settle(error, response),
        succeed: (response) => settle(null, response),
        fail: (error) => settle(error ?? new Error("handled")),
      }
    : {};
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
    ...legacy,
  };
  try {
    const returned = callbacksSupported
      ? handle(message.event, context, callback)
      : handle(message.event, context);
    // A promise settles the invocation; otherwise the callback (or context.done) does, when it is called.
    if (returned && typeof returned.then === "function")
      returned.then(
        (response) => settle(null, response),
        (error) => settle(error ?? new Error("rejected")),
      );
    else if (!callbacksSupported || handle.length < 3) settle(null, returned);
  } catch (error) {
    settle(error);
  }
});

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** Lambda reports a non-Error callback argument as the error message. */
function toError(error) {
  return error instanceof Error || typeof error?.message === "string"
    ? error
    : new Error(typeof error === "string" ? error : JSON.stringify(error));
}
