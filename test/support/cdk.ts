import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Duration, Stack, Validations } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { ConsumerFunction } from "../../infra/constructs/consumer-function.js";

const cdkJson = JSON.parse(readFileSync(new URL("../../cdk.json", import.meta.url), "utf8")) as {
  context: Record<string, unknown>;
};

/**
 * An app with the project's feature flags (cdk.json), writing to a temporary directory, and without
 * bundling: template assertions do not need the Lambda code built.
 */
export function testApp(options: { nag?: boolean } = {}): App {
  const app = new App({
    outdir: mkdtempSync(join(tmpdir(), "cdk-test-")),
    context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] },
  });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return app;
}

export function testStack(options: { nag?: boolean } = {}): Stack {
  return new Stack(testApp(options), "Test");
}

export const HANDLER_ENTRY = new URL("../../lambdas/handlers/record-order.ts", import.meta.url).pathname;

export function consumerFunction(stack: Stack, id: string, timeout = Duration.seconds(30)): ConsumerFunction {
  return new ConsumerFunction(stack, id, { entry: HANDLER_ENTRY, timeout });
}

export const template = (stack: Stack) => Template.fromStack(stack);

/** The findings of every validation plugin (cdk-nag, CloudFormation validate) after synthesizing `app`. */
export function validationFindings(app: App): string[] {
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  const report = JSON.parse(readFileSync(join(app.outdir, "validation-report.json"), "utf8")) as {
    pluginReports: Array<{
      pluginName: string;
      violations?: Array<{
        ruleName: string;
        severity: string;
        violatingConstructs?: Array<{ constructPath: string }>;
      }>;
    }>;
  };
  const findings = report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).map(
      (violation) =>
        `${violation.severity} ${violation.ruleName} at ${(violation.violatingConstructs ?? []).map((construct) => construct.constructPath).join(", ")}`,
    ),
  );
  if (synthError && findings.length === 0) throw synthError;
  return findings;
}
