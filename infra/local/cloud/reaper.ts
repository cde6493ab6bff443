import { type ChildProcess, spawn } from "node:child_process";

/**
 * A watchdog process that outlives us only to stop our emulators. We tell it each process group we start;
 * when its stdin closes (our exit, however abrupt: SIGKILL included), it terminates those groups. Plain
 * JavaScript in a string so that it starts in milliseconds without a TypeScript loader.
 */
const REAPER_SOURCE = `
const groups = new Set();
let pending = "";
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});
const signalAll = (signal) => { for (const pid of groups) { try { process.kill(-pid, signal); } catch {} } };
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (pending + chunk).split("\\n");
  pending = lines.pop();
  for (const line of lines) {
    const pid = Number(line);
    if (pid > 0) groups.add(pid); else if (pid < 0) groups.delete(-pid);
  }
});
process.stdin.on("end", () => {
  signalAll("SIGTERM");
  setTimeout(() => { signalAll("SIGKILL"); process.exit(0); }, groups.size ? 3000 : 0);
});
`;

export class Reaper {
  private readonly process: ChildProcess;

  constructor() {
    this.process = spawn(process.execPath, ["-e", REAPER_SOURCE], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    // The watchdog must not keep this process alive, nor die with our terminal's Ctrl-C.
    this.process.unref();
    (this.process.stdin as unknown as { unref(): void }).unref();
  }

  watch(pid: number): void {
    this.process.stdin?.write(`${pid}\n`);
  }

  forget(pid: number): void {
    this.process.stdin?.write(`-${pid}\n`);
  }

  /** Ends the watchdog; it signals whatever it still watches. */
  release(): void {
    this.process.stdin?.end();
  }
}
