/**
 * `npm run mutation:fixes [-- 3 11]`: reintroduces each exactly-once fix's defect, one at a time, runs the property
 * suite, and prints whether it caught it. Each source file is restored from memory afterwards (also on
 * Ctrl-C). A targeted mutation run: the defects we know were there, not random mutants.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const R = "lambdas/runtime/";
type Edit = readonly [file: string, fixed: string, defect: string];

const DEFECTS: ReadonlyArray<{ name: string; edits: readonly Edit[] }> = [
  {
    name: "1 streams: store writes not retried, held leases and claims not waited out",
    edits: [
      [
        `${R}dedup/guard-options.ts`,
        "retrying: (call) => retrying(call, options.sleep ?? sleep),",
        "retrying: (call) => call(),",
      ],
      [`${R}dedup/checkpoint-guard.ts`, "const MAX_WAIT_ROUNDS = 8;", "const MAX_WAIT_ROUNDS = 0;"],
      [`${R}dedup/dedup-guard.ts`, "const MAX_WAIT_ROUNDS = 8;", "const MAX_WAIT_ROUNDS = 0;"],
    ],
  },
  {
    name: "1a streams: held leases and claims not waited out (writes still retried)",
    edits: [
      [`${R}dedup/checkpoint-guard.ts`, "const MAX_WAIT_ROUNDS = 8;", "const MAX_WAIT_ROUNDS = 0;"],
      [`${R}dedup/dedup-guard.ts`, "const MAX_WAIT_ROUNDS = 8;", "const MAX_WAIT_ROUNDS = 0;"],
    ],
  },
  {
    name: "2 outbox relay: a row it can never publish comes back instead of being dead-lettered",
    edits: [
      [
        `${R}outbox/outbox-relay.ts`,
        "unpublishable.push({ position, reason, detail, body, ...(id ? { id } : {}) });",
        "failed[position] = true;",
      ],
    ],
  },
  {
    name: "3 kinesisCheckpoints: ids finished past the checkpoint are not remembered",
    edits: [[`${R}dedup/checkpoint-guard.ts`, "      pastIds,\n", "      pastIds: [],\n"]],
  },
  {
    name: "4 kinesisCheckpoints accepted on a DynamoDB Streams consumer",
    edits: [[`${R}dedup/checkpoint-guard.ts`, '  readonly sources = ["kinesis"] as const;', ""]],
  },
  {
    name: "5 transaction size counted as JSON (binary about tenfold)",
    edits: [
      [
        `${R}dedup/transaction.ts`,
        "const bytes = items.reduce((sum, item) => sum + actionSize(item), 0);",
        "const bytes = JSON.stringify(items).length + 0 * actionSize(items[0] as TransactWriteItem);",
      ],
    ],
  },
  {
    name: "6 a reused id with other content inside one batch is taken for a duplicate",
    edits: [
      [
        `${R}dedup/dedup-guard.ts`,
        "(records[first] as GuardedRecord).fingerprint !== (records[index] as GuardedRecord).fingerprint",
        "false",
      ],
    ],
  },
  {
    name: "7 plain-mode completion does not check the worker's claim",
    edits: [
      [
        `${R}dedup/memory-dedup-store.ts`,
        'if (current?.status !== "IN_PROGRESS" || current.token !== completion.token) {\n        lost.push',
        'if (current === undefined && completion.token === "") {\n        lost.push',
      ],
    ],
  },
  {
    name: "8 SQS fair queues treated as FIFO",
    edits: [
      [
        `${R}consumers/sqs-consumer.ts`,
        'const fifo = record.eventSourceARN.endsWith(".fifo");',
        "const fifo = groupId !== undefined;",
      ],
    ],
  },
  {
    name: "9 SNS notifications in SQS keyed by the SQS message id",
    edits: [
      [
        `${R}consumers/decode-envelope.ts`,
        'if (typeof parsed.MessageId === "string" && parsed.MessageId) id = parsed.MessageId;',
        "",
      ],
    ],
  },
  {
    name: "10 DynamoDB Streams: a held claim is not waited out (the wait keyed on a shard id)",
    edits: [
      [
        `${R}dedup/dedup-guard.ts`,
        'admissions[index].kind === "retry-later" && record.sequenceNumber !== undefined',
        'admissions[index].kind === "retry-later" && record.shardId !== undefined',
      ],
    ],
  },
  {
    name: "11 a malformed stream record past a failure is dead-lettered at once (and on every retry)",
    edits: [
      [
        `${R}consumers/batch-engine.ts`,
        "if (record.sequenceNumber === undefined) return deadLetter(",
        "if (record.sequenceNumber !== null) return deadLetter(",
      ],
    ],
  },
  {
    name: "12 publishers hold back the messages of a key ahead of one that failed",
    edits: [
      [
        `${R}producers/batch-sender.ts`,
        "if (failedAt === undefined || index < failedAt) return true;",
        "if (failedAt === undefined) return true;",
      ],
    ],
  },
  {
    name: "13 outbox relay dead-letters rows held back behind a refused row of their key",
    edits: [
      [
        `${R}outbox/outbox-relay.ts`,
        "} else if (result.error?.code === PRECEDING_MESSAGE_FAILED) {",
        '} else if (result.error?.code === "never") {',
      ],
    ],
  },
  {
    name: "14 outbox relay dead-letters rows past a transient failure at once (and on every retry)",
    edits: [
      [
        `${R}outbox/outbox-relay.ts`,
        "if (firstTransient >= 0 && row.position > firstTransient) continue;",
        "if (firstTransient >= 0 && row.position < 0) continue;",
      ],
    ],
  },
  {
    name: "15 an expired claim is taken over by a message reusing its id with other content",
    edits: [
      [
        `${R}dedup/memory-dedup-store.ts`,
        "(existing.leaseExpiresAt ?? 0) < now &&\n          existing.fingerprint === claim.fingerprint)",
        "(existing.leaseExpiresAt ?? 0) < now)",
      ],
    ],
  },
  {
    name: "16 a replay below the Kinesis checkpoint moves it backwards",
    edits: [
      [
        `${R}dedup/checkpoint-guard.ts`,
        "if (sequenceNumber === undefined || BigInt(record.sequenceNumber as string) > BigInt(sequenceNumber))\n          sequenceNumber",
        "sequenceNumber",
      ],
    ],
  },
];

const originals = new Map<string, string>();
const restore = () => {
  for (const [file, text] of originals) writeFileSync(file, text);
};
process.on("SIGINT", () => {
  restore();
  process.exit(130);
});

/** `npm run mutation:fixes -- 3 11` runs only those. */
const only = process.argv.slice(2);
const chosen = DEFECTS.filter(
  (defect) => only.length === 0 || only.includes(defect.name.split(" ")[0] ?? ""),
);
let missed = 0;
for (const defect of chosen) {
  originals.clear();
  try {
    for (const [file, fixed, broken] of defect.edits) {
      const text = originals.get(file) ?? readFileSync(file, "utf8");
      originals.set(file, text);
      const current = readFileSync(file, "utf8");
      if (!current.includes(fixed)) throw new Error(`${defect.name}: the fixed code is no longer in ${file}`);
      writeFileSync(file, current.replace(fixed, broken));
    }
    const run = spawnSync("npx", ["vitest", "run", "--project", "unit", "test/property"], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal colours from vitest's output.
    const output = `${run.stdout}${run.stderr}`.replace(/\u001b\[[0-9;]*m/g, "");
    const failed = [...new Set([...output.matchAll(/FAIL .*? > .*? > (.*)/g)].map((match) => match[1]))];
    const cause = output.match(/Caused by: (.*)/)?.[1]?.slice(0, 120);
    if (run.status === 0) missed++;
    console.log(`${run.status === 0 ? "✗ not caught" : "✓ caught    "}  ${defect.name}`);
    for (const property of failed) console.log(`      ${property}`);
    if (cause) console.log(`      ${cause}`);
  } finally {
    restore();
  }
}
console.log(
  `\n${chosen.length - missed} of ${chosen.length} reintroduced defects made the property suite fail.`,
);
