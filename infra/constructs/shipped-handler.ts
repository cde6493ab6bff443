import { fileURLToPath } from "node:url";

// From source (tsx, vitest, cdk with tsx) modules are TypeScript; in the built package they are the
// compiled JavaScript beside them, which esbuild bundles just as well.
const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

/** The entry file of a handler this package ships in `lambdas/handlers/`, e.g. `shippedHandler("ledger")`. */
export const shippedHandler = (name: string): string =>
  fileURLToPath(new URL(`../../lambdas/handlers/${name}${extension}`, import.meta.url));
