// What the Lambda Node.js runtime provides beside the function's code: the AWS SDK for JavaScript v3 on
// every runtime, and v2 (`aws-sdk`) on nodejs16.x and older. A function's own copy wins, as in Lambda;
// otherwise `@aws-sdk/*` resolves to the copies this package depends on, and `aws-sdk` to one installed
// in the project or beside this package, configured for the local cloud (v2 ignores AWS_ENDPOINT_URL).

import { readdirSync, readFileSync, statSync } from "node:fs";
import Module, { createRequire, register } from "node:module";
import { basename, join } from "node:path";

/** The last Node.js runtime whose image shipped the v2 SDK (nodejs18.x ships only v3). */
const LAST_RUNTIME_WITH_V2 = 16;
const fallbackRequire = createRequire(import.meta.url);

/**
 * Makes the provided SDKs resolvable from the function's code (CommonJS `require` and ES `import`) and
 * points a v2 SDK at the endpoint. Throws, at init, what Lambda would make the function throw.
 */
export async function installProvidedSdk({ logicalId, runtime, runtimeMajor, codeDir, endpoint }) {
  const v2Provided = runtimeMajor > 0 && runtimeMajor <= LAST_RUNTIME_WITH_V2;
  const who = `${logicalId} (${runtime})`;
  const fallbackFor = (request) => {
    if (request.startsWith("@aws-sdk/")) {
      try {
        return fallbackRequire.resolve(request);
      } catch {
        throw notFound(
          request,
          `${who} imports ${request}, which the Lambda runtime provides but the local runner does not have: only the clients installed in your project or beside serverless-broker resolve locally. Install it in your project: npm install --save-dev ${packageOf(request)}`,
        );
      }
    }
    if (request === "aws-sdk" || request.startsWith("aws-sdk/")) {
      if (!v2Provided)
        throw notFound(
          request,
          `${who} requires aws-sdk (the AWS SDK for JavaScript v2), which the ${runtime} runtime does not provide (only nodejs16.x and older did): bundle it with the function, or move to the v3 clients (@aws-sdk/*) that ${runtime} provides`,
        );
      try {
        return fallbackRequire.resolve(request);
      } catch {
        throw notFound(
          request,
          `${who} requires aws-sdk (v2), which the ${runtime} runtime provides in Lambda but is not installed here: npm install --save-dev aws-sdk@2`,
        );
      }
    }
    return undefined;
  };

  // Read before the fallback below is installed: with it, every client this package ships would look
  // resolvable from the code, and its ES imports (which do not go through `_resolveFilename`) would fail.
  const needsImportHooks = importsUnresolvedSdk(codeDir);
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function resolveProvided(request, parent, isMain, options) {
    try {
      return resolveFilename.call(this, request, parent, isMain, options);
    } catch (error) {
      if (error?.code !== "MODULE_NOT_FOUND") throw error;
      const fallback = fallbackFor(request);
      if (fallback === undefined) throw error;
      return fallback;
    }
  };
  // ES `import`s need resolve hooks, which Node.js 20 runs on a thread of their own: a second V8 heap beside
  // every environment (6 to 11 MB each). Only code that names an SDK its own node_modules lack needs them.
  if (needsImportHooks)
    register(new URL("./provided-sdk-hooks.mjs", import.meta.url), {
      data: { fallbackParentURL: import.meta.url, who, runtime, v2Provided },
    });

  if (v2Provided) configureV2(codeDir, fallbackFor, endpoint);
}

/** v2 reads neither AWS_ENDPOINT_URL nor a per-service variable: set the endpoint on its global config. */
function configureV2(codeDir, fallbackFor, endpoint) {
  let path;
  try {
    path = createRequire(join(codeDir, "index.js")).resolve("aws-sdk");
  } catch {
    try {
      path = fallbackFor("aws-sdk");
    } catch {
      return; // Not installed: a function that requires it fails then, with the message above.
    }
  }
  const AWS = createRequire(join(codeDir, "index.js"))(path);
  AWS.config.update({ endpoint, s3ForcePathStyle: true });
}

/** An SDK module named in a string: `"@aws-sdk/client-sqs"`, `'aws-sdk'`, or `"@aws-sdk/"` being built. */
const SDK_SPECIFIER = /["'`]((?:@aws-sdk\/|aws-sdk(?=["'`/]))[^"'`\s]*)["'`]/g;
/** Past this much code (an unbundled function's node_modules), register the hooks rather than read on. */
const SCAN_LIMIT_BYTES = 8 * 1024 * 1024;
/** The SDK's own packages (in a node_modules), which name each other: not read. */
const SDK_DIRECTORIES = new Set(["@aws-sdk", "@smithy", "@aws-crypto", "aws-sdk"]);

/**
 * Whether the function's code (its .js, .mjs and .cjs files, its node_modules but the SDK's own packages
 * included) names an AWS SDK module that does not resolve from where it is named, and so needs the runtime's
 * copy: true also when a name is built at run time (`"@aws-sdk/" + name`) or there is too much code to read.
 */
export function importsUnresolvedSdk(codeDir) {
  let budget = SCAN_LIMIT_BYTES;
  const stack = [codeDir];
  while (stack.length > 0) {
    const dir = stack.pop();
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return true;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!(SDK_DIRECTORIES.has(entry.name) && basename(dir) === "node_modules")) stack.push(path);
        continue;
      }
      if (!/\.[cm]?js$/.test(entry.name)) continue;
      let code;
      try {
        budget -= statSync(path).size;
        if (budget < 0) return true;
        code = readFileSync(path, "utf8");
      } catch {
        return true;
      }
      const resolveHere = createRequire(path).resolve;
      for (const [, specifier] of code.matchAll(SDK_SPECIFIER)) {
        if (specifier.endsWith("/")) return true;
        try {
          resolveHere(specifier);
        } catch {
          return true;
        }
      }
    }
  }
  return false;
}

function notFound(request, message) {
  const error = new Error(message);
  error.name = "Runtime.ImportModuleError";
  error.code = "MODULE_NOT_FOUND";
  error.request = request;
  return error;
}

/** `@aws-sdk/client-sqs/dist-cjs/x` → `@aws-sdk/client-sqs`. */
function packageOf(request) {
  return request.split("/").slice(0, 2).join("/");
}
