/**
 * A long-running command a test starts and talks to through its output: `serverless-broker start`,
 * `cloud`, a user's `npx serverless-broker …`. Each runs in a process group of its own, as a terminal's
 * foreground job, so that a test can Ctrl-C it (SIGINT to the group) and kill whatever is left afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { eventually } from "./eventually.js";

export interface RunningProcess {
  readonly child: ChildProcess;
  /** Standard output and error as they arrived, interleaved. */
  output(): string;
  /** Waits until the output matches; returns the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The exit code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

const running: ChildProcess[] = [];

export function startProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; waitTimeoutMs?: number } = {},
): RunningProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  return {
    child,
    output: () => output,
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code))),
    waitFor: (pattern, timeoutMs = options.waitTimeoutMs ?? 60_000) =>
      eventually(`output matching ${pattern}`, async () => pattern.exec(output) ?? undefined, { timeoutMs }),
  };
}

/** Kills every process group started here and not yet reaped: call it in afterEach / afterAll. */
export function killStarted(): void {
  for (const child of running.splice(0)) if (child.pid) signalGroup(child.pid, "SIGKILL");
}

/** Signals a whole process group (SIGINT: what Ctrl-C in a terminal sends). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** True while any process of the group is alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
