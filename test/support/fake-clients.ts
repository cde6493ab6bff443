/**
 * Stand-ins for AWS SDK clients, for the faults an emulator cannot produce on demand: partial batch
 * failures and throttling. `respond` sees each command's input and returns its output (or throws).
 */
export class FakeClient<TInput = Record<string, unknown>> {
  readonly calls: TInput[] = [];

  constructor(private readonly respond: (input: TInput, call: number) => unknown) {}

  async send(command: { input: unknown }): Promise<unknown> {
    const input = command.input as TInput;
    this.calls.push(structuredClone(input));
    return this.respond(input, this.calls.length);
  }
}

export class ThrottlingError extends Error {
  override name = "ThrottlingException";
  readonly $fault = "client";
  readonly $metadata = { httpStatusCode: 400 };
}

export class AccessDenied extends Error {
  override name = "AuthorizationErrorException";
  readonly $fault = "client";
  readonly $metadata = { httpStatusCode: 403 };
}
