import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { LocalCloudError } from "../cloud/errors.js";

export interface SynthOptions {
  /** The CDK project (where cdk.json is). @default process.cwd() */
  readonly projectDir?: string;
  /** @default "<projectDir>/cdk.out" */
  readonly outdir?: string;
  /**
   * Run the app even if no file of the project changed since the last synthesis into `outdir`.
   * @default false
   */
  readonly force?: boolean;
  /** Called when the assembly on disk is reused instead of running the app. */
  readonly onReuse?: () => void;
}

/** Folders whose files never change what an app synthesizes (outputs, dependencies, version control). */
const NOT_INPUTS = new Set(["cdk.out", "node_modules", ".local-cloud", ".git"]);
const FINGERPRINT_FILE = ".serverless-broker-synth";

/**
 * What the last synthesis read, as far as it can be known from outside the app: every file of the project
 * (path, size, modification time; not node_modules, cdk.out, .local-cloud, .git), the lock files, the
 * context, and the command. Files outside the project (a monorepo's other packages) and environment
 * variables the app reads are not in it: `force` (or deleting cdk.out) synthesizes anyway.
 */
function projectFingerprint(projectDir: string, app: string, context: unknown): string {
  const hash = createHash("sha256").update(app).update(JSON.stringify(context));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (dir === projectDir && NOT_INPUTS.has(entry.name)) continue;
      if (entry.name === "node_modules") continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const stat = statSync(path);
        hash.update(`${relative(projectDir, path)}\0${stat.size}\0${stat.mtimeMs}\n`);
      }
    }
  };
  walk(projectDir);
  return hash.digest("hex");
}

/** The assembly's manifest as last written: someone else's synthesis (`cdk synth`) changes it. */
function manifestStamp(outdir: string): string | undefined {
  const manifest = join(outdir, "manifest.json");
  return existsSync(manifest) ? String(statSync(manifest).mtimeMs) : undefined;
}

/**
 * Synthesizes a CDK app as the CDK CLI does, without the CLI: runs cdk.json's `app` command with the
 * output directory and context in the environment. Returns the cloud assembly directory.
 */
export async function synthesize(options: SynthOptions = {}): Promise<string> {
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const outdir = resolve(options.outdir ?? join(projectDir, "cdk.out"));
  const cdkJsonPath = join(projectDir, "cdk.json");
  if (!existsSync(cdkJsonPath)) {
    throw new LocalCloudError(
      `No cdk.json in ${projectDir}.`,
      "Run from the CDK project's directory, or pass its path.",
    );
  }
  const cdkJson = JSON.parse(readFileSync(cdkJsonPath, "utf8")) as {
    app?: string;
    context?: Record<string, unknown>;
  };
  if (!cdkJson.app)
    throw new LocalCloudError(
      `${cdkJsonPath} has no "app" command.`,
      'Add one, e.g. "app": "npx tsx bin/app.ts".',
    );
  const contextFile = join(projectDir, "cdk.context.json");
  const context = {
    // What the CDK CLI sets: asset metadata is how the runner finds each function's bundle.
    "aws:cdk:enable-asset-metadata": true,
    "aws:cdk:enable-path-metadata": true,
    ...cdkJson.context,
    ...(existsSync(contextFile)
      ? (JSON.parse(readFileSync(contextFile, "utf8")) as Record<string, unknown>)
      : {}),
  };

  // Unchanged since the last run: the assembly on disk is what the app would write again.
  const fingerprint = projectFingerprint(projectDir, cdkJson.app, context);
  const fingerprintFile = join(outdir, FINGERPRINT_FILE);
  const recorded = `${fingerprint} ${manifestStamp(outdir)}`;
  if (!options.force && existsSync(fingerprintFile) && readFileSync(fingerprintFile, "utf8") === recorded) {
    options.onReuse?.();
    return outdir;
  }

  const output: string[] = [];
  const exitCode = await new Promise<number | null>((done, fail) => {
    const child = spawn(cdkJson.app as string, {
      cwd: projectDir,
      shell: true,
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify(context),
        // Tells the app it runs for the local cloud: it may skip what only a deployment needs (cdk-nag).
        SERVERLESS_BROKER_LOCAL_SYNTH: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk) => output.push(String(chunk)));
    child.stderr.on("data", (chunk) => output.push(String(chunk)));
    child.on("error", fail);
    child.on("exit", done);
  });
  if (exitCode !== 0) {
    const tail = output.join("").trimEnd().split("\n").slice(-30).join("\n");
    throw new LocalCloudError(`The CDK app (${cdkJson.app}) failed to synthesize (exit ${exitCode}).`, tail);
  }
  writeFileSync(fingerprintFile, `${fingerprint} ${manifestStamp(outdir)}`);
  return outdir;
}
