// Types of provided-sdk.mjs (plain JavaScript: it runs in the function's worker without a loader).
export function installProvidedSdk(options: {
  logicalId: string;
  runtime: string;
  runtimeMajor: number;
  codeDir: string;
  endpoint: string;
}): Promise<void>;

export function importsUnresolvedSdk(codeDir: string): boolean;
