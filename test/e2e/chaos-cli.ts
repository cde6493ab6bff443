/** `npm run chaos [-- --messages 10000]`: the full-size chaos run; prints the figures, exits 1 on a violation. */
import { parseArgs } from "node:util";
import { CHAOS_DEFAULTS, chaosTable, runChaos } from "./chaos.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const { values } = parseArgs({
  options: { messages: { type: "string", default: "10000" }, customers: { type: "string", default: "200" } },
});
const result = await runChaos({
  ...CHAOS_DEFAULTS,
  messages: Number(values.messages),
  customers: Number(values.customers),
  restartAfterMs: 30_000,
  log: (line) => console.log(line),
});
console.log("");
console.log(chaosTable(result));
const twice = (group: string) => result.groups.find((entry) => entry.group === group)?.processedTwice ?? 0;
console.log("");
console.log(
  `${result.crashes} execution environments crashed after their side effect; DynamoDB Local was down ${(result.restartMs / 1000).toFixed(1)} s; ` +
    `at-least-once window: analytics (plain) ${twice("analytics")}, ledger (checkpoints) ${twice("ledger")} processed twice; ` +
    `${Math.round(result.throughputPerSecond)} msg/s over ${(result.durationMs / 1000).toFixed(0)} s`,
);
console.log(result.violations.length === 0 ? "✓ no violations" : `✗ ${result.violations.join("; ")}`);
process.exit(result.violations.length === 0 ? 0 : 1);
