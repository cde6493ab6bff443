// One fresh process: load the bundle (the function's init), invoke it once, print the milliseconds.
const [bundle, eventFile] = process.argv.slice(2);
const { readFileSync } = await import("node:fs");
const event = JSON.parse(readFileSync(eventFile, "utf8"));
const context = { awsRequestId: "cold", functionName: "cold-start", getRemainingTimeInMillis: () => 30_000 };
const started = performance.now();
const { handler } = await import(bundle);
const initialized = performance.now();
const response = await handler(event, context);
const finished = performance.now();
if (response?.batchItemFailures?.length) throw new Error(`first invoke failed: ${JSON.stringify(response)}`);
process.stdout.write(JSON.stringify({ initMs: initialized - started, totalMs: finished - started }));
