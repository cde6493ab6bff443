import type { StandardSchemaV1 } from "@standard-schema/spec";

export type { StandardSchemaV1 };

/** The payload type a schema produces (zod, valibot, arktype, … any Standard Schema validator). */
export type InferPayload<TSchema> =
  TSchema extends StandardSchemaV1<unknown, infer TOutput> ? TOutput : unknown;

export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: string };

/** Validates with any Standard Schema validator; issues come back as one readable line. */
export async function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
): Promise<ValidationResult<T>> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (!result.issues) return { ok: true, value: result.value };
  return { ok: false, issues: result.issues.map(describeIssue).join("; ") };
}

function describeIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path
    ?.map((segment) => (typeof segment === "object" ? segment.key : segment))
    .map(String)
    .join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
