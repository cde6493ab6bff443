/**
 * serverless-broker local cloud: the emulators behind one endpoint, and what `npm start` is built from —
 * synthesize a CDK app, apply its templates, run its functions and event sources in-process.
 */
export {
  type AppliedStack,
  type ApplyEvent,
  type ApplyOptions,
  applyTemplate,
} from "./apply/apply-template.js";
export { readCloudAssembly, type StackTemplate } from "./apply/cloud-assembly.js";
export { type SynthOptions, synthesize } from "./apply/synth.js";
export * from "./cloud/index.js";
export { type LocalRun, type LocalRunOptions, startLocalRun } from "./local-run.js";
export { LocalRuntime, type LocalRuntimeOptions, type RuntimeEvent } from "./runner/local-runtime.js";
