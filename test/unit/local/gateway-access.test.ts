import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccessPolicy } from "../../../infra/local/cloud/access-policy.js";
import { type BackendStatus, Gateway } from "../../../infra/local/cloud/gateway.js";

/** The drive-by request of the issue: a plain form POST that a web page can send without a preflight. */
const SNS_FORM_PATH = "/?X-Amz-Credential=x/20260101/us-east-1/sns/aws4_request";
const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe("Gateway access: loopback clients only, unless widened", () => {
  let emulator: Server;
  let reached = 0;
  let status: BackendStatus = "running";
  const gateways: Gateway[] = [];

  const gatewayWith = async (access?: AccessPolicy) => {
    const gateway = await Gateway.listen({
      host: "127.0.0.1",
      port: 0,
      access,
      backendFor: () => ({
        emulator: "fauxqs",
        port: (emulator.address() as AddressInfo).port,
        logFile: "fauxqs.log",
        status: () => status,
      }),
      health: async () => ({ status: status === "running" ? "running" : "starting" }),
    });
    gateways.push(gateway);
    return gateway;
  };

  beforeAll(async () => {
    emulator = createServer((req, res) => {
      reached++;
      req.resume();
      req.on("end", () => res.end("<PublishResponse/>"));
    });
    await new Promise<void>((resolve) => emulator.listen(0, "127.0.0.1", resolve));
  });
  beforeEach(() => {
    reached = 0;
    status = "running";
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gateway) => gateway.close()));
    emulator.close();
  });

  function send(gateway: Gateway, headers: Record<string, string>, method = "POST", path = SNS_FORM_PATH) {
    return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: gateway.port, method, path, headers }, (res) => {
          let body = "";
          res.on("data", (chunk) => {
            body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("error", reject);
        req.end(method === "POST" ? "Action=CreateTopic&Name=pwned" : undefined);
      },
    );
  }

  it("serves SDK and CLI requests, which carry no Origin and a loopback Host", async () => {
    const gateway = await gatewayWith();
    for (const host of [`127.0.0.1:${gateway.port}`, `localhost:${gateway.port}`, `[::1]:${gateway.port}`]) {
      const response = await send(gateway, { ...FORM, host });
      expect(response.status, host).toBe(200);
    }
    expect(reached).toBe(3);
  });

  it("refuses a form POST from a foreign web origin with 403 naming LOCAL_CLOUD_ALLOWED_ORIGINS, reaching no emulator", async () => {
    const gateway = await gatewayWith();
    const response = await send(gateway, { ...FORM, origin: "http://evil.example" });
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body).message).toMatch(/LOCAL_CLOUD_ALLOWED_ORIGINS=http:\/\/evil\.example/);
    expect(reached).toBe(0);
  });

  it("refuses the opaque origin of sandboxed frames and file: pages", async () => {
    const gateway = await gatewayWith();
    expect((await send(gateway, { ...FORM, origin: "null" })).status).toBe(403);
    expect(reached).toBe(0);
  });

  it("refuses a foreign Host (DNS rebinding) with 403 naming LOCAL_CLOUD_ALLOWED_HOSTS", async () => {
    const gateway = await gatewayWith();
    const response = await send(gateway, { ...FORM, host: `rebind.evil.example:${gateway.port}` });
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body).message).toMatch(/LOCAL_CLOUD_ALLOWED_HOSTS=rebind\.evil\.example/);
    expect(reached).toBe(0);
  });

  it("lets in a page served from loopback, telling the browser so", async () => {
    const gateway = await gatewayWith();
    const response = await send(gateway, { ...FORM, origin: "http://localhost:3000" });
    expect(response.status).toBe(200);
    expect(response.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
  });

  it("answers a CORS preflight for an allowed origin, and refuses one for a foreign origin", async () => {
    const gateway = await gatewayWith();
    const preflight = (origin: string) =>
      send(
        gateway,
        {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,x-amz-target",
        },
        "OPTIONS",
        "/",
      );

    const allowed = await preflight("http://127.0.0.1:5173");
    expect(allowed.status).toBe(204);
    expect(allowed.headers).toMatchObject({
      "access-control-allow-origin": "http://127.0.0.1:5173",
      "access-control-allow-headers": "content-type,x-amz-target",
    });
    const refused = await preflight("https://evil.example");
    expect(refused.status).toBe(403);
    expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
    expect(reached).toBe(0);
  });

  it("lets in the origins and hosts the developer allowed, or any with *", async () => {
    const widened = await gatewayWith({
      allowedOrigins: ["https://console.example"],
      allowedHosts: ["host.docker.internal"],
    });
    expect((await send(widened, { ...FORM, origin: "https://console.example" })).status).toBe(200);
    expect((await send(widened, { ...FORM, host: `host.docker.internal:${widened.port}` })).status).toBe(200);
    expect((await send(widened, { ...FORM, origin: "https://other.example" })).status).toBe(403);

    const open = await gatewayWith({ allowedOrigins: ["*"], allowedHosts: ["*"] });
    expect((await send(open, { ...FORM, origin: "https://any.example", host: "any.example" })).status).toBe(
      200,
    );
  });
});

describe("Gateway readiness", () => {
  let gateway: Gateway;
  let status: BackendStatus = "starting";

  beforeAll(async () => {
    gateway = await Gateway.listen({
      host: "127.0.0.1",
      port: 0,
      backendFor: () => ({
        emulator: "kinesis-mock",
        port: 1,
        logFile: "kinesis-mock.log",
        status: () => status,
      }),
      health: async () =>
        status === "running"
          ? { status: "running" }
          : { status: "starting", message: "Still starting: kinesis-mock (kinesis)." },
    });
  });
  afterAll(() => gateway.close());

  const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: gateway.port, method, path, headers }, (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });

  it("answers /health 503 with what is still starting, and 200 once everything answers", async () => {
    status = "starting";
    const starting = await get("/health");
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.body).message).toBe("Still starting: kinesis-mock (kinesis).");
    status = "running";
    expect((await get("/health")).status).toBe(200);
  });

  it("answers a service's requests 503 'still starting' until its emulator answers", async () => {
    status = "starting";
    const response = await get("/", { "x-amz-target": "Kinesis_20131202.ListStreams" }, "POST");
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body).message).toMatch(
      /kinesis-mock emulator behind kinesis is still starting/,
    );
  });
});
