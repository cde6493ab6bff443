/**
 * Runs a test's own function on the local runner as `startLocalRun` would: a FunctionHost for it and a
 * StreamPoller playing a Kinesis event source mapping to it, both stopped by the cleanup.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { build } from "esbuild";
import { settingsOf } from "../../infra/local/runner/event-sources/settings.js";
import { KinesisShardSource } from "../../infra/local/runner/event-sources/shard-source.js";
import { StreamPoller } from "../../infra/local/runner/event-sources/stream-poller.js";
import { FunctionHost } from "../../infra/local/runner/function-host.js";
import { type Cleanup, kinesis } from "./resources.js";

/**
 * Writes a handler's TypeScript source to `dir/handler.ts` and bundles it to `dir/index.js` as
 * NodejsFunction would (CommonJS, `@aws-sdk/*` left to the runtime), so the local runner loads it as Lambda.
 */
export async function bundleHandler(dir: string, source: string): Promise<void> {
  writeFileSync(join(dir, "handler.ts"), source);
  await build({
    entryPoints: [join(dir, "handler.ts")],
    outfile: join(dir, "index.js"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["@aws-sdk/*"],
    logLevel: "silent",
  });
  writeFileSync(join(dir, "package.json"), '{ "type": "commonjs" }\n');
}

export interface TestFunction {
  /** Logical id and function name. */
  readonly name: string;
  /** Holds `index.js` exporting `handler`; logs go to its `logs/`. */
  readonly dir: string;
  readonly environment: Record<string, string>;
  readonly timeoutMs?: number;
  readonly maxEnvironments?: number;
}

/**
 * Starts the function (its code is `dir/index.js`, on nodejs22.x) and plays a Kinesis event source
 * mapping, given by its CloudFormation properties, from the stream to it.
 * @returns the poll errors seen so far, for a test to assert there were none
 */
export async function runOnKinesis(
  cleanup: Cleanup,
  fn: TestFunction,
  streamArn: string,
  mapping: Record<string, unknown>,
): Promise<{ readonly pollErrors: unknown[] }> {
  const host = new FunctionHost(
    {
      logicalId: fn.name,
      functionName: fn.name,
      functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${fn.name}`,
      runtime: "nodejs22.x",
      handler: "index.handler",
      codeDir: fn.dir,
      timeoutMs: fn.timeoutMs ?? 30_000,
      memoryMb: 256,
      endpoint: process.env.AWS_ENDPOINT_URL ?? "",
      maxEnvironments: fn.maxEnvironments ?? 1,
      environment: { PATH: process.env.PATH ?? "", ...fn.environment },
    },
    join(fn.dir, "logs"),
  );
  await host.start();
  const pollErrors: unknown[] = [];
  const sqs = new SQSClient({});
  const sns = new SNSClient({});
  const poller = new StreamPoller(
    settingsOf(`${fn.name}Mapping`, mapping, "stream", undefined),
    new KinesisShardSource(kinesis, streamArn, process.env.AWS_REGION ?? "us-east-1"),
    host,
    { sqs, sns },
    (error) => pollErrors.push(error),
  );
  cleanup.add(async () => {
    await poller.stop();
    await host.stop();
    sqs.destroy();
    sns.destroy();
  });
  await poller.start();
  return { pollErrors };
}
