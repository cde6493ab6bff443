import type { IncomingHttpHeaders } from "node:http";

/** The AWS APIs the local cloud serves, by their SigV4 signing names (plus DynamoDB Streams). */
export const SERVICES = ["sns", "sqs", "kinesis", "dynamodb", "dynamodbstreams"] as const;
export type ServiceName = (typeof SERVICES)[number];

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/]+\/([a-z0-9-]+)\/aws4_request/;

/** JSON-protocol services announce themselves in X-Amz-Target before anything else is read. */
const TARGET_PREFIXES: ReadonlyArray<readonly [string, ServiceName]> = [
  ["DynamoDBStreams_", "dynamodbstreams"],
  ["DynamoDB_", "dynamodb"],
  ["Kinesis_", "kinesis"],
  ["AmazonSQS.", "sqs"],
];

const SIGNING_NAMES: Readonly<Record<string, ServiceName>> = {
  sns: "sns",
  sqs: "sqs",
  kinesis: "kinesis",
  dynamodb: "dynamodb",
};

/**
 * Tells which service a request is for, the way LocalStack does: by X-Amz-Target for JSON protocols,
 * else by the service in the SigV4 credential scope (header or presigned query). Undefined when neither
 * names a service the local cloud serves.
 */
export function resolveService(headers: IncomingHttpHeaders, url = "/"): ServiceName | undefined {
  const target = headerValue(headers["x-amz-target"]);
  if (target) {
    for (const [prefix, service] of TARGET_PREFIXES) {
      if (target.startsWith(prefix)) return service;
    }
  }
  const scope = CREDENTIAL_SCOPE.exec(headerValue(headers.authorization) ?? "")?.[1] ?? presignedScope(url);
  return scope === undefined ? undefined : SIGNING_NAMES[scope];
}

function presignedScope(url: string): string | undefined {
  const query = url.indexOf("?");
  if (query < 0) return undefined;
  const credential = new URLSearchParams(url.slice(query + 1)).get("X-Amz-Credential");
  return credential?.split("/")[3];
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
