import { randomBytes } from "node:crypto";

/** A resource name no other test run uses, so suites can share one cloud (and LocalStack or AWS). */
export function uniqueName(prefix: string, suffix = ""): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}${suffix}`;
}
