/**
 * The embedded local cloud's own start and process guarantees: health that tells the truth, a gateway the
 * starting process cannot starve, every port on loopback, and a start that survives a port race. These
 * inspect the embedded cloud's processes, so they run only when the tests are on it (not on LocalStack).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { accessPolicyFromEnv } from "../../infra/local/cloud/access-policy.js";
import { EmulatorProcess } from "../../infra/local/cloud/emulator-process.js";
import { EMULATORS } from "../../infra/local/cloud/emulators.js";
import { GatewayProcess } from "../../infra/local/cloud/gateway-process.js";
import { type LocalCloud, startLocalCloud } from "../../infra/local/cloud/index.js";
import { Reaper } from "../../infra/local/cloud/reaper.js";

const embedded = inject("embeddedCloud");
const logDir = mkdtempSync(join(tmpdir(), "local-cloud-start-"));

/** A free loopback port, released again (the start below claims it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function healthAt(
  port: number,
): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  } catch {
    return undefined; // the gateway does not listen yet
  }
}

/** A signed-looking JSON call through the gateway, as any SDK makes it. */
function call(endpoint: string, service: string, target: string, contentType: string) {
  return fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": contentType,
      "x-amz-target": target,
      "x-amz-date": "20260101T000000Z",
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
    },
    body: "{}",
  });
}

describe.runIf(embedded)("startLocalCloud", () => {
  let cloud: LocalCloud | undefined;
  afterAll(() => cloud?.stop());
  /** The first test's cloud, or a fresh one if it failed: each test stands on its own. */
  const runningCloud = async (): Promise<LocalCloud> => {
    cloud ??= await startLocalCloud({ port: await freePort(), logDir });
    return cloud;
  };

  it("answers /health 503 naming what still starts, and 200 only once Kinesis and DynamoDB answer", async () => {
    const port = await freePort();
    const starting = startLocalCloud({ port, logDir });
    const early: Array<{ status: number; body: Record<string, unknown> }> = [];
    let ready = false;
    void starting.then(
      () => {
        ready = true;
      },
      () => {
        ready = true;
      },
    );
    // Poll from the moment start begins, as a script waiting for the cloud does.
    for (;;) {
      const answer = await healthAt(port);
      if (answer?.status === 200) break;
      if (answer) early.push(answer);
      if (ready && answer === undefined) throw new Error("the cloud failed to start");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const endpoint = `http://127.0.0.1:${port}`;
    const kinesis = await call(
      endpoint,
      "kinesis",
      "Kinesis_20131202.ListStreams",
      "application/x-amz-json-1.1",
    );
    const dynamodb = await call(
      endpoint,
      "dynamodb",
      "DynamoDB_20120810.ListTables",
      "application/x-amz-json-1.0",
    );
    expect(kinesis.status).toBe(200);
    expect(dynamodb.status).toBe(200);
    for (const answer of early) {
      expect(answer.status).toBe(503);
      expect(answer.body.message).toMatch(/^Still starting: /);
    }
    cloud = await starting;
    expect(cloud.health().status).toBe("running");
  });

  it("names what it waits for on /health before the first emulator exists (the gateway listens first)", async () => {
    // A poll that lands between the gateway's listen and the first state from its parent: on a loaded
    // machine that window is wide, and a bare 503 there left a waiting script without a reason.
    const gateway = await GatewayProcess.start({
      host: "127.0.0.1",
      port: 0,
      access: accessPolicyFromEnv({}),
      logFile: join(logDir, "lone-gateway.log"),
    });
    try {
      const answer = await healthAt(gateway.port);
      expect(answer?.status).toBe(503);
      expect(answer?.body.status).toBe("starting");
      expect(answer?.body.message).toMatch(/^Still starting: /);
    } finally {
      await gateway.close();
    }
  });

  it("serves a child that the starting process waits on with spawnSync (its event loop blocked)", async () => {
    const cloud = await runningCloud();
    const script = `
      const res = await fetch(${JSON.stringify(cloud.endpoint)}, {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ListQueues",
          authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, Signature=0" },
        body: "{}",
      });
      console.log(res.status);`;
    // A generous bound so that a regression fails instead of hanging the suite.
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(child.error).toBeUndefined();
    expect(child.stdout.trim()).toBe("200");
  });

  it.runIf(existsSync("/proc/net/tcp"))(
    "listens on 127.0.0.1 only, in every process: gateway, fauxqs, kinesis-mock (plain and TLS), DynamoDB Local",
    async () => {
      const cloud = await runningCloud();
      const health = cloud.health();
      const processes = {
        gateway: health.gateway.pid,
        ...Object.fromEntries(
          Object.entries(health.emulators).map(([name, emulator]) => [name, emulator.pid]),
        ),
      };
      const listening = listeningSockets();
      const found: Record<string, string[]> = {};
      for (const [name, pid] of Object.entries(processes)) {
        if (!pid) throw new Error(`${name} has no pid`);
        found[name] = socketInodes(pid).flatMap((inode) => listening.get(inode) ?? []);
      }
      expect(found.gateway).toHaveLength(1);
      expect(found.fauxqs).toHaveLength(1);
      expect(found["kinesis-mock"]).toHaveLength(2);
      expect(found["dynamodb-local"]).toHaveLength(1);
      for (const [name, addresses] of Object.entries(found))
        for (const address of addresses)
          expect(address, name).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1):/);
    },
  );

  it("starts an engine on other ports when its port is taken between probing and binding", async () => {
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    const taken = (squatter.address() as AddressInfo).port;
    const reaper = new Reaper();
    const allocate = async () => [await freePort(), await freePort()] as const;
    const emulator = new EmulatorProcess(
      EMULATORS.fauxqs,
      {
        port: taken,
        sparePort: await freePort(),
        dataDir: undefined,
        verbose: false,
        java: { command: "java", majorVersion: 17 },
      },
      logDir,
      reaper,
      allocate,
    );
    try {
      await emulator.start(30_000);
      expect(emulator.port).not.toBe(taken);
      expect(emulator.status()).toBe("running");
      expect(readFileSync(emulator.logFile, "utf8")).toMatch(/EADDRINUSE/);
    } finally {
      await emulator.stop(500);
      reaper.release();
      squatter.close();
    }
  });
});

/** Listening TCP sockets of this network namespace, by inode: "address:port". */
function listeningSockets(): Map<string, string> {
  const sockets = new Map<string, string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").trim().split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, , state] = [fields[1], fields[2], fields[3]];
      const inode = fields[9];
      if (state !== "0A" || !local || !inode) continue; // 0A: LISTEN
      const [hex, portHex] = local.split(":") as [string, string];
      sockets.set(inode, `${decodeAddress(hex)}:${Number.parseInt(portHex, 16)}`);
    }
  }
  return sockets;
}

/** /proc/net/tcp writes addresses as little-endian 32-bit words. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) =>
    (word.match(/../g) ?? []).reverse().map((byte) => Number.parseInt(byte, 16)),
  );
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 255 && bytes[11] === 255)
    return `::ffff:${bytes.slice(12).join(".")}`;
  if (bytes.slice(0, 15).every((byte) => byte === 0) && bytes[15] === 1) return "::1";
  const groups = [];
  for (let index = 0; index < 16; index += 2)
    groups.push((((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0)).toString(16));
  return groups.join(":");
}

function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.push(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}
