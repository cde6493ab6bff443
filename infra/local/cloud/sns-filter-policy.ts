/**
 * SNS subscription filter policies, as AWS evaluates them
 * (https://docs.aws.amazon.com/sns/latest/dg/message-filtering.html, example-filter-policies.html): every top-level key must match
 * (AND), any rule in a key's list may match (OR), `$or` joins alternative sub-policies. A message value that is
 * an array (a JSON array in the body, a `String.Array` attribute) matches when any of its elements does.
 */

/** A message attribute as SNS receives it. */
export interface MessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

export type FilterPolicyScope = "MessageAttributes" | "MessageBody";

/** Whether a message passes a subscription's filter policy. */
export function matchesFilterPolicy(
  policy: Record<string, unknown>,
  scope: FilterPolicyScope,
  message: { readonly body: string; readonly attributes: Readonly<Record<string, MessageAttribute>> },
): boolean {
  if (scope === "MessageBody") {
    let body: unknown;
    try {
      body = JSON.parse(message.body);
    } catch {
      // A body that is not JSON matches no body policy.
      return false;
    }
    return body !== null && typeof body === "object" && matchesObject(policy, [body]);
  }
  return matchesObject(policy, [attributesAsObject(message.attributes)]);
}

/** Attribute values as filters see them: strings, numbers, and String.Array's elements. */
function attributesAsObject(attributes: Readonly<Record<string, MessageAttribute>>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, attribute] of Object.entries(attributes)) {
    const text = attribute.StringValue;
    // Binary attributes take no part in filtering.
    if (text === undefined) continue;
    if (attribute.DataType === "Number" || attribute.DataType.startsWith("Number."))
      values[name] = Number(text);
    else if (attribute.DataType === "String.Array") {
      try {
        const parsed: unknown = JSON.parse(text);
        values[name] = Array.isArray(parsed) ? parsed : text;
      } catch {
        values[name] = text;
      }
    } else values[name] = text;
  }
  return values;
}

/**
 * `candidates` are the objects at this level of the message: one, or several when the message held an array
 * of objects here (any of them may satisfy a nested key).
 */
function matchesObject(policy: Record<string, unknown>, candidates: readonly unknown[]): boolean {
  return Object.entries(policy).every(([key, rules]) => {
    if (key === "$or")
      return (
        Array.isArray(rules) &&
        rules.some((alternative) => isObject(alternative) && matchesObject(alternative, candidates))
      );
    const values = candidates.flatMap((candidate) =>
      isObject(candidate) && key in candidate ? [candidate[key]] : [],
    );
    if (isObject(rules)) {
      // A nested policy: descend into the message's objects (and the objects inside its arrays).
      const nested = values.flatMap((value) => (Array.isArray(value) ? value : [value])).filter(isObject);
      return matchesObject(rules, nested);
    }
    const list = Array.isArray(rules) ? rules : [rules];
    return list.some((rule) => matchesRule(rule, values));
  });
}

/** One rule against the values found at a key (none when the key is absent). */
function matchesRule(rule: unknown, values: readonly unknown[]): boolean {
  if (isObject(rule) && "exists" in rule) return rule.exists === values.some((value) => value !== undefined);
  const leaves = values.flatMap((value) => (Array.isArray(value) ? value : [value]));
  return leaves.some((value) => matchesValue(rule, value));
}

function matchesValue(rule: unknown, value: unknown): boolean {
  if (rule === null) return value === null;
  if (typeof rule === "string") return value === rule;
  if (typeof rule === "number") return typeof value === "number" && value === rule;
  if (typeof rule === "boolean") return value === rule;
  if (!isObject(rule)) return false;
  const [operator, operand] = Object.entries(rule)[0] ?? [];
  const text = typeof value === "string" ? value : undefined;
  switch (operator) {
    case "prefix":
      return text !== undefined && matchesAffix(text, operand, "prefix");
    case "suffix":
      return text !== undefined && matchesAffix(text, operand, "suffix");
    case "equals-ignore-case":
      return (
        text !== undefined && typeof operand === "string" && text.toLowerCase() === operand.toLowerCase()
      );
    case "anything-but": {
      if (value === undefined || value === null) return false;
      if (Array.isArray(operand)) return !operand.some((excluded) => matchesValue(excluded, value));
      if (isObject(operand)) return !matchesValue(operand, value);
      return !matchesValue(operand, value);
    }
    case "numeric":
      return typeof value === "number" && Array.isArray(operand) && numericMatches(value, operand);
    case "cidr":
      return text !== undefined && typeof operand === "string" && inCidr(text, operand);
    default:
      return false;
  }
}

function matchesAffix(text: string, operand: unknown, kind: "prefix" | "suffix"): boolean {
  const test = (haystack: string, needle: string) =>
    kind === "prefix" ? haystack.startsWith(needle) : haystack.endsWith(needle);
  if (typeof operand === "string") return test(text, operand);
  // {"prefix": {"equals-ignore-case": "abc"}}
  const ignoreCase = isObject(operand) ? operand["equals-ignore-case"] : undefined;
  return typeof ignoreCase === "string" && test(text.toLowerCase(), ignoreCase.toLowerCase());
}

/** `{"numeric": [">", 0, "<=", 5]}`: the same syntax in SNS filter policies and Lambda event filters. */
export function numericMatches(value: number, conditions: readonly unknown[]): boolean {
  for (let index = 0; index < conditions.length; index += 2) {
    const operator = conditions[index];
    const bound = Number(conditions[index + 1]);
    const ok =
      (operator === "=" && value === bound) ||
      (operator === "<" && value < bound) ||
      (operator === "<=" && value <= bound) ||
      (operator === ">" && value > bound) ||
      (operator === ">=" && value >= bound);
    if (!ok) return false;
  }
  return true;
}

/** IPv4 only, as the policies seen in practice. */
function inCidr(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split("/");
  const toNumber = (ip: string) => {
    const parts = ip.split(".").map(Number);
    if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255))
      return undefined;
    return parts.reduce((sum, part) => sum * 256 + part, 0);
  };
  const ip = toNumber(address);
  const base = toNumber(network ?? "");
  const prefix = Number(bits ?? 32);
  if (ip === undefined || base === undefined || !(prefix >= 0 && prefix <= 32)) return false;
  const size = 2 ** (32 - prefix);
  return Math.floor(ip / size) === Math.floor(base / size);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
