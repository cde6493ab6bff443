import { defineConfig } from "vitest/config";

/** The fast suites the mutation run kills mutants with: the runtime's unit tests and the property suite. */
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/unit/runtime/**/*.test.ts", "test/property/**/*.test.ts"],
    // Stryker's instrumented sources are larger: the bundle's byte budget measures the real ones.
    exclude: ["test/unit/runtime/consumer-bundle.test.ts"],
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
      // A few hundred cases a property per mutant: the mutation run measures the suite, not the fuzzer.
      FUZZ_RUNS: "300",
    },
    testTimeout: 60_000,
  },
});
