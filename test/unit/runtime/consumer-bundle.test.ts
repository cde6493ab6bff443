/**
 * What a consumer's cold start loads: bundled as ConsumerFunction bundles it (SDK external, NodejsFunction's
 * default), an SQS consumer with DynamoDB dedup imports the DynamoDB client alone. SQS is loaded on the first
 * dead letter; SNS and Kinesis belong to producers it does not use. Its size stays within a byte budget.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { CONSUMER_BUNDLING } from "../../bench/cold-start.js";

const entry = fileURLToPath(new URL("../../bench/cold-start/ours.ts", import.meta.url));

/**
 * The budget of the SQS consumer with dedup, minified, SDK external: 65.3 KiB measured on 2026-12-05, of
 * which Powertools Logger and Metrics with their dependencies are 34.8 KiB (esbuild's metafile). Raise it
 * only for a feature worth its bytes, and say so in the commit.
 */
const BUDGET_BYTES = 66 * 1024;

const bundle = () =>
  build({
    entryPoints: [entry],
    write: false,
    metafile: true,
    ...CONSUMER_BUNDLING,
    mainFields: [...CONSUMER_BUNDLING.mainFields],
    external: ["@aws-sdk/*"],
    logLevel: "silent",
  });

describe("a consumer's bundle", () => {
  it("stays within its byte budget", async () => {
    const result = await bundle();
    const bytes = result.outputFiles[0]?.contents.byteLength ?? 0;
    const inputs = Object.values(result.metafile.outputs)[0]?.inputs ?? {};
    const largest = Object.entries(inputs)
      .sort(([, a], [, b]) => b.bytesInOutput - a.bytesInOutput)
      .slice(0, 5)
      .map(([file, input]) => `${file} ${(input.bytesInOutput / 1024).toFixed(1)} KiB`)
      .join(", ");
    expect(
      bytes,
      `the SQS consumer's bundle is ${(bytes / 1024).toFixed(1)} KiB, over its budget of ${BUDGET_BYTES / 1024} KiB; largest inputs: ${largest}`,
    ).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it("imports only the SDK clients the consumer uses at cold start", async () => {
    const result = await bundle();
    const code = result.outputFiles[0]?.text ?? "";
    const staticImports = new Set(
      code.match(/from\s*"@aws-sdk\/[a-z-]+"/g)?.map((match) => match.replace(/from\s*/, "")),
    );
    const dynamicImports = new Set(code.match(/import\("@aws-sdk\/[a-z-]+"\)/g));
    expect([...staticImports]).toEqual(['"@aws-sdk/client-dynamodb"']);
    expect([...dynamicImports]).toEqual(['import("@aws-sdk/client-sqs")']);
  });
});
