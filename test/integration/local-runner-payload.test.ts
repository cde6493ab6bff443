/**
 * The local runner cuts a stream batch where Lambda does: at the invocation's 6 MB payload, whatever the
 * batch size. Eight records of 900 KB (9.6 MB as the base64 of an event) cannot go in one invocation.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { bundleHandler, runOnKinesis } from "../support/local-functions.js";
import { Cleanup, createStream, kinesis } from "../support/resources.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

const handlerSource = `
import { appendFileSync } from "node:fs";
export const handler = async (event) => {
  appendFileSync(process.env.OUT, JSON.stringify({ records: event.Records.length, bytes: Buffer.byteLength(JSON.stringify(event)) }) + "\\n");
};
`;

describe("a Kinesis batch in the local runner", () => {
  it("holds at most 6 MB of records, as Lambda's invocation payload does", async () => {
    const stream = await createStream(cleanup, "payload-cut", 1);
    const dir = mkdtempSync(join(tmpdir(), "payload-cut-"));
    const out = join(dir, "invocations.jsonl");
    writeFileSync(out, "");
    await bundleHandler(dir, handlerSource);
    // Kinesis takes up to 1 MiB a record and 5 MiB a PutRecords call.
    for (const part of [0, 1])
      await kinesis.send(
        new PutRecordsCommand({
          StreamName: stream.streamName,
          Records: Array.from({ length: 4 }, (_, index) => ({
            PartitionKey: `k${part}${index}`,
            Data: Buffer.alloc(900_000, 120),
          })),
        }),
      );

    const { pollErrors } = await runOnKinesis(
      cleanup,
      { name: "Sizes", dir, environment: { OUT: out } },
      stream.streamArn,
      { BatchSize: 100, StartingPosition: "TRIM_HORIZON" },
    );
    const invocations = () =>
      readFileSync(out, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { records: number; bytes: number });
    await eventually(
      "all eight records are delivered",
      async () => invocations().reduce((sum, invocation) => sum + invocation.records, 0) >= 8 || undefined,
      { timeoutMs: 60_000 },
    );

    expect(invocations().reduce((sum, invocation) => sum + invocation.records, 0)).toBe(8);
    expect(invocations().length).toBeGreaterThan(1);
    for (const invocation of invocations()) expect(invocation.bytes).toBeLessThan(6 * 1024 * 1024);
    expect(pollErrors).toEqual([]);
  });
});
