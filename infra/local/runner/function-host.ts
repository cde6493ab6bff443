import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import type { BatchSummary } from "../../../lambdas/runtime/consumers/observability.js";
import {
  type EnvironmentSpec,
  ExecutionEnvironment,
  FunctionInitError,
  type InvokeResult,
} from "./execution-environment.js";

export { FunctionInitError, type InvokeResult } from "./execution-environment.js";

export interface FunctionSpec extends EnvironmentSpec {
  /**
   * How many environments may run at once: the function's reserved concurrency, else the local cap.
   */
  readonly maxEnvironments: number;
}

/**
 * Unreserved functions share the account's concurrency in AWS (1,000 by default); locally each
 * environment is a worker thread, so a function gets at most this many unless it reserves more.
 */
export const DEFAULT_MAX_ENVIRONMENTS = 10;

/**
 * How long an environment may wait for work before it is ended. Lambda ends idle environments too, after a
 * time it does not document (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
 * here a burst's environments (24 in the demo's, 30-50 MB each) give their memory back a minute after it, and
 * a topology left idle holds no environment (15-25 MB each); the next invocation is a cold start, as in AWS.
 */
export const IDLE_ENVIRONMENT_LIFETIME_MS = 60_000;

export interface FunctionHostOptions {
  /** See IDLE_ENVIRONMENT_LIFETIME_MS. */
  readonly idleLifetimeMs?: number;
}

/**
 * One Lambda function: a pool of execution environments, one per concurrent invocation, as Lambda
 * scales. Each environment runs its own init; a timeout or a crash ends only the environment it
 * happened in; an environment whose init fails fails its invocation, and the next invocation tries a
 * fresh init, as Lambda does. Logs of every environment go to `<logDir>/<logical id>.log`.
 */
export class FunctionHost {
  private readonly environments = new Set<ExecutionEnvironment>();
  /** Free environments, the most recently used last (taken first). */
  private readonly idle: ExecutionEnvironment[] = [];
  private readonly idleSince = new Map<ExecutionEnvironment, number>();
  private reclaimTimer: NodeJS.Timeout | undefined;
  private readonly idleLifetimeMs: number;
  private readonly waiting: Array<() => void> = [];
  /** Environments of older code (before a reload) are not reused. */
  private readonly generationOf = new Map<ExecutionEnvironment, number>();
  private generation = 0;
  private stopped = false;
  private readonly log: WriteStream;
  private readonly summaryListeners: Array<(summary: BatchSummary) => void> = [];
  readonly stats = {
    invocations: 0,
    errors: 0,
    timeouts: 0,
    crashes: 0,
    initFailures: 0,
    environments: 0,
    /** Environments ended after IDLE_ENVIRONMENT_LIFETIME_MS without work. */
    reclaimed: 0,
  };
  readonly logFile: string;

