import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import type { AccessPolicy } from "./access-policy.js";
import { LEAN_NODE_ENV, nodeEntry } from "./emulators.js";
import { LocalCloudError, PortInUseError } from "./errors.js";
import type { BackendState, FromGateway, ToGateway } from "./gateway-messages.js";
import type { ServiceName } from "./routing.js";

export interface GatewayProcessOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly access: AccessPolicy;
  /** Where the gateway process writes what it prints (crashes, mostly). */
  readonly logFile: string;
}

/**
 * The gateway, run as a child process (see gateway-server.ts for why). Resolves once it listens; throws
 * PortInUseError when its port is taken.
 */
export class GatewayProcess {
  private readonly exited: Promise<void>;
  private sequence = 0;
  private readonly pending = new Map<number, () => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    child.on("message", (message: FromGateway) => {
      if (message.type !== "applied") return;
      for (const [sequence, applied] of this.pending)
        if (sequence <= message.sequence) {
          this.pending.delete(sequence);
          applied();
        }
    });
    // A gateway gone cannot acknowledge: nobody waits on it any longer.
    void this.exited.then(() => {
      for (const applied of this.pending.values()) applied();
      this.pending.clear();
    });
  }

  static async start(options: GatewayProcessOptions): Promise<GatewayProcess> {
    const entry = nodeEntry("gateway-server");
    const log = openSync(options.logFile, "a");
    const child = spawn(entry.command, entry.args, {
      cwd: entry.cwd,
      env: { ...process.env, ...LEAN_NODE_ENV },
      stdio: ["ignore", log, log, "ipc"],
    });
    closeSync(log);
    const port = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        reject(
          new LocalCloudError(
            `The local cloud's gateway process exited during start (${signal ?? `code ${code}`}).`,
            `See ${options.logFile}.`,
          ),
        ),
      );
      child.on("message", (message: FromGateway) => {
        if (message.type === "listening") resolve(message.port);
        else if (message.type !== "failed") return;
        else if (message.code === "EADDRINUSE") reject(new PortInUseError(options.host, options.port));
        else
          reject(
            new LocalCloudError(
              `The local cloud's gateway could not listen: ${message.message}`,
              `See ${options.logFile}.`,
            ),
          );
      });
      const listen: ToGateway = {
        type: "listen",
        host: options.host,
        port: options.port,
        access: options.access,
      };
      child.send(listen);
    }).catch(async (error: unknown) => {
      child.kill("SIGKILL");
      throw error;
    });
    child.removeAllListeners("exit");
    child.removeAllListeners("message");
    return new GatewayProcess(child, port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Tells the gateway where each service's emulator is, whether it is ready, and what /health says;
   * resolves once the gateway acts on it.
   */
  update(
    backends: Partial<Record<ServiceName, BackendState>>,
    health: { readonly status: string },
  ): Promise<void> {
    if (!this.child.connected) return Promise.resolve();
    const sequence = ++this.sequence;
    const state: ToGateway = { type: "state", sequence, backends, health };
    return new Promise((resolve) => {
      this.pending.set(sequence, resolve);
      this.child.send(state);
    });
  }

  /** Closing the channel stops it; SIGKILL if it has not gone after `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    const killed = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(killed);
  }
}
