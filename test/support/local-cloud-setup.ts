import type { TestProject } from "vitest/node";
import { startLocalCloud } from "../../infra/local/cloud/index.js";

declare module "vitest" {
  export interface ProvidedContext {
    awsEnv: Record<string, string>;
    /** True when the tests run on the embedded local cloud (not LocalStack or AWS). */
    embeddedCloud: boolean;
  }
}

/** Starts the embedded local cloud for the integration tests, unless AWS_ENDPOINT_URL names another. */
export default async function setup(project: TestProject) {
  if (process.env.AWS_ENDPOINT_URL) {
    project.provide("awsEnv", {});
    project.provide("embeddedCloud", false);
    return;
  }
  const cloud = await startLocalCloud({ port: 0, logDir: ".local-cloud/test-logs" });
  project.provide("awsEnv", { ...cloud.env });
  project.provide("embeddedCloud", true);
  return () => cloud.stop();
}
