import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      // The runtime logs JSON lines and EMF metrics to stdout; tests assert through observers instead.
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
    },
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "test/unit/**/*.test.ts",
            "test/infra/**/*.test.ts",
            "test/property/**/*.test.ts",
            "test/docs/**/*.test.ts",
          ],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          // Starts the embedded local cloud, unless AWS_ENDPOINT_URL points at another (LocalStack, AWS).
          globalSetup: ["test/support/local-cloud-setup.ts"],
          setupFiles: ["test/support/aws-env.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
