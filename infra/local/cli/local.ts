#!/usr/bin/env node
/** `serverless-broker-local`: the alias of `serverless-broker cloud` (the local cloud alone). */
import { cloudCommand } from "./cloud-command.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const code = await cloudCommand(process.argv.slice(2)).catch((error: Error) => {
  console.error(`error: ${error.message}\nSee \`serverless-broker cloud --help\`.`);
  return 2;
});
process.exit(code);
