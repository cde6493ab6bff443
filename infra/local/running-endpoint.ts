import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Where a running `serverless-broker start` says which endpoint it serves, so that the other commands run in
 * the same project (`dlq`, `tail`, `replay`, `topology`) find a local cloud started on another port
 * (`--port 0`) without an exported AWS_ENDPOINT_URL.
 */
const RECORD = join(".local-cloud", "running.json");

/**
 * The endpoint given, else AWS_ENDPOINT_URL; an empty value (what `export AWS_ENDPOINT_URL=` leaves) counts as
 * unset, as the AWS SDKs read it.
 */
export function configuredEndpoint(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return (given ?? env.AWS_ENDPOINT_URL) || undefined;
}

interface RunningRecord {
  readonly endpoint: string;
  readonly pid: number;
}

/** Records this process's endpoint for the project; the returned function forgets it (only if still ours). */
export function recordRunningEndpoint(projectDir: string, endpoint: string): () => void {
  const file = join(projectDir, RECORD);
  mkdirSync(join(projectDir, ".local-cloud"), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ endpoint, pid: process.pid } satisfies RunningRecord)}\n`);
  return () => {
    if (readRecord(file)?.pid === process.pid) rmSync(file, { force: true });
  };
}

/** The endpoint a `start` still running in the project serves, if any: a record left by a killed one is ignored. */
export function runningEndpoint(projectDir: string): string | undefined {
  const record = readRecord(join(projectDir, RECORD));
  return record && isAlive(record.pid) ? record.endpoint : undefined;
}

function readRecord(file: string): RunningRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(file, "utf8")) as Partial<RunningRecord>;
    return typeof record.endpoint === "string" && Number.isInteger(record.pid)
      ? { endpoint: record.endpoint, pid: record.pid as number }
      : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}