  constructor(
    private currentSpec: FunctionSpec,
    logDir: string,
    options: FunctionHostOptions = {},
  ) {
    this.idleLifetimeMs = options.idleLifetimeMs ?? IDLE_ENVIRONMENT_LIFETIME_MS;
    this.logFile = join(logDir, `${currentSpec.logicalId}.log`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    this.log = createWriteStream(this.logFile, { flags: "a" });
  }

  get spec(): FunctionSpec {
    return this.currentSpec;
  }

  /** Environments running now (busy or idle). */
  get environmentCount(): number {
    return this.environments.size;
  }

  /** Called with each batch summary the runtime logs (the consumer wrappers' "batch processed" line). */
  onBatchSummary(listener: (summary: BatchSummary) => void): void {
    this.summaryListeners.push(listener);
  }

  /**
   * Runs the function's init once, so that problems show at start, and ends that environment: like Lambda
   * after a deployment, an app that receives nothing holds none (15-25 MB each), and the first invocation
   * is a cold start. Throws FunctionInitError if the init fails; the host stays usable: each invocation
   * tries the init again, as Lambda does.
   */
  async start(): Promise<void> {
    const environment = await this.create();
    if (environment instanceof FunctionInitError) throw environment;
    await this.discard(environment);
  }

  /** Invokes the function with an event in a free environment, starting one if the pool allows. */
  async invoke(event: unknown): Promise<InvokeResult> {
    const started = performance.now();
    const environment = await this.acquire();
    if (environment === undefined)
      return notRunning(`${this.spec.logicalId} is stopping`, performance.now() - started);
    this.stats.invocations++;
    if (environment instanceof FunctionInitError) {
      this.stats.errors++;
      return {
        ok: false,
        errorType: environment.errorType,
        errorMessage: environment.errorMessage,
        durationMs: performance.now() - started,
      };
    }
    const result = await environment.invoke(event);
    if (!result.ok) {
      if (result.errorType === "Sandbox.Timedout") this.stats.timeouts++;
      else this.stats.errors++;
      this.write(`invocation failed: ${result.errorType}: ${result.errorMessage}`);
    }
    this.release(environment);
    return result;
  }

  /** Runs new code (a rebuilt bundle) from the next invocation on: for --watch. */
  async reload(codeDir: string): Promise<void> {
    this.currentSpec = { ...this.currentSpec, codeDir };
    this.generation++;
    this.write(`reloading from ${codeDir}`);
    await Promise.all(this.idle.splice(0).map((environment) => this.discard(environment)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.reclaimTimer);
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all([...this.environments].map((environment) => this.discard(environment)));
    await new Promise((resolve) => this.log.end(resolve));
  }

  private async acquire(): Promise<ExecutionEnvironment | FunctionInitError | undefined> {
    while (!this.stopped) {
      const free = this.idle.pop();
      if (free) {
        this.idleSince.delete(free);
        return free;
      }
      if (this.environments.size < this.spec.maxEnvironments) return this.create();
      await new Promise<void>((wake) => this.waiting.push(wake));
    }
    return undefined;
  }

  /** A new environment, initialised; or its init error (the environment is gone then). */
  private async create(): Promise<ExecutionEnvironment | FunctionInitError> {
    const environment = new ExecutionEnvironment(
      this.spec,
      (line) => this.onLine(line),
      (ended, reason) => {
        if (reason === "crash") {
          this.stats.crashes++;
          this.write("execution environment exited; the next invocation starts a new one");
        }
        this.forget(ended);
      },
    );
    this.environments.add(environment);
    this.generationOf.set(environment, this.generation);
    this.stats.environments++;
    try {
      await environment.init();
      return environment;
    } catch (error) {
      this.forget(environment);
      if (!(error instanceof FunctionInitError)) throw error;
      this.stats.initFailures++;
      this.write(error.message);
      return error;
    }
  }

  private release(environment: ExecutionEnvironment): void {
    if (!environment.alive || !this.environments.has(environment)) {
      this.wakeOne();
      return;
    }
    if (this.stopped || this.generationOf.get(environment) !== this.generation) {
      void this.discard(environment);
      return;
    }
    this.idle.push(environment);
    this.idleSince.set(environment, performance.now());
    this.reclaimTimer ??= setInterval(() => this.reclaimIdle(), Math.min(this.idleLifetimeMs, 10_000));
    this.reclaimTimer.unref();
    this.wakeOne();
  }

  /** Ends the environments idle past their lifetime, the longest idle first. */
  private reclaimIdle(): void {
    const oldest = performance.now() - this.idleLifetimeMs;
    for (;;) {
      const environment = this.idle[0];
      if (!environment || (this.idleSince.get(environment) ?? 0) > oldest) return;
      this.stats.reclaimed++;
      void this.discard(environment);
    }
  }

  private async discard(environment: ExecutionEnvironment): Promise<void> {
    this.forget(environment);
    await environment.terminate();
  }

  private forget(environment: ExecutionEnvironment): void {
    if (!this.environments.delete(environment)) return;
    this.generationOf.delete(environment);
    this.idleSince.delete(environment);
    const index = this.idle.indexOf(environment);
    if (index >= 0) this.idle.splice(index, 1);
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiting.shift()?.();
  }

  private write(line: string): void {
    if (!this.log.writableEnded) this.log.write(`${new Date().toISOString()} ${line}\n`);
  }

  private onLine(line: string): void {
    if (!this.log.writableEnded) this.log.write(`${line}\n`);
    if (line.includes('"batch processed"')) this.emitSummary(line);
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

function notRunning(errorMessage: string, durationMs: number): InvokeResult {
  return { ok: false, errorType: "Runtime.NotStarted", errorMessage, durationMs };
}
