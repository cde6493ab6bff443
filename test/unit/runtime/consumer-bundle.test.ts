/**
 * What a consumer's cold start loads: bundled as ConsumerFunction bundles it (SDK external, NodejsFunction's
 * default), an SQS consumer with DynamoDB dedup imports the DynamoDB client alone. SQS is loaded on the first
 * dead letter; SNS and Kinesis belong to producers it does not use.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { CONSUMER_BUNDLING } from "../../bench/cold-start.js";

const entry = fileURLToPath(new URL("../../bench/cold-start/ours.ts", import.meta.url));

describe("a consumer's bundle", () => {
  it("imports only the SDK clients the consumer uses at cold start", async () => {
    const result = await build({
      entryPoints: [entry],
      write: false,
      ...CONSUMER_BUNDLING,
      mainFields: [...CONSUMER_BUNDLING.mainFields],
      external: ["@aws-sdk/*"],
      logLevel: "silent",
    });
    const code = result.outputFiles[0]?.text ?? "";
    const staticImports = new Set(
      code.match(/from\s*"@aws-sdk\/[a-z-]+"/g)?.map((match) => match.replace(/from\s*/, "")),
    );
    const dynamicImports = new Set(code.match(/import\("@aws-sdk\/[a-z-]+"\)/g));
    expect([...staticImports]).toEqual(['"@aws-sdk/client-dynamodb"']);
    expect([...dynamicImports]).toEqual(['import("@aws-sdk/client-sqs")']);
  });
});
