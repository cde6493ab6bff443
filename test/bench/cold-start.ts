/**
 * Cold start as Lambda users feel it: an SQS consumer with DynamoDB dedup, this runtime against Powertools
 * batch + idempotency, both bundled the same way ConsumerFunction bundles (esbuild, minified ESM, node24
 * target), once with `@aws-sdk/*` external (NodejsFunction's default: the runtime's SDK is loaded from
 * disk) and once with the SDK bundled. Each figure is the median of fresh Node.js processes that load the
 * bundle (the function's init) and invoke it once on a batch of 10 new messages against the local cloud.
 */
import { execFile } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { envelopeBody, sqsRecord } from "../support/lambda-events.js";
import { median } from "./measure.js";
import type { BenchResources } from "./resources.js";

const run = promisify(execFile);
const here = resolve(import.meta.dirname, "cold-start");
// Inside the project, so that an external `@aws-sdk/*` resolves from its node_modules as from Lambda's runtime.
const outDir = resolve(".local-cloud/bench-cold-start");

export interface ColdStartRow {
  readonly implementation: string;
  readonly sdk: "external" | "bundled";
  readonly bundleKiB: number;
  readonly initMs: number;
  readonly initAndFirstInvokeMs: number;
}

const SUBJECTS = [
  { implementation: "sqsConsumer + dynamoDbDedup", entry: "ours.ts" },
  { implementation: "Powertools BatchProcessor + makeIdempotent", entry: "powertools.ts" },
  // The same features as ours: the default observer logs with Logger and emits EMF with Metrics.
  {
    implementation: "Powertools BatchProcessor + makeIdempotent + Logger + Metrics",
    entry: "powertools-observed.ts",
  },
] as const;

export async function benchmarkColdStart(
  resources: BenchResources,
  processes: number,
): Promise<ColdStartRow[]> {
  mkdirSync(outDir, { recursive: true });
  const rows: ColdStartRow[] = [];
  for (const sdk of ["external", "bundled"] as const) {
    const bundles = await Promise.all(SUBJECTS.map((subject) => bundle(subject.entry, sdk)));
    const samples = SUBJECTS.map(() => ({ init: [] as number[], total: [] as number[] }));
    // They take turns, so that whatever else the machine does falls on each alike.
    for (let index = 0; index < processes; index++) {
      for (const [subject, file] of bundles.entries()) {
        const measured = await invokeFresh(file, resources, `${sdk}-${subject}-${index}`);
        samples[subject]?.init.push(measured.initMs);
        samples[subject]?.total.push(measured.totalMs);
      }
    }
    for (const [subject, file] of bundles.entries()) {
      rows.push({
        implementation: SUBJECTS[subject]?.implementation ?? "",
        sdk,
        bundleKiB: statSync(file).size / 1024,
        initMs: median(samples[subject]?.init ?? []),
        initAndFirstInvokeMs: median(samples[subject]?.total ?? []),
      });
    }
  }
  return rows;
}

export interface SchemaCostRow {
  readonly library: string;
  readonly bundleKiB: number;
  readonly addedKiB: number;
  readonly initMs: number;
}

const SCHEMA_LIBRARIES = [
  { library: "no schema", entry: "schemas/none.ts" },
  { library: "zod 4 (zod)", entry: "schemas/zod.ts" },
  { library: "zod 4 mini (zod/mini)", entry: "schemas/zod-mini.ts" },
  { library: "valibot 1", entry: "schemas/valibot.ts" },
] as const;

/**
 * What a Standard Schema validator adds to a consumer's bundle and init (SDK external, no dedup): one
 * object schema of two fields, validated on a first invoke of 10 records.
 */
export async function benchmarkSchemaCost(processes: number): Promise<SchemaCostRow[]> {
  mkdirSync(outDir, { recursive: true });
  const files = await Promise.all(SCHEMA_LIBRARIES.map((library) => bundle(library.entry, "external")));
  const init = SCHEMA_LIBRARIES.map(() => [] as number[]);
  for (let index = 0; index < processes; index++) {
    for (const [library, file] of files.entries()) {
      init[library]?.push((await invokeFresh(file, undefined, `schema-${library}-${index}`)).initMs);
    }
  }
  const baseline = statSync(files[0] as string).size / 1024;
  return files.map((file, library) => ({
    library: SCHEMA_LIBRARIES[library]?.library ?? "",
    bundleKiB: statSync(file).size / 1024,
    addedKiB: statSync(file).size / 1024 - baseline,
    initMs: median(init[library] ?? []),
  }));
}

/** esbuild options as ConsumerFunction bundles a function (minified ESM for node24). */
export const CONSUMER_BUNDLING = {
  bundle: true,
  minify: true,
  platform: "node",
  format: "esm",
  target: "node24",
  mainFields: ["module", "main"],
} as const;

async function bundle(entry: string, sdk: "external" | "bundled"): Promise<string> {
  const outfile = join(outDir, `${entry.replace(/\.ts$/, "").replace("/", "-")}-sdk-${sdk}.mjs`);
  await build({
    entryPoints: [join(here, entry)],
    outfile,
    ...CONSUMER_BUNDLING,
    mainFields: [...CONSUMER_BUNDLING.mainFields],
    external: sdk === "external" ? ["@aws-sdk/*"] : [],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: "silent",
  });
  return outfile;
}

async function invokeFresh(file: string, resources: BenchResources | undefined, batch: string) {
  const eventFile = join(outDir, `event-${batch}.json`);
  const records = Array.from({ length: 10 }, (_, index) =>
    sqsRecord({
      messageId: `${batch}-${index}`,
      body: envelopeBody({
        id: `${batch}-${index}-${Date.now()}`,
        payload: { orderId: `o-${index}`, total: 42 },
      }),
    }),
  );
  writeFileSync(eventFile, JSON.stringify({ Records: records }));
  const { stdout } = await run(process.execPath, [join(here, "invoke-once.mjs"), file, eventFile], {
    env: {
      ...process.env,
      BROKER_DEDUP_TABLE_NAME: resources?.dedupTable ?? "",
      POWERTOOLS_TABLE_NAME: resources?.powertoolsTable ?? "",
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  return JSON.parse(stdout) as { initMs: number; totalMs: number };
}
