import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";

/** What the worker needs to load and run the handler. */
export interface EnvironmentSpec {
  readonly logicalId: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly runtime: string;
  readonly handler: string;
  readonly codeDir: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** The endpoint a v2 SDK is pointed at (v3 reads AWS_ENDPOINT_URL from the environment). */
  readonly endpoint: string;
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
  constructor(
    message: string,
    /** The error type Lambda reports for the invocation (`Runtime.ImportModuleError`, `Error`, …). */
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(message);
  }
}

/**
 * Lambda's Init phase may take 10 s; past that it is retried within the invocation, under the function's
 * timeout (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
 */
const INIT_LIMIT_MS = 10_000;

const WORKER_ENTRY = new URL("./function-worker.mjs", import.meta.url);

/**
 * The young generation of an environment's heap (MB). V8 sizes it from the heap limit: a 512 MB function got
 * 32 MB of semi-spaces, filled with a batch's garbage between two scavenges, in every environment (23 of them in
 * the demo's burst: 700 MB of the CLI's 1.7 GB). 8 MB is collected more often; what an invocation keeps lives
 * in the old generation, whose limit is the function's memory as before. Lambda sizes the young generation
 * from the memory setting too; a handler sees neither, only how much memory it can keep.
 */
export const ENVIRONMENT_YOUNG_GENERATION_MB = 8;

type WorkerMessage = {
  type: string;
  id?: string;
  response?: unknown;
  error?: { errorType: string; errorMessage: string };
};

/**
 * One execution environment: a worker thread with its own module graph and environment variables,
 * running one invocation at a time. A timeout or a crash ends this environment only; `onEnd` tells
 * its owner, which starts another when the next invocation needs one.
 */
export class ExecutionEnvironment {
  private readonly worker: Worker;
  private current:
    | { id: string; resolve: (result: InvokeResult) => void; started: number; timer: NodeJS.Timeout }
    | undefined;
  private ended = false;

  constructor(
    private readonly spec: EnvironmentSpec,
    onLine: (line: string) => void,
    private readonly onEnd: (environment: ExecutionEnvironment, reason: "timeout" | "crash") => void,
  ) {
    this.worker = new Worker(WORKER_ENTRY, {
      workerData: {
        codeDir: spec.codeDir,
        handler: spec.handler,
        logicalId: spec.logicalId,
        runtime: spec.runtime,
        functionName: spec.functionName,
        functionArn: spec.functionArn,
        memoryMb: spec.memoryMb,
        timeoutMs: spec.timeoutMs,
        endpoint: spec.endpoint,
      },
      env: { ...spec.environment },
      execArgv: [],
      stdout: true,
      stderr: true,
      resourceLimits: {
        maxOldGenerationSizeMb: Math.max(128, spec.memoryMb),
        maxYoungGenerationSizeMb: ENVIRONMENT_YOUNG_GENERATION_MB,
      },
    });
    for (const stream of [this.worker.stdout, this.worker.stderr])
      createInterface({ input: stream }).on("line", onLine);
  }

  get alive(): boolean {
    return !this.ended;
  }

  /** Runs the init phase: loads the handler. Rejects with FunctionInitError, and the environment ends. */
  init(): Promise<void> {
    const { logicalId, functionName } = this.spec;
    return new Promise<void>((resolve, reject) => {
      const fail = (errorType: string, errorMessage: string) => {
        clearTimeout(timer);
        this.worker.off("message", onMessage);
        void this.terminate();
        reject(
          new FunctionInitError(
            `${logicalId} (${functionName}) failed to initialise: ${errorType}: ${errorMessage}`,
            errorType,
            errorMessage,
          ),
        );
      };
      const timer = setTimeout(
        () => fail("Runtime.InitTimeout", `init did not finish within ${INIT_LIMIT_MS / 1000} s`),
        INIT_LIMIT_MS + this.spec.timeoutMs,
      );
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "ready") {
          clearTimeout(timer);
          this.worker.off("message", onMessage);
          this.worker.off("exit", onEarlyExit);
          this.watch();
          resolve();
        } else if (message.type === "init-error") {
          fail(message.error?.errorType ?? "Error", message.error?.errorMessage ?? "");
        }
      };
      const onEarlyExit = (code: number) =>
        fail("Runtime.ExitError", `the environment exited with code ${code} while initialising`);
      this.worker.on("message", onMessage);
      this.worker.once("exit", onEarlyExit);
      this.worker.once("error", (error) => fail(error.name, error.message));
    });
  }

  /** Invokes the handler with an event; past the function's timeout the invocation fails and this ends. */
  invoke(event: unknown): Promise<InvokeResult> {
    if (this.ended || this.current) throw new Error(`environment of ${this.spec.logicalId} is not free`);
    const id = randomUUID();
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        this.finish({
          ok: false,
          errorType: "Sandbox.Timedout",
          errorMessage: `Task timed out after ${(this.spec.timeoutMs / 1000).toFixed(2)} seconds`,
          durationMs: this.spec.timeoutMs,
        });
        // Lambda discards an environment whose invocation timed out.
        void this.end("timeout");
      }, this.spec.timeoutMs);
      this.current = { id, resolve, started: performance.now(), timer };
      this.worker.postMessage({ type: "invoke", id, requestId: id, event });
    });
  }

  async terminate(): Promise<void> {
    this.ended = true;
    this.finish({
      ok: false,
      errorType: "Runtime.ExitError",
      errorMessage: "the execution environment was shut down",
      durationMs: this.current ? performance.now() - this.current.started : 0,
    });
    await this.worker.terminate();
  }

  private watch(): void {
    this.worker.on("message", (message: WorkerMessage) => {
      if (!this.current || message.id !== this.current.id) return;
      const durationMs = performance.now() - this.current.started;
      this.finish(
        message.type === "result"
          ? { ok: true, response: message.response, durationMs }
          : {
              ok: false,
              errorType: message.error?.errorType ?? "Error",
              errorMessage: message.error?.errorMessage ?? "",
              durationMs,
            },
      );
    });
    this.worker.on("error", (error) => {
      this.finish({
        ok: false,
        errorType: "Runtime.ExitError",
        errorMessage: `${error.name}: ${error.message}`,
        durationMs: this.current ? performance.now() - this.current.started : 0,
      });
    });
    this.worker.on("exit", (code) => {
      if (this.ended) return; // ended on purpose
      this.finish({
        ok: false,
        errorType: "Runtime.ExitError",
        errorMessage: `RequestId: ${this.current?.id ?? "-"} Error: Runtime exited with error: exit status ${code}`,
        durationMs: this.current ? performance.now() - this.current.started : 0,
      });
      this.ended = true;
      this.onEnd(this, "crash");
    });
  }

  private async end(reason: "timeout" | "crash"): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this, reason);
    await this.worker.terminate();
  }

  private finish(result: InvokeResult): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    clearTimeout(current.timer);
    current.resolve(result);
  }
}
