/**
 * Resolves CloudFormation intrinsic functions in a synthesized template: Ref, Fn::GetAtt, Fn::Join,
 * Fn::Sub, Fn::Select, Fn::Split, Fn::If (with Conditions), Fn::Equals/Not/And/Or, and pseudo parameters.
 */

/** A value the template refers to that cannot be known here. */
export class UnresolvableError extends Error {
  override name = "UnresolvableError";
}

export interface ResolutionContext {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  /** Ref of a resource (physical id) or parameter; undefined if unknown. */
  ref(logicalId: string): unknown;
  /** Fn::GetAtt of a resource; undefined if unknown. */
  getAtt(logicalId: string, attribute: string): unknown;
  /** A condition's value; undefined if the template has none by that name. */
  condition(name: string): boolean | undefined;
}

const NO_VALUE = Symbol("AWS::NoValue");

export function resolve(value: unknown, context: ResolutionContext): unknown {
  const resolved = resolveValue(value, context);
  return resolved === NO_VALUE ? undefined : resolved;
}

function resolveValue(value: unknown, context: ResolutionContext): unknown {
  if (Array.isArray(value))
    return value.map((item) => resolveValue(item, context)).filter((item) => item !== NO_VALUE);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [name, argument] = entries[0] as [string, unknown];
    const intrinsic = INTRINSICS[name];
    if (intrinsic) return intrinsic(argument, context);
    if (name.startsWith("Fn::")) throw new UnresolvableError(`${name} is not supported by the local cloud`);
  }
  const result: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    const resolved = resolveValue(item, context);
    if (resolved !== NO_VALUE) result[key] = resolved;
  }
  return result;
}

type Intrinsic = (argument: unknown, context: ResolutionContext) => unknown;

const INTRINSICS: Record<string, Intrinsic> = {
  Ref: (argument, context) => {
    const name = String(argument);
    switch (name) {
      case "AWS::Region":
        return context.region;
      case "AWS::AccountId":
        return context.accountId;
      case "AWS::Partition":
        return "aws";
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return context.stackName;
      case "AWS::StackId":
        return `arn:aws:cloudformation:${context.region}:${context.accountId}:stack/${context.stackName}/local`;
      case "AWS::NoValue":
        return NO_VALUE;
    }
    const value = context.ref(name);
    if (value === undefined) throw new UnresolvableError(`Ref ${name} has no value here`);
    return value;
  },
  "Fn::GetAtt": (argument, context) => {
    const [logicalId, attribute] = Array.isArray(argument) ? argument : String(argument).split(/\.(.+)/);
    const value = context.getAtt(String(logicalId), String(resolveValue(attribute, context)));
    if (value === undefined)
      throw new UnresolvableError(`Fn::GetAtt ${logicalId}.${attribute} has no value here`);
    return value;
  },
  "Fn::Join": (argument, context) => {
    const [separator, items] = argument as [string, unknown];
    return (resolveValue(items, context) as unknown[]).map(String).join(separator);
  },
  "Fn::Select": (argument, context) => {
    const [index, items] = argument as [unknown, unknown];
    const list = resolveValue(items, context) as unknown[];
    const position = Number(resolveValue(index, context));
    if (!Array.isArray(list) || position < 0 || position >= list.length) {
      throw new UnresolvableError(`Fn::Select index ${position} is out of range`);
    }
    return list[position];
  },
  "Fn::Split": (argument, context) => {
    const [separator, source] = argument as [string, unknown];
    return String(resolveValue(source, context)).split(separator);
  },
  "Fn::Sub": (argument, context) => {
    const [template, variables] = Array.isArray(argument)
      ? (argument as [string, Record<string, unknown>])
      : [String(argument), {}];
    const bound = Object.fromEntries(
      Object.entries(variables ?? {}).map(([name, item]) => [name, resolveValue(item, context)]),
    );
    return template.replace(/\$\{([^}!][^}]*)\}/g, (_, expression: string) => {
      if (expression in bound) return String(bound[expression]);
      const dot = expression.indexOf(".");
      const value =
        dot > 0 && !expression.startsWith("AWS::")
          ? INTRINSICS["Fn::GetAtt"]?.([expression.slice(0, dot), expression.slice(dot + 1)], context)
          : INTRINSICS.Ref?.(expression, context);
      return String(value);
    });
  },
  "Fn::If": (argument, context) => {
    const [name, whenTrue, whenFalse] = argument as [string, unknown, unknown];
    const condition = context.condition(name);
    if (condition === undefined) throw new UnresolvableError(`condition ${name} is not defined`);
    return resolveValue(condition ? whenTrue : whenFalse, context);
  },
  "Fn::Equals": (argument, context) => {
    const [left, right] = argument as [unknown, unknown];
    return JSON.stringify(resolveValue(left, context)) === JSON.stringify(resolveValue(right, context));
  },
  "Fn::Not": (argument, context) => !resolveValue((argument as unknown[])[0], context),
  "Fn::And": (argument, context) =>
    (argument as unknown[]).every((item) => resolveValue(item, context) === true),
  "Fn::Or": (argument, context) =>
    (argument as unknown[]).some((item) => resolveValue(item, context) === true),
  Condition: (argument, context) => {
    const value = context.condition(String(argument));
    if (value === undefined) throw new UnresolvableError(`condition ${argument} is not defined`);
    return value;
  },
};

/** The logical ids a value refers to (Ref, GetAtt, Sub), to order resources by their dependencies. */
export function referencedIds(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedIds(item, found);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (key === "Ref" && typeof item === "string" && !item.startsWith("AWS::")) found.add(item);
      else if (key === "Fn::GetAtt")
        found.add(String(Array.isArray(item) ? item[0] : String(item).split(".")[0]));
      else if (key === "Fn::Sub") {
        const template = Array.isArray(item) ? String(item[0]) : String(item);
        for (const match of template.matchAll(/\$\{([^}!.]+)(?:\.[^}]*)?\}/g)) {
          if (!match[1]?.startsWith("AWS::")) found.add(match[1] as string);
        }
        if (Array.isArray(item)) referencedIds(item[1], found);
      } else referencedIds(item, found);
    }
  }
  return found;
}
