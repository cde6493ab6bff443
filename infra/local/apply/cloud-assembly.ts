import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string | string[];
  readonly Condition?: string;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { Value: unknown; Description?: string }>;
  readonly Parameters?: Record<string, { Type: string; Default?: unknown }>;
  readonly Conditions?: Record<string, unknown>;
}

export interface StackTemplate {
  readonly stackName: string;
  readonly template: CfnTemplate;
  /** The cloud assembly directory (cdk.out): asset paths are relative to it. */
  readonly assemblyDir: string;
}

interface Manifest {
  readonly artifacts?: Record<
    string,
    { type: string; properties?: { templateFile?: string; stackName?: string } }
  >;
}

/** The CloudFormation stacks of a synthesized CDK app (a cloud assembly directory). */
export function readCloudAssembly(assemblyDir: string): StackTemplate[] {
  const manifest = JSON.parse(readFileSync(join(assemblyDir, "manifest.json"), "utf8")) as Manifest;
  return Object.entries(manifest.artifacts ?? {})
    .filter(
      ([, artifact]) => artifact.type === "aws:cloudformation:stack" && artifact.properties?.templateFile,
    )
    .map(([id, artifact]) => ({
      stackName: artifact.properties?.stackName ?? id,
      template: JSON.parse(
        readFileSync(join(assemblyDir, artifact.properties?.templateFile as string), "utf8"),
      ) as CfnTemplate,
      assemblyDir,
    }));
}
