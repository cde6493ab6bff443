// ES module resolution of the SDKs the Lambda runtime provides (see provided-sdk.mjs): an `import` the
// function's own node_modules cannot satisfy resolves from beside this package.
let settings;

export function initialize(data) {
  settings = data;
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    const v3 = specifier.startsWith("@aws-sdk/");
    const v2 = specifier === "aws-sdk" || specifier.startsWith("aws-sdk/");
    if (!v3 && !v2) throw error;
    if (v2 && !settings.v2Provided) {
      const failure = new Error(
        `${settings.who} imports aws-sdk (the AWS SDK for JavaScript v2), which the ${settings.runtime} runtime does not provide (only nodejs16.x and older did): bundle it with the function, or move to the v3 clients (@aws-sdk/*) that ${settings.runtime} provides`,
      );
      failure.code = "ERR_MODULE_NOT_FOUND";
      throw failure;
    }
    try {
      return await nextResolve(specifier, { ...context, parentURL: settings.fallbackParentURL });
    } catch {
      const install = v3 ? specifier.split("/").slice(0, 2).join("/") : "aws-sdk@2";
      const failure = new Error(
        `${settings.who} imports ${specifier}, which the Lambda runtime provides but the local runner does not have. Install it in your project: npm install --save-dev ${install}`,
      );
      failure.code = "ERR_MODULE_NOT_FOUND";
      throw failure;
    }
  }
}
