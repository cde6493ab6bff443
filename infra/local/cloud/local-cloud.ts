import { mkdirSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { join, resolve } from "node:path";
import { type AccessPolicy, accessPolicyFromEnv } from "./access-policy.js";
import { EmulatorProcess } from "./emulator-process.js";
import { EMULATOR_NAMES, EMULATORS, type EmulatorName } from "./emulators.js";
import type { BackendState } from "./gateway-messages.js";
import { GatewayProcess } from "./gateway-process.js";
import { findJava } from "./java.js";
import { Reaper } from "./reaper.js";
import { SERVICES, type ServiceName } from "./routing.js";
import { TtlSweeper } from "./ttl-sweeper.js";

export const DEFAULT_PORT = 4566;
export const DEFAULT_REGION = "us-east-1";

export interface LocalCloudOptions {
  /** Gateway port; 0 picks a free one. @default LOCAL_CLOUD_PORT, else 4566 (LocalStack's) */
  readonly port?: number;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** Where each emulator writes `<name>.log`. @default ".local-cloud/logs" */
  readonly logDir?: string;
  /**
   * Keep DynamoDB and Kinesis state on disk here, so that it survives an emulator restart. DynamoDB Local
   * writes through; kinesis-mock saves every 5 s, so a crash of it can lose the last seconds of records.
   * SNS/SQS state (fauxqs 1.x) is always in memory. @default - in memory
   */
  readonly dataDir?: string;
  /** Log every request in the emulators' logs. @default false */
  readonly verbose?: boolean;
  /** Per emulator. @default 30000 */
  readonly startTimeoutMs?: number;
  /**
   * Web origins and host names the gateway lets in besides loopback ones (SDKs and CLIs send no Origin).
   * @default - from LOCAL_CLOUD_ALLOWED_ORIGINS and LOCAL_CLOUD_ALLOWED_HOSTS (comma-separated, `*` for any)
   */
  readonly access?: AccessPolicy;
  /**
   * Delete expired items (TTL attribute in the past) of tables with TTL enabled every this many ms, which
   * DynamoDB Local never does (AWS does within days: see ttl-sweeper.ts); 0 never. @default 60000
   */
  readonly ttlSweepIntervalMs?: number;
}

/** "starting" until its emulator answers a real request; "down" when that emulator is gone. */
export type ServiceStatus = "running" | "starting" | "down";

export interface HealthReport {
  /** "running" (and `GET /health` 200) only when every emulator answers; else 503. */
  readonly status: "running" | "starting" | "degraded";
  /** What is not ready yet, for humans; absent when running. */
  readonly message?: string;
  readonly endpoint: string;
  /** The process that serves the endpoint. */
  readonly gateway: { readonly pid?: number; readonly port: number };
  readonly services: Record<ServiceName, ServiceStatus>;
  readonly emulators: Record<
    EmulatorName,
    { pid?: number; port: number; status: ServiceStatus; running: boolean; logFile: string }
  >;
}

export interface LocalCloud {
  /** The one endpoint for every service, e.g. http://127.0.0.1:4566. */
  readonly endpoint: string;
  readonly region: string;
  /** The environment that points AWS SDKs and CLIs at this cloud. */
  readonly env: Readonly<Record<string, string>>;
  /** Ports that anyone on the network can reach, when an engine could not be kept to loopback. */
  readonly exposures: readonly string[];
  health(): HealthReport;
  /**
   * Kills an emulator abruptly and starts it again on the same port: with SIGKILL (the default), as a
   * crash would, or SIGTERM. Requests in flight fail either way. DynamoDB Local answers a write a moment
   * before it is on disk, so a SIGKILL can lose the last writes it acknowledged; SIGTERM does not.
   */
  restart(emulator: EmulatorName, options?: { readonly signal?: "SIGKILL" | "SIGTERM" }): Promise<void>;
  /** Deletes the expired items of every table with TTL enabled now (the sweep also runs on its interval). */
  sweepExpiredItems(now?: Date, tableNames?: readonly string[]): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded local cloud: fauxqs (SNS, SQS), kinesis-mock (Kinesis) and DynamoDB Local (DynamoDB,
 * DynamoDB Streams) as child processes on free loopback ports, behind one gateway endpoint that runs in a
 * process of its own (so a `spawnSync` in this one cannot starve the child it waits on). Resolves once every
 * emulator has answered a real request. Fails fast with a LocalCloudError that says what to do: Java
 * missing, port taken, an emulator dying during start.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? Number(process.env.LOCAL_CLOUD_PORT ?? DEFAULT_PORT);
  const logDir = resolve(options.logDir ?? ".local-cloud/logs");
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  // In memory there is nothing to save: kinesis-mock takes 4 s to wind down on SIGTERM, so do not wait.
  const stopGraceMs = dataDir ? 5_000 : 500;
  mkdirSync(logDir, { recursive: true });

  const java = findJava();
  const emulators = new Map<EmulatorName, EmulatorProcess>();
  const emulatorFor = new Map<ServiceName, EmulatorProcess>();
  let endpoint = "";

  const health = (): HealthReport => {
    const services = Object.fromEntries(
      SERVICES.map((service) => [service, emulatorFor.get(service)?.status() ?? "down"]),
    ) as Record<ServiceName, ServiceStatus>;
    const emulatorReport = Object.fromEntries(
      [...emulators].map(([name, emulator]) => [
        name,
        {
          pid: emulator.pid,
          port: emulator.port,
          status: emulator.status(),
          running: emulator.isRunning(),
          logFile: emulator.logFile,
        },
      ]),
    ) as HealthReport["emulators"];
    const pending = (wanted: ServiceStatus) =>
      [...emulators.values()]
        .filter((emulator) => emulator.status() === wanted)
        .map((emulator) => `${emulator.emulator} (${emulator.spec.services.join(", ")})`);
    const starting = pending("starting");
    const down = pending("down");
    const status = down.length > 0 ? "degraded" : starting.length > 0 ? "starting" : "running";
    const message = [
      starting.length > 0 ? `Still starting: ${starting.join(", ")}.` : "",
      down.length > 0 ? `Not running: ${down.join(", ")}; see their logs in ${logDir}.` : "",
    ]
      .filter(Boolean)
      .join(" ");
    return {
      status,
      ...(message ? { message } : {}),
      endpoint,
      gateway: { pid: gateway.pid, port: gateway.port },
      services,
      emulators: emulatorReport,
    };
  };

  // The gateway first: a taken port is the likeliest failure and the cheapest to find.
  const gateway = await GatewayProcess.start({
    host,
    port,
    access: options.access ?? accessPolicyFromEnv(),
    logFile: join(logDir, "gateway.log"),
  });
  endpoint = `http://${host}:${gateway.port}`;
  /** Pushes where each emulator is and how it is to the gateway; resolves once the gateway acts on it. */
  const publish = () => {
    const backends: Partial<Record<ServiceName, BackendState>> = {};
    for (const [service, emulator] of emulatorFor)
      backends[service] = {
        emulator: emulator.emulator,
        port: emulator.port,
        logFile: emulator.logFile,
        status: emulator.status(),
      };
    return gateway.update(backends, health());
  };
  const reaper = new Reaper();

  try {
    for (const name of EMULATOR_NAMES) {
      const [emulatorPort, sparePort] = await freePortPair();
      const emulator = new EmulatorProcess(
        EMULATORS[name],
        { port: emulatorPort, sparePort, dataDir, verbose: options.verbose ?? false, java },
        logDir,
        reaper,
        freePortPair,
        () => void publish(),
      );
      emulators.set(name, emulator);
      for (const service of emulator.spec.services) emulatorFor.set(service, emulator);
    }
    // Start them before the first publish: an emulator not yet started reports "down", and /health would
    // say "Not running ... see their logs" to a script polling during a normal start.
    const started = Promise.all([...emulators.values()].map((emulator) => emulator.start(timeoutMs)));
    started.catch(() => {}); // awaited below; this only keeps the rejection from counting as unhandled meanwhile
    await publish();
    await started;
    await publish();
  } catch (error) {
    await Promise.all([...emulators.values()].map((emulator) => emulator.stop()));
    reaper.release();
    await gateway.close();
    throw error;
  }

  const exposures = [...emulators.values()].flatMap((emulator) => emulator.exposure ?? []);
  const sweeper = new TtlSweeper(endpoint, DEFAULT_REGION);
  const sweepIntervalMs = options.ttlSweepIntervalMs ?? 60_000;
  if (sweepIntervalMs > 0) sweeper.start(sweepIntervalMs);
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region: DEFAULT_REGION,
    env: localCloudEnv(endpoint),
    exposures,
    health,
    async restart(name, options = {}) {
      const emulator = emulators.get(name);
      if (!emulator)
        throw new Error(`Unknown emulator ${name}; expected one of ${EMULATOR_NAMES.join(", ")}.`);
      await emulator.crash(options.signal);
      await emulator.start(timeoutMs);
      await publish();
    },
    sweepExpiredItems: (now, tableNames) => sweeper.sweep(now, tableNames),
    stop() {
      stopping ??= (async () => {
        await sweeper.stop();
        await gateway.close();
        await Promise.all([...emulators.values()].map((emulator) => emulator.stop(stopGraceMs)));
        reaper.release();
      })();
      return stopping;
    },
  };
}
/** The variables that point AWS SDKs (v3 and others) and the AWS CLI at an endpoint. */
export function localCloudEnv(endpoint: string, region = DEFAULT_REGION): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  };
}

/** Two distinct free loopback ports, held together so the OS cannot hand out the same one twice. */
async function freePortPair(): Promise<readonly [number, number]> {
  const servers = await Promise.all([listenAnywhere(), listenAnywhere()]);
  const [first, second] = servers.map((server) => (server.address() as AddressInfo).port) as [number, number];
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return [first, second];
}

function listenAnywhere(): Promise<Server> {
  return new Promise((resolveServer, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolveServer(server));
  });
}
