import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import type { BatchSummary } from "../../../lambdas/runtime/consumers/observability.js";

export interface FunctionSpec {
  readonly logicalId: string;
  readonly functionName: string;
  readonly functionArn: string;
  /** `index.handler`: module path and export. */
  readonly handler: string;
  /** The directory holding the handler's module (a bundle from the cloud assembly, or inline code). */
  readonly codeDir: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** The function's environment, resolved, plus what points it at the local cloud. */
  readonly environment: Readonly<Record<string, string>>;
}

export type InvokeResult =
  | { readonly ok: true; readonly response: unknown; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly errorType: string;
      readonly errorMessage: string;
      readonly durationMs: number;
    };

/** The function could not start: its code did not load, or it threw while initialising. */
export class FunctionInitError extends Error {
  override name = "FunctionInitError";
}

interface Pending {
  readonly resolve: (result: InvokeResult) => void;
  readonly started: number;
  readonly timer: NodeJS.Timeout;
}

const WORKER_ENTRY = new URL("./function-worker.mjs", import.meta.url);

/**
 * One Lambda function run in a worker thread: its own module graph and environment variables, like an
 * execution environment. An invocation past the function's timeout fails, and the environment is
 * discarded and started again, as Lambda does. Logs go to `<logDir>/<function>.log`.
 */
export class FunctionHost {
  private worker: Worker | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly log: WriteStream;
  private readonly summaryListeners: Array<(summary: BatchSummary) => void> = [];
  readonly stats = { invocations: 0, errors: 0, timeouts: 0, crashes: 0 };
  readonly logFile: string;

  constructor(
    private currentSpec: FunctionSpec,
    logDir: string,
  ) {
    this.logFile = join(logDir, `${currentSpec.logicalId}.log`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    this.log = createWriteStream(this.logFile, { flags: "a" });
  }

  get spec(): FunctionSpec {
    return this.currentSpec;
  }

  /** Called with each batch summary the runtime logs (the consumer wrappers' "batch processed" line). */
  onBatchSummary(listener: (summary: BatchSummary) => void): void {
    this.summaryListeners.push(listener);
  }

  /** Starts the environment and runs the init phase; throws FunctionInitError if the handler does not load. */
  async start(): Promise<void> {
    const worker = new Worker(WORKER_ENTRY, {
      workerData: {
        codeDir: this.spec.codeDir,
        handler: this.spec.handler,
        functionName: this.spec.functionName,
        functionArn: this.spec.functionArn,
        memoryMb: this.spec.memoryMb,
        timeoutMs: this.spec.timeoutMs,
      },
      env: { ...this.spec.environment },
      execArgv: [],
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(128, this.spec.memoryMb) },
    });
    this.worker = worker;
    this.captureOutput(worker);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: {
        type: string;
        error?: { errorType: string; errorMessage: string; stack: string[] };
      }) => {
        if (message.type === "ready") {
          worker.off("message", onMessage);
          resolve();
        } else if (message.type === "init-error") {
          worker.off("message", onMessage);
          void worker.terminate();
          reject(
            new FunctionInitError(
              `${this.spec.logicalId} (${this.spec.functionName}) failed to initialise: ${message.error?.errorType}: ${message.error?.errorMessage}`,
            ),
          );
        }
      };
      worker.on("message", onMessage);
      worker.once("error", (error) =>
        reject(new FunctionInitError(`${this.spec.logicalId} crashed while initialising: ${error.message}`)),
      );
    });
    worker.on(
      "message",
      (message: {
        type: string;
        id?: string;
        response?: unknown;
        error?: { errorType: string; errorMessage: string };
      }) => this.settle(message),
    );
    worker.on("error", (error) => this.failAll("Runtime.ExitError", error.message));
    worker.on("exit", (code) => {
      if (this.worker !== worker) return; // terminated on purpose
      // The environment died mid-invocation (a crash): its invocations fail, and Lambda starts a new one.
      this.worker = undefined;
      this.stats.crashes++;
      this.log.write(
        `${new Date().toISOString()} execution environment exited with code ${code}; starting a new one\n`,
      );
      this.failAll("Runtime.ExitError", `the execution environment exited with code ${code}`);
      void this.start().catch((error: Error) =>
        this.log.write(`${new Date().toISOString()} could not restart: ${error.message}\n`),
      );
    });
  }

  /** Invokes the function with an event, as Lambda's event source mappings do (synchronously). */
  invoke(event: unknown): Promise<InvokeResult> {
    const worker = this.worker;
    if (!worker)
      return Promise.resolve({
        ok: false,
        errorType: "Runtime.NotStarted",
        errorMessage: `${this.spec.logicalId} is not running`,
        durationMs: 0,
      });
    this.stats.invocations++;
    const id = randomUUID();
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        this.pending.delete(id);
        resolve({
          ok: false,
          errorType: "Sandbox.Timedout",
          errorMessage: `Task timed out after ${this.spec.timeoutMs / 1000} seconds`,
          durationMs: this.spec.timeoutMs,
        });
        void this.restart();
      }, this.spec.timeoutMs);
      this.pending.set(id, { resolve, started: performance.now(), timer });
      worker.postMessage({ type: "invoke", id, requestId: id, event });
    });
  }

  /** Starts a fresh environment running new code (a rebuilt bundle): for --watch. */
  async reload(codeDir: string): Promise<void> {
    this.currentSpec = { ...this.currentSpec, codeDir };
    this.log.write(`${new Date().toISOString()} reloading from ${codeDir}\n`);
    await this.restart();
  }

  /** Discards the environment (in-flight invocations fail, as when Lambda recycles one) and starts anew. */
  async restart(): Promise<void> {
    const old = this.worker;
    this.worker = undefined;
    this.failAll("Runtime.ExitError", "the execution environment was recycled");
    await old?.terminate();
    await this.start();
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll("Runtime.ExitError", "the local runtime is stopping");
    await worker?.terminate();
    await new Promise((resolve) => this.log.end(resolve));
  }

  private settle(message: {
    type: string;
    id?: string;
    response?: unknown;
    error?: { errorType: string; errorMessage: string };
  }): void {
    if (!message.id) return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    const durationMs = performance.now() - pending.started;
    if (message.type === "result") {
      pending.resolve({ ok: true, response: message.response, durationMs });
    } else {
      this.stats.errors++;
      this.log.write(
        `${new Date().toISOString()} invocation failed: ${message.error?.errorType}: ${message.error?.errorMessage}\n`,
      );
      pending.resolve({
        ok: false,
        errorType: message.error?.errorType ?? "Error",
        errorMessage: message.error?.errorMessage ?? "",
        durationMs,
      });
    }
  }

  private failAll(errorType: string, errorMessage: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.resolve({
        ok: false,
        errorType,
        errorMessage,
        durationMs: performance.now() - pending.started,
      });
    }
  }

  private captureOutput(worker: Worker): void {
    for (const stream of [worker.stdout, worker.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        this.log.write(`${line}\n`);
        if (line.includes('"batch processed"')) this.emitSummary(line);
      });
    }
  }

  private emitSummary(line: string): void {
    try {
      const entry = JSON.parse(line) as BatchSummary & { message?: string };
      if (entry.message === "batch processed") for (const listener of this.summaryListeners) listener(entry);
    } catch {
      // Not a JSON log line.
    }
  }
}
