import { createServer, request, type Server } from "node:http";
import { connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Backend, Gateway } from "../../../infra/local/cloud/gateway.js";
import type { ServiceName } from "../../../infra/local/cloud/routing.js";

/** A stand-in emulator that echoes what it received. */
async function echoServer(name: string): Promise<Server> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.setHeader("connection", "keep-alive");
      res.end(JSON.stringify({ name, method: req.method, url: req.url, host: req.headers.host, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;

describe("Gateway", () => {
  let queues: Server;
  let streams: Server;
  let gateway: Gateway;
  let streamsRunning = true;

  beforeAll(async () => {
    queues = await echoServer("queues");
    streams = await echoServer("streams");
    const backends: Partial<Record<ServiceName, Backend>> = {
      sqs: { emulator: "queues", port: portOf(queues), logFile: "queues.log", status: () => "running" },
      kinesis: {
        emulator: "streams",
        port: portOf(streams),
        logFile: "streams.log",
        status: () => (streamsRunning ? "running" : "down"),
      },
    };
    gateway = await Gateway.listen({
      host: "127.0.0.1",
      port: 0,
      backendFor: (service) => backends[service],
      health: async () => ({ status: "running" }),
    });
  });

  afterAll(async () => {
    await gateway.close();
    queues.close();
    streams.close();
  });

  function http1(headers: Record<string, string>, body = "", method = "POST", path = "/") {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: gateway.port, method, path, headers }, (res) => {
        let text = "";
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function h2c(headers: Record<string, string>, body: string) {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const session = connect(`http://127.0.0.1:${gateway.port}`);
      session.on("error", reject);
      const stream = session.request({ ":method": "POST", ":path": "/", ...headers });
      let status = 0;
      let text = "";
      stream.on("response", (response) => {
        status = Number(response[":status"]);
      });
      stream.on("data", (chunk) => {
        text += chunk;
      });
      stream.on("end", () => {
        session.close();
        resolve({ status, body: text });
      });
      stream.end(body);
    });
  }

  it("forwards HTTP/1.1 requests to the service's emulator with method, path, host and body", async () => {
    const response = await http1({ "x-amz-target": "AmazonSQS.SendMessage" }, '{"a":1}', "POST", "/q?x=1");
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({
      name: "queues",
      method: "POST",
      url: "/q?x=1",
      host: `127.0.0.1:${gateway.port}`,
      body: '{"a":1}',
    });
  });

  it("serves HTTP/2 cleartext on the same port, as the SDK's Kinesis client speaks it", async () => {
    const response = await h2c({ "x-amz-target": "Kinesis_20131202.PutRecord" }, '{"b":2}');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      name: "streams",
      body: '{"b":2}',
      host: `127.0.0.1:${gateway.port}`,
    });
  });

  it("keeps serving many requests over one HTTP/2 connection and over keep-alive HTTP/1.1", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        index % 2 === 0
          ? h2c({ "x-amz-target": "Kinesis_20131202.PutRecord" }, String(index))
          : http1({ "x-amz-target": "AmazonSQS.SendMessage" }, String(index)),
      ),
    );
    expect(results.map((result) => JSON.parse(result.body).body)).toEqual(
      Array.from({ length: 20 }, (_, index) => String(index)),
    );
  });

  it("answers GET /health", async () => {
    const response = await http1({}, "", "GET", "/health");
    expect(JSON.parse(response.body)).toEqual({ status: "running" });
  });

  it("rejects a request that names no service it serves, saying how to fix it", async () => {
    const response = await http1({ "content-type": "application/json" }, "{}");
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).message).toMatch(/sign it with SigV4/);
  });

  it("answers 503 naming the emulator and its log when that emulator is down", async () => {
    streamsRunning = false;
    try {
      const response = await http1({ "x-amz-target": "Kinesis_20131202.ListStreams" }, "{}");
      expect(response.status).toBe(503);
      expect(JSON.parse(response.body).message).toBe(
        "The streams emulator behind kinesis is not running; see streams.log.",
      );
    } finally {
      streamsRunning = true;
    }
  });

  it("answers 503 for a service the cloud was started without", async () => {
    const response = await http1({ "x-amz-target": "DynamoDB_20120810.ListTables" }, "{}");
    expect(response.status).toBe(503);
  });
});
