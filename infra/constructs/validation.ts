import { type Duration, Token } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/** A construct prop that cannot work: names the construct path, the value and the fix. Fails synth. */
export class BrokerValidationError extends Error {
  override name = "BrokerValidationError";
  constructor(
    readonly constructPath: string,
    message: string,
  ) {
    super(`${constructPath}: ${message}`);
  }
}

export function fail(scope: IConstruct, message: string): never {
  throw new BrokerValidationError(scope.node.path, message);
}

/** Checks that a number is a whole number within [min, max]; unresolved tokens are left to deploy time. */
export function requireIntegerInRange(
  scope: IConstruct,
  name: string,
  value: number | undefined,
  min: number,
  max: number,
): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(scope, `${name} must be a whole number from ${min} to ${max}, but ${value} was provided.`);
  }
}

/** Checks that a duration lies within [min, max] (in seconds); unresolved tokens are left to deploy time. */
export function requireDurationInRange(
  scope: IConstruct,
  name: string,
  value: Duration | undefined,
  min: Duration,
  max: Duration,
): void {
  if (value === undefined || value.isUnresolved()) return;
  const seconds = value.toSeconds();
  if (seconds < min.toSeconds() || seconds > max.toSeconds()) {
    fail(
      scope,
      `${name} must be from ${min.toHumanString()} to ${max.toHumanString()}, but ${value.toHumanString()} was provided.`,
    );
  }
}
