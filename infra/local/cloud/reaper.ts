import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";

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

/**
 * The same watchdog as a POSIX shell script, where there is a /bin/sh: it runs all day beside the cloud, and a
 * shell holds about 1 MB of memory where a Node.js process holds 40 MB. Builtins only (read, kill, case), so
 * it does not depend on what else the system has; `sleep` is the one command it runs, at the end.
 */
const REAPER_SHELL = `
trap '' INT TERM HUP
groups=""
while IFS= read -r line; do
  case "$line" in
    -[0-9]*)
      kept=""
      for pid in $groups; do [ "$pid" = "\${line#-}" ] || kept="$kept $pid"; done
      groups="$kept" ;;
    [0-9]*) groups="$groups $line" ;;
  esac
done
[ -n "$groups" ] || exit 0
for pid in $groups; do kill -TERM "-$pid" 2>/dev/null; done
sleep 3
for pid in $groups; do kill -KILL "-$pid" 2>/dev/null; done
exit 0
`;

const SHELL = "/bin/sh";

export class Reaper {
  private readonly process: ChildProcess;

  constructor() {
    const [command, args] =
      process.platform !== "win32" && existsSync(SHELL)
        ? [SHELL, ["-c", REAPER_SHELL]]
        : [process.execPath, ["-e", REAPER_SOURCE]];
    this.process = spawn(command, args, {
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
