import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { withLambdaModuleScope } from "../../../infra/local/runner/code-directory.js";
import { FunctionHost } from "../../../infra/local/runner/function-host.js";

/**
 * How a function's code loads in its execution environment, as in Lambda: the SDK the runtime provides
 * resolves for code whose project installs none, and a CommonJS bundle runs as CommonJS whatever the
 * enclosing project's module type. Both once failed for apps outside this repository, whose fixtures sit
 * under its node_modules and a package.json without "type".
 */
describe("function code as Lambda loads it", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  /** A project of its own in the temp directory (no node_modules above it), with the function's code in `codeDir`. */
  const projectOf = (files: Record<string, string>): string => {
    const project = mkdtempSync(join(tmpdir(), "function-code-"));
    cleanups.push(() => rmSync(project, { recursive: true, force: true }));
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(project, path)), { recursive: true });
      writeFileSync(join(project, path), content);
    }
    return project;
  };
  /** The function's code at `codeDir` of the project, prepared as the local runtime prepares an asset of `cdk.out`. */
  const hostOf = (
    files: Record<string, string>,
    codeDir: string,
    handler = "index.handler",
  ): FunctionHost => {
    const project = projectOf(files);
    const runFrom = withLambdaModuleScope(join(project, codeDir), join(project, "cdk.out"));
    const host = new FunctionHost(
      {
        logicalId: "Loaded",
        functionName: "Loaded",
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:Loaded",
        runtime: "nodejs22.x",
        handler,
        codeDir: runFrom,
        timeoutMs: 30_000,
        memoryMb: 128,
        endpoint: "http://127.0.0.1:1",
        maxEnvironments: 1,
        environment: { PATH: process.env.PATH ?? "" },
      },
      join(project, "logs"),
    );
    cleanups.push(() => host.stop());
    return host;
  };

  it("resolves an ES import of an SDK client the runtime provides, in a project that installs no SDK", async () => {
    const host = hostOf(
      {
        "cdk.out/asset.1/index.mjs":
          'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\nexport const handler = async () => typeof DynamoDBClient;\n',
      },
      "cdk.out/asset.1",
    );
    expect(await host.invoke({})).toMatchObject({ ok: true, response: "function" });
  });

  it("resolves a require of one too", async () => {
    const host = hostOf(
      {
        "cdk.out/asset.2/index.js":
          'const { SQSClient } = require("@aws-sdk/client-sqs");\nexports.handler = async () => typeof SQSClient;\n',
      },
      "cdk.out/asset.2",
    );
    expect(await host.invoke({})).toMatchObject({ ok: true, response: "function" });
  });

  it('runs a CommonJS index.js (NodejsFunction\'s default output) in a "type": "module" project', async () => {
    const host = hostOf(
      {
        "package.json": JSON.stringify({ name: "my-app", type: "module" }),
        "cdk.out/asset.3/index.js":
          '"use strict";\nmodule.exports.handler = (event, context, callback) => callback(null, "commonjs");\n',
      },
      "cdk.out/asset.3",
    );
    expect(await host.invoke({})).toMatchObject({ ok: true, response: "commonjs" });
  });

  it("runs an ES module index.js when the code's own package.json says so", async () => {
    const host = hostOf(
      {
        "cdk.out/asset.4/package.json": JSON.stringify({ type: "module" }),
        "cdk.out/asset.4/index.js": 'export const handler = async () => "module";\n',
      },
      "cdk.out/asset.4",
    );
    expect(await host.invoke({})).toMatchObject({ ok: true, response: "module" });
  });

  it("leaves the synthesized asset as it is, and code outside the assembly or with a package.json of its own", () => {
    const project = projectOf({
      "package.json": JSON.stringify({ type: "module" }),
      "src/handler/index.js": "",
      "cdk.out/asset.5/package.json": JSON.stringify({ type: "module" }),
      "cdk.out/asset.5/index.js": "",
      "cdk.out/asset.7/index.js": "module.exports = {};",
      "cdk.out/asset.8/index.mjs": "export const handler = async () => 1;",
    });
    const cdkOut = join(project, "cdk.out");
    // What `cdk deploy` uploads stays as synthesized: the CommonJS asset runs from a copy beside a package.json.
    const copy = withLambdaModuleScope(join(cdkOut, "asset.7"), cdkOut);
    expect(copy).toBe(join(cdkOut, "local-code", "asset.7"));
    expect(readdirSync(join(cdkOut, "asset.7"))).toEqual(["index.js"]);
    expect(readdirSync(copy).sort()).toEqual(["index.js", "package.json"]);
    expect(withLambdaModuleScope(join(cdkOut, "asset.7"), cdkOut)).toBe(copy);
    expect(withLambdaModuleScope(join(project, "src/handler"), cdkOut)).toBe(join(project, "src/handler"));
    expect(existsSync(join(project, "src/handler/package.json"))).toBe(false);
    expect(withLambdaModuleScope(join(cdkOut, "asset.5"), cdkOut)).toBe(join(cdkOut, "asset.5"));
    expect(withLambdaModuleScope(join(cdkOut, "asset.8"), cdkOut)).toBe(join(cdkOut, "asset.8")); // .mjs says it
    const commonJs = projectOf({ "package.json": "{}", "cdk.out/asset.6/index.js": "" });
    expect(withLambdaModuleScope(join(commonJs, "cdk.out/asset.6"), join(commonJs, "cdk.out"))).toBe(
      join(commonJs, "cdk.out/asset.6"),
    );
  });
});
