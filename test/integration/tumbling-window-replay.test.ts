/**
 * A tumbling window with `ordering: "key"` and dedup, played by the local runner as Lambda plays it: key a
 * fails once, key b finishes the batch, Lambda retries from a's record with the state of the partial
 * response, and the dedup store skips b's replayed records. Each record must count once in the window,
 * and a failed final invoke is invoked again before the stream moves on.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { envelopeBody } from "../support/lambda-events.js";
import { bundleHandler, runOnKinesis } from "../support/local-functions.js";
import { Cleanup, createDedupTable, createStream, kinesis } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

const runtime = new URL("../../lambdas/runtime/index.ts", import.meta.url).pathname;

const handlerSource = `
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { dynamoDbDedup, kinesisConsumer } from ${JSON.stringify(runtime)};

export const handler = kinesisConsumer({
  ordering: "key",
  dedup: dynamoDbDedup(),
  handler: (message) => {
    appendFileSync(process.env.OUT + ".runs", message.id + "\\n");
    // a1 fails on its first run only: its key stops, key b finishes the batch.
    if (message.id === "a1" && !existsSync(process.env.OUT + ".failed")) {
      writeFileSync(process.env.OUT + ".failed", "");
      throw new Error("not yet");
    }
  },
  window: {
    initial: () => ({ total: 0, count: 0 }),
    reduce: (state, message) => ({ total: state.total + message.payload.amount, count: state.count + 1 }),
    onWindowEnd: (state) => {
      // The window's first final invoke fails: Lambda holds the shard and invokes it again.
      appendFileSync(process.env.OUT + ".ends", "x");
      if (!existsSync(process.env.OUT + ".end-failed")) {
        writeFileSync(process.env.OUT + ".end-failed", "");
        throw new Error("cannot save the total yet");
      }
      appendFileSync(process.env.OUT, JSON.stringify(state) + "\\n");
    },
  },
});
`;

describe("a tumbling window over key-ordered, deduplicated records, played by the local runner", () => {
  it("counts the other keys' records past a failure once, though the retry delivers them again", async () => {
    const stream = await createStream(cleanup, "window-replay", 1);
    const table = await createDedupTable(cleanup, "window-replay");
    const dir = mkdtempSync(join(tmpdir(), "window-replay-"));
    const out = join(dir, "windows.txt");
    writeFileSync(out, "");
    writeFileSync(`${out}.runs`, "");
    writeFileSync(`${out}.ends`, "");
    await bundleHandler(dir, handlerSource);

    const sales = [
      { id: "a1", key: "a", amount: 1 },
      { id: "b1", key: "b", amount: 10 },
      { id: "b2", key: "b", amount: 100 },
    ];
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream.streamName,
        Records: sales.map(({ id, key, amount }) => ({
          PartitionKey: key,
          Data: Buffer.from(envelopeBody({ id, key, payload: { amount } })),
        })),
      }),
    );

    const { pollErrors } = await runOnKinesis(
      cleanup,
      {
        name: "Totals",
        dir,
        environment: {
          OUT: out,
          BROKER_CONSUMER_GROUP: "totals",
          BROKER_DEDUP_TABLE_NAME: table.tableName,
          AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
          AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL ?? "",
          AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "test",
          AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
        },
      },
      stream.streamArn,
      {
        BatchSize: 10,
        StartingPosition: "TRIM_HORIZON",
        TumblingWindowInSeconds: 2,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      },
    );

    // The windows the records fell into (arrival time decides: usually one, two at a boundary) add up.
    const endedWindows = () =>
      readFileSync(out, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { total: number; count: number });
    const countOf = (windows: Array<{ count: number }>) =>
      windows.reduce((sum, window) => sum + window.count, 0);
    const windows = await eventually(
      "the window totals to count every sale",
      async () => (countOf(endedWindows()) >= 3 ? endedWindows() : undefined),
      { timeoutMs: 30_000 },
    ).catch(() => endedWindows());
    const runs = readFileSync(`${out}.runs`, "utf8").split("\n").filter(Boolean);

    expect(runs.filter((id) => id === "a1")).toHaveLength(2);
    expect(runs.filter((id) => id !== "a1").sort()).toEqual(["b1", "b2"]);
    expect(windows.reduce((sum, window) => sum + window.total, 0)).toBe(111);
    expect(countOf(windows)).toBe(3);
    expect(readFileSync(`${out}.ends`, "utf8")).toHaveLength(windows.length + 1);
    expect(pollErrors).toEqual([]);
  });
});
