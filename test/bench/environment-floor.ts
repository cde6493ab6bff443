/**
 * The least a burst's function environments can hold: N worker threads (the local runner's execution
 * environments, with its young-generation limit) that only load the DynamoDB client every consumer
 * needs, against N that load nothing. The process's RSS is read from /proc (Linux).
 *
 * `node --import tsx test/bench/environment-floor.ts [--environments 24]`
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { ENVIRONMENT_YOUNG_GENERATION_MB } from "../../infra/local/runner/execution-environment.js";

const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) / 1024;

const BODIES = {
  "nothing loaded": "",
  "the DynamoDB client loaded": `new (require("@aws-sdk/client-dynamodb").DynamoDBClient)({ region: "us-east-1" });`,
} as const;

async function measure(body: string, count: number): Promise<{ totalMb: number; perEnvironmentMb: number }> {
  const before = rssMb();
  const workers: Worker[] = [];
  for (let index = 0; index < count; index++) {
    const worker = new Worker(
      `${body} require("node:worker_threads").parentPort.postMessage("ready"); setInterval(() => {}, 60_000);`,
      {
        eval: true,
        execArgv: [],
        stderr: true, // the SDK's Node.js version notice, once a worker
        resourceLimits: { maxYoungGenerationSizeMb: ENVIRONMENT_YOUNG_GENERATION_MB },
      },
    );
    await new Promise((ready) => worker.once("message", ready));
    workers.push(worker);
  }
  await new Promise((settle) => setTimeout(settle, 1_000));
  const after = rssMb();
  await Promise.all(workers.map((worker) => worker.terminate()));
  return { totalMb: after - before, perEnvironmentMb: (after - before) / count };
}

const { values } = parseArgs({ options: { environments: { type: "string", default: "24" } } });
const count = Number(values.environments);
console.log(`${count} idle environments (worker threads), RSS added to the process:`);
for (const [what, body] of Object.entries(BODIES)) {
  const { totalMb, perEnvironmentMb } = await measure(body, count);
  console.log(`  ${what}: ${Math.round(totalMb)} MB, ${perEnvironmentMb.toFixed(1)} MB each`);
}
