import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { importsUnresolvedSdk } from "../../../infra/local/runner/provided-sdk.mjs";

/**
 * Whether a function's environment starts the module-hooks thread that resolves the SDK the Lambda runtime
 * provides: only when its code names an SDK module its own node_modules cannot give it (the hooks cost every
 * environment a second V8 heap).
 */
describe("importsUnresolvedSdk", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const codeDir = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), "provided-sdk-"));
    dirs.push(dir);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return dir;
  };
  const sqsPackage = {
    "node_modules/@aws-sdk/client-sqs/package.json": JSON.stringify({
      name: "@aws-sdk/client-sqs",
      main: "index.js",
    }),
    "node_modules/@aws-sdk/client-sqs/index.js": "exports.SQSClient = class {};",
  };

  it("needs the runtime's SDK for an import nothing beside the code resolves", () => {
    expect(
      importsUnresolvedSdk(codeDir({ "index.mjs": 'import { SQSClient } from "@aws-sdk/client-sqs";' })),
    ).toBe(true);
  });

  it("does not when the function's node_modules has it, or the code names no SDK", () => {
    expect(
      importsUnresolvedSdk(
        codeDir({ "index.mjs": 'import { SQSClient } from "@aws-sdk/client-sqs";', ...sqsPackage }),
      ),
    ).toBe(false);
    expect(
      importsUnresolvedSdk(codeDir({ "index.mjs": 'export const handler = async () => "aws-sdk-js";' })),
    ).toBe(false);
  });

  it("needs it for a module of the function's node_modules, a v2 require, and a name built at run time", () => {
    expect(
      importsUnresolvedSdk(
        codeDir({
          "index.mjs": 'import "lib";',
          "node_modules/lib/index.mjs": 'export { S3Client } from "@aws-sdk/client-s3";',
        }),
      ),
    ).toBe(true);
    expect(importsUnresolvedSdk(codeDir({ "index.cjs": 'const AWS = require("aws-sdk");' }))).toBe(true);
    // A folder of the function's own that happens to share a name with an SDK package is read like the rest.
    expect(
      importsUnresolvedSdk(
        codeDir({
          "index.mjs": 'import "./lib/aws-sdk/clients.mjs";',
          "lib/aws-sdk/clients.mjs": 'export { STSClient } from "@aws-sdk/client-sts";',
        }),
      ),
    ).toBe(true);
    expect(
      importsUnresolvedSdk(
        codeDir({ "index.mjs": 'export const load = (name) => import("@aws-sdk/" + name);', ...sqsPackage }),
      ),
    ).toBe(true);
  });
});
