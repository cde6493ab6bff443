import { cpSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * A private copy of a fixture app (under the repository's gitignored .local-cloud, so that it resolves
 * aws-cdk-lib from the repository's node_modules): tests that synthesize it in parallel get their own cdk.out.
 */
export function copyFixtureApp(name: string): string {
  const parent = join(root, ".local-cloud", "test-apps");
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, `${name}-`));
  cpSync(join(root, "test", "fixtures", name), dir, {
    recursive: true,
    filter: (source) => !/cdk\.out/.test(source),
  });
  return dir;
}
