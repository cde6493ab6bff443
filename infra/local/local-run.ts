import { resolve } from "node:path";
import type { BatchSummary } from "../../lambdas/runtime/consumers/observability.js";
import { type AppliedStack, type ApplyEvent, applyTemplate } from "./apply/apply-template.js";
import { readCloudAssembly } from "./apply/cloud-assembly.js";
import { synthesize } from "./apply/synth.js";
import { type LocalCloud, type LocalCloudOptions, localCloudEnv, startLocalCloud } from "./cloud/index.js";
import { LocalRuntime, type RuntimeEvent } from "./runner/local-runtime.js";
import { configuredEndpoint } from "./running-endpoint.js";

export interface LocalRunOptions {
  /** The CDK project. @default process.cwd() */
  readonly projectDir?: string;
  /** Use this endpoint (LocalStack, AWS) instead of starting the embedded cloud. @default AWS_ENDPOINT_URL */
  readonly endpoint?: string;
  /** Start the embedded cloud even if AWS_ENDPOINT_URL is set. @default false */
  readonly embeddedCloud?: boolean;
  readonly cloud?: LocalCloudOptions;
  /** Lower queue visibility timeouts above this many seconds. @default 5 */
  readonly maxVisibilityTimeoutSeconds?: number | undefined;
  /** Variables for every function, on top of its own (chaos settings, say). */
  readonly extraEnvironment?: Readonly<Record<string, string>>;
  readonly onApply?: (event: ApplyEvent | { kind: "stack"; stackName: string }) => void;
  readonly onRuntime?: (event: RuntimeEvent) => void;
  readonly onStep?: (line: string) => void;
}

/** The endpoint to run on instead of the embedded cloud, if any (an empty AWS_ENDPOINT_URL is none). */
export function externalEndpointOf(
  options: Pick<LocalRunOptions, "endpoint" | "embeddedCloud">,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return options.embeddedCloud ? undefined : configuredEndpoint(options.endpoint, env);
}

/** A CDK app running locally: its resources on an endpoint, its functions and event sources running. */
export interface LocalRun {
  readonly endpoint: string;
  /** What points SDKs at the endpoint. */
  readonly environment: Readonly<Record<string, string>>;
  readonly cloud: LocalCloud | undefined;
  readonly stacks: readonly AppliedStack[];
  readonly runtimes: readonly LocalRuntime[];
  /** Every stack's outputs, resolved. */
  readonly outputs: Readonly<Record<string, string>>;
  /** From the start to every consumer running. */
  readonly startupMs: number;
  onBatchSummary(listener: (summary: BatchSummary) => void): void;
  stop(): Promise<void>;
}

/**
 * Synthesizes the app while the embedded cloud starts (unless an endpoint is given), applies every stack
 * and starts its functions and event sources: what `npm start` and the chaos suite run on.
 */
export async function startLocalRun(options: LocalRunOptions = {}): Promise<LocalRun> {
  const started = performance.now();
  const step = (line: string) => options.onStep?.(line);
  const since = () => ((performance.now() - started) / 1000).toFixed(1);
  const projectDir = options.projectDir ?? process.cwd();
  const externalEndpoint = externalEndpointOf(options);
  let reused = false;
  const [assemblyDir, cloud] = await Promise.all([
    synthesize({ projectDir, onReuse: () => (reused = true) }).then((dir) => {
      step(
        reused
          ? `✓ ${dir} is current: no file of the app changed since the last synthesis (${since()} s)`
          : `✓ synthesized ${dir} (${since()} s)`,
      );
      return dir;
    }),
    externalEndpoint
      ? Promise.resolve(undefined)
      : startLocalCloud(options.cloud).then((startedCloud) => {
          step(`✓ local cloud at ${startedCloud.endpoint} (${since()} s)`);
          return startedCloud;
        }),
  ]);
  const endpoint = externalEndpoint ?? (cloud as LocalCloud).endpoint;
  if (externalEndpoint) step(`✓ using the endpoint ${externalEndpoint}`);
  const environment = cloud?.env ?? localCloudEnv(endpoint, process.env.AWS_REGION);
  Object.assign(process.env, environment);

  try {
    const maxVisibility = "maxVisibilityTimeoutSeconds" in options ? options.maxVisibilityTimeoutSeconds : 5;
    const stacks: AppliedStack[] = [];
    for (const stack of readCloudAssembly(assemblyDir)) {
      options.onApply?.({ kind: "stack", stackName: stack.stackName });
      stacks.push(
        await applyTemplate(stack, {
          endpoint,
          ...(maxVisibility === undefined ? {} : { maxVisibilityTimeoutSeconds: maxVisibility }),
          ...(options.onApply ? { onEvent: options.onApply } : {}),
        }),
      );
    }
    const runtimes = await Promise.all(
      stacks.map((stack) =>
        LocalRuntime.start(stack, {
          endpoint,
          // The consumer wrappers' batch summaries (INFO) are how the demo follows progress.
          environment: { ...environment, POWERTOOLS_LOG_LEVEL: "INFO" },
          logDir: resolve(projectDir, ".local-cloud/logs/functions"),
          ...(options.extraEnvironment ? { extraEnvironment: options.extraEnvironment } : {}),
          ...(options.onRuntime ? { onEvent: options.onRuntime } : {}),
        }),
      ),
    );
    return {
      endpoint,
      environment,
      cloud,
      stacks,
      runtimes,
      outputs: Object.assign({}, ...stacks.map((stack) => stack.outputs)),
      startupMs: performance.now() - started,
      onBatchSummary: (listener) => {
        for (const runtime of runtimes) runtime.onBatchSummary((_, summary) => listener(summary));
      },
      stop: async () => {
        await Promise.all(runtimes.map((runtime) => runtime.stop()));
        await cloud?.stop();
      },
    };
  } catch (error) {
    await cloud?.stop();
    throw error;
  }
}
