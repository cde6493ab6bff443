import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";

/** Where copies of asset directories that need a module scope of their own go, inside the assembly. */
export const LOCAL_CODE_DIR = "local-code";

/**
 * The directory to run an asset of the cloud assembly from, so that it loads as Lambda loads `/var/task`.
 * Node.js takes a `.js` file's module type from the nearest package.json; in Lambda there is none above the
 * function's code, but here the assembly sits in the user's project, whose `"type": "module"` would make
 * NodejsFunction's CommonJS `index.js` fail with "module is not defined in ES module scope". Where that would
 * happen (no package.json of its own, a "module" scope above it), the code runs from a copy under
 * `cdk.out/local-code/` beside a package.json without "type", which stops the lookup where Lambda's stops;
 * the asset itself is left as synthesized, so what `cdk deploy` uploads is unchanged. Assets are named by
 * content hash, so an existing copy is current. Directories outside the assembly are used as they are.
 */
export function withLambdaModuleScope(codeDir: string, assemblyDir: string): string {
  const inAssembly = !relative(resolve(assemblyDir), resolve(codeDir)).startsWith("..");
  if (!inAssembly || existsSync(join(codeDir, "package.json"))) return codeDir;
  // The walk up to the project's package.json is a few lookups; the walk through the code, the dearer check.
  if (moduleTypeAbove(codeDir) !== "module" || !hasPlainJsFile(codeDir)) return codeDir;
  const copy = join(assemblyDir, LOCAL_CODE_DIR, basename(codeDir));
  if (existsSync(copy)) return copy;
  // Copied aside and renamed into place, so that a concurrent start never runs a half-written copy.
  const staging = `${copy}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(codeDir, staging, { recursive: true });
  writeFileSync(
    join(staging, "package.json"),
    `${JSON.stringify({ description: "Written by serverless-broker's local runner: Lambda reads no package.json above the function's code." })}\n`,
  );
  try {
    renameSync(staging, copy);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(copy)) throw error;
  }
  return copy;
}

/** Whether the code has a `.js` file outside node_modules: `.mjs` and `.cjs` say their module type themselves. */
function hasPlainJsFile(dir: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && hasPlainJsFile(join(dir, entry.name))) return true;
    } else if (entry.name.endsWith(".js")) return true;
  }
  return false;
}

/** The "type" of the nearest package.json above `dir`, as Node.js resolves a file's module scope. */
function moduleTypeAbove(dir: string): string | undefined {
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    const manifest = join(current, "package.json");
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, "utf8")) as { type?: string }).type;
      } catch {
        return undefined;
      }
    }
    if (dirname(current) === current) return undefined;
  }
}
