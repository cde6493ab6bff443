import { type ParseArgsConfig, parseArgs } from "node:util";

/** What parseArgs gives for `options` (plus the common flags). */
type ParsedValues<T extends Options> = {
  [K in keyof (T & typeof COMMON_OPTIONS)]?: (T & typeof COMMON_OPTIONS)[K] extends { type: "boolean" }
    ? boolean
    : string;
};

import { LocalCloudError } from "../local/cloud/errors.js";
import { OpsError } from "../ops/errors.js";

/** A wrong invocation: printed with the command's usage hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h", default: false },
  json: { type: "boolean", default: false },
} as const satisfies Options;

/** Strict parsing: an unknown flag or a missing value is a UsageError naming it. */
export function parseCommand<T extends Options>(
  argv: readonly string[],
  options: T,
  allowPositionals = true,
): { values: ParsedValues<T>; positionals: string[] } {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    }) as { values: ParsedValues<T>; positionals: string[] };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new UsageError(`${name} must be a whole number of 0 or more, but "${text}" was given.`);
  return value;
}

export function positiveNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`${name} must be a number above 0, but "${text}" was given.`);
  return value;
}

/** Runs a command: its errors become one clear line (and a hint) on stderr and an exit code. */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\nSee \`serverless-broker ${name} --help\`.\n`);
      return 2;
    }
    if (error instanceof OpsError || error instanceof LocalCloudError) {
      process.stderr.write(`error: ${error.message.trimEnd()}\n`);
      return 1;
    }
    throw error;
  }
}

export const print = (line = "") => process.stdout.write(`${line}\n`);
export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** Prints and returns the exit code: `return printed(HELP)`. */
export function printed(text: string, code = 0): number {
  print(text);
  return code;
}

export function printedJson(value: unknown, code = 0): number {
  printJson(value);
  return code;
}
