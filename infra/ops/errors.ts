/** Base class of every error the operations module raises; `hint` says what the operator can do about it. */
export class OpsError extends Error {
  override name = "OpsError";
  constructor(
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n${hint}`, options);
  }
}
