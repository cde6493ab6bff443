import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, sep } from "node:path";
import { JavaNotFoundError } from "./errors.js";

export const MINIMUM_JAVA_VERSION = 17;

export interface JavaRuntime {
  readonly command: string;
  readonly majorVersion: number;
}

/** Finds a Java 17+ runtime for DynamoDB Local: JAVA_HOME first, then PATH. Throws JavaNotFoundError. */
export function findJava(env: NodeJS.ProcessEnv = process.env): JavaRuntime {
  const candidates = [env.JAVA_HOME ? join(env.JAVA_HOME, "bin", "java") : undefined, "java"];
  let tooOld: string | undefined;
  for (const command of candidates) {
    if (!command) continue;
    const result = spawnSync(command, ["-version"], { encoding: "utf8", env });
    if (result.error || result.status !== 0) continue;
    const majorVersion = parseJavaMajorVersion(`${result.stderr}${result.stdout}`);
    if (majorVersion !== undefined && majorVersion >= MINIMUM_JAVA_VERSION) return { command, majorVersion };
    tooOld ??= `Java ${majorVersion ?? "of unknown version"} (${command})`;
  }
  throw new JavaNotFoundError(tooOld);
}

/** Reads the major version from `java -version` output: `version "17.0.15"`, `"21"` or legacy `"1.8.0_392"`. */
export function parseJavaMajorVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

const sourceLaunchers = new Map<string, boolean>();

/**
 * Whether this Java can run a `.java` file directly (source-file mode, JEP 330): it needs the jdk.compiler
 * module, which a JDK has and a bare JRE may lack.
 */
export function runsSourceFiles(java: JavaRuntime): boolean {
  let known = sourceLaunchers.get(java.command);
  if (known === undefined) {
    const result = spawnSync(java.command, ["--list-modules"], { encoding: "utf8" });
    known = result.status === 0 && /^jdk\.compiler@/m.test(result.stdout);
    sourceLaunchers.set(java.command, known);
  }
  return known;
}

/**
 * Compiles a one-class `.java` file once per machine (javac beside this java, else on PATH) into a cache
 * folder named after its source and classpath, and answers that folder; undefined when there is no javac.
 * Source-file mode would recompile it on every start, which costs seconds on a busy machine.
 */
export function compiledClassDir(java: JavaRuntime, source: string, classpath: string): string | undefined {
  const digest = createHash("sha256")
    .update(readFileSync(source))
    .update(classpath)
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `serverless-broker-java-${digest}`);
  const className = basename(source, ".java");
  if (existsSync(join(dir, `${className}.class`))) return dir;
  const javac = java.command.includes(sep) ? join(dirname(java.command), "javac") : "javac";
  const staging = mkdtempSync(`${dir}-`);
  const result = spawnSync(javac, ["-nowarn", "-cp", classpath, "-d", staging, source], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    return undefined;
  }
  try {
    // Atomic, so that two starts compiling at once never see half a class file.
    renameSync(staging, dir);
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return existsSync(join(dir, `${className}.class`)) ? dir : undefined;
}
