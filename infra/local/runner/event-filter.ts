/**
 * Lambda event filtering (FilterCriteria): a record passes if it matches any pattern. Patterns follow
 * EventBridge's syntax: lists of allowed values, and prefix, suffix, anything-but, numeric, exists and
 * equals-ignore-case matchers. JSON bodies (SQS `body`, Kinesis `data`) are matched as parsed objects.
 */
import { numericMatches } from "../cloud/sns-filter-policy.js";

export type FilterPattern = Record<string, unknown>;

export function parseFilterCriteria(criteria: unknown): FilterPattern[] {
  const filters = (criteria as { Filters?: Array<{ Pattern?: string }> } | undefined)?.Filters ?? [];
  return filters.map((filter) => JSON.parse(filter.Pattern ?? "{}") as FilterPattern);
}

export function passesFilters(record: unknown, patterns: readonly FilterPattern[]): boolean {
  return patterns.length === 0 || patterns.some((pattern) => matches(record, pattern));
}

function matches(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((rule) => matchesRule(value, rule));
  if (pattern && typeof pattern === "object") {
    const object = asObject(value);
    return Object.entries(pattern as Record<string, unknown>).every(([key, rule]) => {
      if (Array.isArray(rule) && rule.some((item) => item && typeof item === "object" && "exists" in item)) {
        const exists = (
          rule.find((item) => item && typeof item === "object" && "exists" in item) as { exists: boolean }
        ).exists;
        return exists === (object !== undefined && object[key] !== undefined);
      }
      return object !== undefined && matches(object[key], rule);
    });
  }
  return false;
}

function matchesRule(value: unknown, rule: unknown): boolean {
  if (Array.isArray(value)) return value.some((item) => matchesRule(item, rule));
  if (rule === null || typeof rule !== "object") return value === rule;
  const [kind, argument] = Object.entries(rule as Record<string, unknown>)[0] ?? [];
  const text = typeof value === "string" ? value : undefined;
  switch (kind) {
    case "prefix":
      return text?.startsWith(String(argument)) === true;
    case "suffix":
      return text?.endsWith(String(argument)) === true;
    case "equals-ignore-case":
      return text !== undefined && text.toLowerCase() === String(argument).toLowerCase();
    case "anything-but":
      if (Array.isArray(argument)) return !argument.includes(value);
      if (argument && typeof argument === "object") return !matchesRule(value, argument);
      return value !== argument;
    case "numeric":
      return typeof value === "number" && numericMatches(value, argument as unknown[]);
    case "exists":
      return (value !== undefined) === argument;
    default:
      return false;
  }
}

/** Objects as they are; strings holding JSON (a body, base64 Kinesis data) as what they hold. */
function asObject(value: unknown): Record<string, unknown> | undefined {
  if (value && typeof value === "object") return value as Record<string, unknown>;
  return undefined;
}

/** The record as a filter sees it: SQS `body` and Kinesis `data` parsed when they are JSON. */
export function filterView(record: Record<string, unknown>): Record<string, unknown> {
  const view: Record<string, unknown> = { ...record };
  if (typeof record.body === "string") view.body = parseJson(record.body) ?? record.body;
  const kinesis = record.kinesis as { data?: string } | undefined;
  if (kinesis?.data)
    view.data = parseJson(Buffer.from(kinesis.data, "base64").toString("utf8")) ?? kinesis.data;
  return view;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
