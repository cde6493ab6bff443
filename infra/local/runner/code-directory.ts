import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * Makes an asset directory of the cloud assembly load as Lambda loads `/var/task`. Node.js takes a `.js` file's
 * module type from the nearest package.json; in Lambda there is none above the function's code, but here the
 * assembly sits in the user's project, whose `"type": "module"` would make NodejsFunction's CommonJS
 * `index.js` fail with "module is not defined in ES module scope". A package.json without "type" at the root
 * of the code stops that lookup where Lambda's stops, and Node.js then reads the code as it would in Lambda.
 * Written only where needed (no package.json of its own, a "module" scope above it) and only inside the
 * assembly (`cdk.out`), never into source directories that an unstaged asset points at. Returns `codeDir`.
 */
export function withLambdaModuleScope(codeDir: string, assemblyDir: string): string {
  const inAssembly = !relative(resolve(assemblyDir), resolve(codeDir)).startsWith("..");
  if (!inAssembly || existsSync(join(codeDir, "package.json"))) return codeDir;
  if (moduleTypeAbove(codeDir) !== "module") return codeDir;
  writeFileSync(
    join(codeDir, "package.json"),
    `${JSON.stringify({ description: "Written by serverless-broker's local runner: Lambda reads no package.json above the function's code." })}\n`,
  );
  return codeDir;
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
