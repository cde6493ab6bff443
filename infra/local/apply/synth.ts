import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalCloudError } from "../cloud/errors.js";

export interface SynthOptions {
  /** The CDK project (where cdk.json is). @default process.cwd() */
  readonly projectDir?: string;
  /** @default "<projectDir>/cdk.out" */
  readonly outdir?: string;
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
  return outdir;
}
