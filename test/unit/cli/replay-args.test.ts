/** `serverless-broker replay`'s flags: what a user mistypes is named, with what to pass instead. */
import { describe, expect, it } from "vitest";
import { UsageError } from "../../../infra/cli/command.js";
import { parseReplayArgs } from "../../../infra/cli/commands/replay.js";

const usage = (argv: string[]) => {
  try {
    parseReplayArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
};

describe("replay flags", () => {
  it("reads a stream replay with its defaults (mode missing, to = now)", () => {
    expect(parseReplayArgs(["Ledger", "--group", "ledger", "--from-sequence", "4959"])).toEqual({
      target: "Ledger",
      group: "ledger",
      from: { sequence: "4959" },
      mode: "missing",
      dryRun: false,
      yes: false,
      json: false,
      where: {},
    });
    expect(
      parseReplayArgs([
        "Ledger",
        "-g",
        "ledger",
        "--from",
        "2026-12-05T01:30:00Z",
        "--to-sequence",
        "5000",
        "--mode",
        "all",
        "--replay-id",
        "r-1",
        "--dry-run",
        "--stack",
        "Prod",
      ]),
    ).toMatchObject({
      from: { time: new Date("2026-12-05T01:30:00Z") },
      to: { sequence: "5000" },
      mode: "all",
      replayId: "r-1",
      dryRun: true,
      where: { stack: "Prod" },
    });
  });

  it("answers --help with nothing to run", () => {
    expect(parseReplayArgs(["--help"])).toBeUndefined();
  });

  it("names a bad flag", () => {
    expect(usage(["Ledger", "--group", "ledger", "--from-seq", "1"])).toContain("--from-seq");
  });

  it("wants --group, and where to start", () => {
    expect(usage(["Ledger", "--from-sequence", "1"])).toContain("--group G");
    expect(usage(["Ledger", "--group", "ledger"])).toContain("--from ISO_TIME or --from-sequence SEQ");
  });

  it("refuses both --from forms, and both --to forms", () => {
    expect(
      usage(["Ledger", "--group", "g", "--from", "2026-12-05T01:00:00Z", "--from-sequence", "1"]),
    ).toContain("--from and --from-sequence both say where");
    expect(
      usage([
        "Ledger",
        "--group",
        "g",
        "--from-sequence",
        "1",
        "--to",
        "2026-12-05T01:00:00Z",
        "--to-sequence",
        "2",
      ]),
    ).toContain("--to and --to-sequence");
  });

  it("names a time, sequence number, mode or replay id it cannot read", () => {
    expect(usage(["Ledger", "--group", "g", "--from", "yesterday"])).toContain("ISO 8601 time such as");
    expect(usage(["Ledger", "--group", "g", "--from-sequence", "49x"])).toContain("sequence number (digits)");
    expect(usage(["Ledger", "--group", "g", "--from-sequence", "1", "--mode", "some"])).toContain(
      '--mode is missing or all, but "some"',
    );
    expect(usage(["Ledger", "--group", "g", "--from-sequence", "1", "--replay-id", "x"])).toContain(
      "pass --mode all with it",
    );
    expect(usage(["--group", "g", "--from-sequence", "1"])).toContain("one stream or topic, but 0");
  });
});
