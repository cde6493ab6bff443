import { defineConfig } from "vitest/config";

/** The fast suites the mutation run kills mutants with: the runtime's unit tests and the property suite. */
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/unit/runtime/**/*.test.ts", "test/property/**/*.test.ts"],
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
    },
    testTimeout: 60_000,
  },
});
