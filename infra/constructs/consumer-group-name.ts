import { Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { RESERVED_CONSUMER_GROUPS } from "../../lambdas/runtime/constants.js";
import { fail } from "./validation.js";

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
const RESERVED = new Set<string>(Object.values(RESERVED_CONSUMER_GROUPS));

/**
 * Group names already taken, per owner of a shared namespace: the dedup table (a group's dedup keys start
 * with `<group>#`, its checkpoints with `checkpoint#<group>#`, and shard ids repeat across streams) and the
 * stack (the runtime's metrics carry the group name as their only distinguishing dimension).
 */
const taken = new WeakMap<object, Map<string, string>>();

/**
 * Checks a consumer group name: well formed, not reserved by the runtime, and unique among every group
 * sharing `namespaces` with it (across topics and streams), and records it as taken by the group that
 * `owner` (its topic or stream) is about to create under that name.
 */
export function claimGroupName(owner: IConstruct, name: string, namespaces: readonly object[]): void {
  const path = `${owner.node.path}/${name}`;
  if (!GROUP_NAME.test(name)) {
    fail(
      owner,
      `consumer group name "${name}" is not valid: use 1 to 40 letters, digits, "-" or "_", starting with a letter or digit.`,
    );
  }
  // DynamoDB keys are case-sensitive, but "Outbox" next to "outbox#" rows invites mistakes: refuse both.
  if (RESERVED.has(name.toLowerCase())) {
    fail(
      owner,
      `consumer group name "${name}" is reserved (the runtime uses ${[...RESERVED].map((n) => `"${n}"`).join(", ")} ` +
        "for its own keys and metrics); choose another name.",
    );
  }
  for (const namespace of [Stack.of(owner), ...namespaces]) {
    const names = taken.get(namespace) ?? new Map<string, string>();
    taken.set(namespace, names);
    const taker = names.get(name);
    if (taker !== undefined) {
      fail(
        owner,
        `a consumer group named "${name}" already exists at ${taker}, so ${path} cannot have it; group names must be unique across the ` +
          "topics and streams of a broker (they share dedup keys, checkpoints and metrics). Rename one of them.",
      );
    }
  }
  for (const namespace of [Stack.of(owner), ...namespaces]) taken.get(namespace)?.set(name, path);
}
