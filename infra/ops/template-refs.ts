/** The logical id a template value points at through `Ref` or `Fn::GetAtt`, if it does. */
export function refTarget(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref === "string") return ref;
  const getAtt = (value as { "Fn::GetAtt"?: unknown })["Fn::GetAtt"];
  if (Array.isArray(getAtt) && typeof getAtt[0] === "string") return getAtt[0];
  if (typeof getAtt === "string") return getAtt.split(".")[0];
  return undefined;
}

/** A literal string of the template, or undefined when it is an intrinsic (or absent). */
export function literal(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export const isTrue = (value: unknown): boolean => value === true || value === "true";
