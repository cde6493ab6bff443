/**
 * Child-process entry for the SNS + SQS emulator (fauxqs), with SNS publishing as AWS does it
 * (sns-publish.ts). Listens on loopback only, and resolves a queue URL
 * by its account and name whatever host it was written with, as AWS does (fauxqs alone matches the exact URL
 * it issued, so `http://localhost:4566/000000000000/q` would miss a queue created via 127.0.0.1).
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildApp } from "fauxqs";
import { createPublishHandlers } from "./sns-publish.js";

interface QueueLookup {
  getQueue(url: string): unknown;
  getQueueByName(name: string): unknown;
}

const port = Number(process.env.FAUXQS_PORT);
const verbose = process.env.LOCAL_CLOUD_VERBOSE === "1";

// The store classes are not in fauxqs's export map; load them from the pinned package's own files.
const distDir = dirname(fileURLToPath(import.meta.resolve("fauxqs")));
const load = async (file: string) => import(pathToFileURL(join(distDir, file)).href);
const { SqsStore } = await load("sqs/sqsStore.js");
const { SnsStore } = await load("sns/snsStore.js");
const { S3Store } = await load("s3/s3Store.js");
const { SnsRouter } = await load("sns/snsRouter.js");
const { SnsError } = await load("common/errors.js");

// fauxqs's Publish and PublishBatch differ from AWS where apps can see it (see sns-publish.ts): its router
// gets ours in their place as buildApp registers its actions.
const publishHandlers: Record<string, unknown> = createPublishHandlers({
  SnsError,
  createMessage: SqsStore.createMessage.bind(SqsStore),
});
const register = SnsRouter.prototype.register as (action: string, handler: unknown) => void;
SnsRouter.prototype.register = function (action: string, handler: unknown) {
  register.call(this, action, publishHandlers[action] ?? handler);
};

const sqsStore = new SqsStore();
// An empty host makes queue URLs use the request's Host header, i.e. the gateway's endpoint.
sqsStore.host = "";
const exactLookup = sqsStore.getQueue.bind(sqsStore) as QueueLookup["getQueue"];
sqsStore.getQueue = (url: string) =>
  exactLookup(url) ?? (sqsStore as QueueLookup).getQueueByName(queueName(url));

const app = buildApp({
  logger: verbose,
  stores: { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() },
});
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${port}`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    void app.close().finally(() => process.exit(0));
  });
}

function queueName(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}
