import type { IConstruct } from "constructs";
import { fail } from "./validation.js";

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

/** Checks a consumer group name and that no other group of `owner` has it. */
export function requireNewGroupName(owner: IConstruct, name: string, existing: Iterable<string>): void {
  if (!GROUP_NAME.test(name)) {
    fail(
      owner,
      `consumer group name "${name}" is not valid: use 1 to 40 letters, digits, "-" or "_", starting with a letter or digit.`,
    );
  }
  for (const taken of existing) {
    if (taken === name)
      fail(owner, `a consumer group named "${name}" already exists here; each group needs a unique name.`);
  }
}
