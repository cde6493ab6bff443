// StrykerJS over the exactly-once core (consumers, dedup, outbox) with the fast suites: `npm run mutation`.
// Not part of `npm test`: it runs the suites once per mutant. Reports and scratch files stay out of the
// repository's top level.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [
    "lambdas/runtime/consumers/**/*.ts",
    "lambdas/runtime/dedup/**/*.ts",
    "lambdas/runtime/outbox/**/*.ts",
  ],
  testRunner: "vitest",
  vitest: { configFile: "test/mutation/vitest.config.ts", related: false },
  coverageAnalysis: "perTest",
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  timeoutMS: 20_000,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: "node_modules/.cache/stryker/mutation.json" },
  tempDirName: "node_modules/.cache/stryker/tmp",
  cleanTempDir: "always",
  // TypeScript 7 has no JavaScript API for Stryker to rewrite tsconfig.json with; vitest needs none.
  tsconfigFile: "test/mutation/no-tsconfig.json",
};
