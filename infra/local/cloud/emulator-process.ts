import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import type { EmulatorSpec, LaunchContext } from "./emulators.js";
import { EmulatorStartError } from "./errors.js";
import type { Reaper } from "./reaper.js";

const LOG_TAIL_LINES = 25;
/** Start attempts when the engine cannot bind its port (another process took it after we probed it free). */
const BIND_ATTEMPTS = 4;
/** How engines say that a port is taken: Node (kinesis-mock, fauxqs) and Java (DynamoDB Local's Jetty). */
const BIND_FAILURE = /EADDRINUSE|Address already in use|BindException|Failed to bind/i;

/** Hands out a fresh pair of free loopback ports: the emulator's and a spare. */
export type PortAllocator = () => Promise<readonly [number, number]>;

/** One emulator child process: started in its own process group, logging to a file, probed until ready. */
export class EmulatorProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private phase: "idle" | "starting" | "ready" = "idle";
  private launchExposure: string | undefined;
  private context: LaunchContext;
  readonly logFile: string;

  constructor(
    readonly spec: EmulatorSpec,
    context: LaunchContext,
    logDir: string,
    private readonly reaper: Reaper,
    private readonly allocatePorts?: PortAllocator,
    /** Called whenever `status()` may have changed: start, ready, exit. */
    private readonly onStatusChange: () => void = () => {},
  ) {
    this.context = context;
    this.logFile = join(logDir, `${spec.name}.log`);
  }

  get emulator(): string {
    return this.spec.name;
  }

  get port(): number {
    return this.context.port;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Set when the engine could not be kept to loopback: what is reachable from the network. */
  get exposure(): string | undefined {
    return this.launchExposure;
  }

  get sparePort(): number {
    return this.context.sparePort;
  }

  isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** "running" only once the engine has answered a real request of its API since it was (re)started. */
  status(): "starting" | "running" | "down" {
    if (this.phase === "starting") return "starting";
    return this.phase === "ready" && this.isRunning() ? "running" : "down";
  }

  /**
   * Spawns the emulator and resolves once it answers a real request; throws EmulatorStartError. An engine
   * that exits because its port was taken in the meantime (a race no probe can close: the port is free
   * when we pick it and another process binds it before the engine does) is started again on new ports.
   */
  async start(timeoutMs: number): Promise<void> {
    this.setPhase("starting");
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.startOnce(timeoutMs);
          this.setPhase("ready");
          return;
        } catch (error) {
          const bindFailed =
            error instanceof EmulatorStartError && !this.isRunning() && BIND_FAILURE.test(this.launchLog());
          if (!bindFailed || !this.allocatePorts || attempt >= BIND_ATTEMPTS) throw error;
          const [port, sparePort] = await this.allocatePorts();
          this.context = { ...this.context, port, sparePort };
        }
      }
    } finally {
      if (this.phase === "starting") this.setPhase("idle");
    }
  }

  private setPhase(phase: "idle" | "starting" | "ready"): void {
    this.phase = phase;
    this.onStatusChange();
  }

  private async startOnce(timeoutMs: number): Promise<void> {
    const launch = this.spec.launch(this.context);
    this.launchExposure = launch.exposure;
    if (this.context.dataDir) mkdirSync(join(this.context.dataDir, this.spec.name), { recursive: true });
    const log = openSync(this.logFile, "a");
    writeSync(log, `\n--- ${new Date().toISOString()} ${launch.command} ${launch.args.join(" ")}\n`);
    const child = spawn(launch.command, launch.args, {
      cwd: launch.cwd,
      env: { ...process.env, ...launch.env },
      stdio: ["ignore", log, log],
      detached: true,
    });
    closeSync(log);
    this.child = child;
    const exit = new Promise<string>((resolve) => {
      child.once("error", (error) => resolve(`could not be started (${error.message})`));
      child.once("exit", (code, signal) => resolve(`exited during start (${signal ?? `code ${code}`})`));
    });
    child.once("exit", () => this.onStatusChange());
    this.exited = exit.then(() => undefined);
    if (child.pid) this.reaper.watch(child.pid);

    const deadline = Date.now() + timeoutMs;
    let failure: string | undefined;
    exit.then((reason) => {
      failure ??= reason;
    });
    while (failure === undefined) {
      if (await this.answersProbe()) return;
      if (Date.now() > deadline) {
        failure = `did not become ready within ${timeoutMs / 1000} s`;
        await this.stop();
        break;
      }
      await Promise.race([sleep(50), exit]);
    }
    throw new EmulatorStartError(this.spec.name, failure, this.logFile, this.logTail());
  }

  /** Stops the process group: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    this.setPhase("idle");
    const child = this.child;
    if (!child?.pid) return;
    if (this.isRunning()) {
      signalGroup(child.pid, "SIGTERM");
      const killed = setTimeout(() => signalGroup(child.pid as number, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(killed);
    }
    // Children the emulator itself spawned go with the group.
    signalGroup(child.pid, "SIGKILL");
    this.reaper.forget(child.pid);
  }

  /**
   * Kills it at once, for failure tests: SIGKILL, as a crash would, or SIGTERM, which still fails every
   * request in flight but lets the engine close its files.
   */
  async crash(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    this.setPhase("idle");
    if (this.child?.pid && this.isRunning()) {
      signalGroup(this.child.pid, signal);
      await this.exited;
      this.reaper.forget(this.child.pid);
    }
  }

  /** What the engine logged since its latest launch. */
  private launchLog(): string {
    try {
      const log = readFileSync(this.logFile, "utf8");
      return log.slice(log.lastIndexOf("\n--- "));
    } catch {
      return "";
    }
  }

  logTail(lines = LOG_TAIL_LINES): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  private answersProbe(): Promise<boolean> {
    const { probe } = this.spec;
    return new Promise((resolve) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: this.port,
          method: probe.method,
          path: probe.path,
          headers: probe.headers,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.setTimeout(1_000, () => req.destroy());
      req.on("error", () => resolve(false));
      req.end(probe.body);
    });
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
