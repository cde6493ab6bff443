import { randomUUID } from "node:crypto";
import {
  Agent,
  createServer as createHttpServer,
  type IncomingMessage,
  request,
  type ServerResponse,
} from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
} from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { type AccessPolicy, decideAccess, isAllowedOrigin } from "./access-policy.js";
import { PortInUseError } from "./errors.js";
import { sniffProtocol } from "./protocol-sniffer.js";
import { resolveService, type ServiceName } from "./routing.js";
import { queryErrorXml, queryResponseXml, translateQueryRequest } from "./sqs-query-protocol.js";

/** "starting" until the emulator has answered a real request, "down" once its process is gone. */
export type BackendStatus = "starting" | "running" | "down";

/** Where the gateway sends one service's requests. */
export interface Backend {
  readonly emulator: string;
  readonly port: number;
  readonly logFile: string;
  status(): BackendStatus;
}

export interface GatewayOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly backendFor: (service: ServiceName) => Backend | undefined;
  /** Body of `GET /health`: answered 200 when its status is "running", else 503. */
  readonly health: () => Promise<{ readonly status: string }>;
  /** Which web origins and host names besides loopback ones may call it. @default - loopback only */
  readonly access?: AccessPolicy;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** Headers that describe one hop and must not be forwarded (and that HTTP/2 forbids outright). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "te",
]);

/**
 * The one endpoint of the local cloud. Serves HTTP/1.1 and HTTP/2 cleartext on the same port (the AWS SDK
 * v3 Kinesis client speaks h2c to http:// endpoints, the others HTTP/1.1) and forwards each request to the
 * emulator of the service named by its X-Amz-Target or SigV4 credential scope.
 */
export class Gateway {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 128 });
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly options: GatewayOptions,
    private readonly server: Server,
  ) {}

  static async listen(options: GatewayOptions): Promise<Gateway> {
    const http1 = createHttpServer({ keepAliveTimeout: 65_000 });
    const http2 = createHttp2Server();
    const server = createNetServer();
    const gateway = new Gateway(options, server);
    const handler = (req: AnyRequest, res: AnyResponse) => gateway.handle(req, res);
    http1.on("request", handler);
    http2.on("request", handler);
    server.on("connection", (socket) => {
      // Requests and responses go out in several small writes; with Nagle's algorithm each would wait
      // for the peer's delayed ACK (~40 ms a request).
      socket.setNoDelay(true);
      gateway.sockets.add(socket);
      socket.on("close", () => gateway.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      sniffProtocol(socket, (protocol, stream) =>
        (protocol === "h2c" ? http2 : http1).emit("connection", stream),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? new PortInUseError(options.host, options.port, { cause: error })
            : error,
        ),
      );
      server.listen(options.port, options.host, () => resolve());
    });
    return gateway;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : this.options.port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await closed;
  }

  private handle(req: AnyRequest, res: AnyResponse): void {
    const url = req.url ?? "/";
    const policy = this.options.access ?? { allowedOrigins: [], allowedHosts: [] };
    const origin = headerValue(req.headers.origin);
    const access = decideAccess(
      { origin, host: headerValue(req.headers.host ?? req.headers[":authority"]) },
      policy,
    );
    if (!access.allowed) {
      reply(res, 403, { __type: "AccessDeniedException", message: access.reason });
      return;
    }
    if (origin !== undefined && isAllowedOrigin(origin, policy)) {
      // Only here: a refused origin got its 403 above, so a preflight never tells it yes.
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", "*");
      res.setHeader("vary", "Origin");
      if (req.method === "OPTIONS") {
        res.setHeader("access-control-allow-methods", "GET, POST, PUT, DELETE, HEAD, OPTIONS");
        res.setHeader(
          "access-control-allow-headers",
          headerValue(req.headers["access-control-request-headers"]) ?? "*",
        );
        res.setHeader("access-control-max-age", "600");
        res.writeHead(204);
        res.end();
        return;
      }
    }
    if (req.method === "GET" && (url === "/health" || url === "/_localstack/health")) {
      void this.options.health().then(
        (body) => reply(res, body.status === "running" ? 200 : 503, body),
        (error: Error) => reply(res, 500, { message: error.message }),
      );
      return;
    }
    const service = resolveService(req.headers, url);
    if (!service) {
      reply(res, 400, {
        __type: "UnknownService",
        message:
          "The local cloud could not tell which AWS service this request is for: sign it with SigV4 (any " +
          "credentials) or send X-Amz-Target. It serves sns, sqs, kinesis, dynamodb and dynamodb streams.",
      });
      return;
    }
    const backend = this.options.backendFor(service);
    const status = backend?.status();
    if (!backend || status !== "running") {
      reply(res, 503, {
        __type: "ServiceUnavailable",
        message: !backend
          ? `The local cloud was started without ${service}.`
          : status === "starting"
            ? `The ${backend.emulator} emulator behind ${service} is still starting; wait for GET /health to answer 200.`
            : `The ${backend.emulator} emulator behind ${service} is not running; see ${backend.logFile}.`,
      });
      return;
    }
    if (service === "sqs" && isSqsQueryRequest(req)) {
      void this.serveSqsQuery(req, res, backend);
      return;
    }
    this.forward(req, res, backend);
  }

  /** Serves SQS's query protocol: translates the form to JSON 1.0, and the emulator's answer to XML. */
  private async serveSqsQuery(req: AnyRequest, res: AnyResponse, backend: Backend): Promise<void> {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = req.url ?? "/";
    const form = new URLSearchParams(
      req.method === "GET" ? url.slice(url.indexOf("?") + 1) : Buffer.concat(chunks).toString("utf8"),
    );
    const { action, input } = translateQueryRequest(form);
    const answer = (status: number, xml: string) => {
      res.writeHead(status, {
        "content-type": "text/xml",
        "content-length": Buffer.byteLength(xml),
        "x-amzn-requestid": requestId,
      });
      res.end(xml);
    };
    if (!action) {
      answer(
        400,
        queryErrorXml(
          { __type: "MissingAction", message: "Missing Action parameter." },
          undefined,
          requestId,
        ),
      );
      return;
    }
    const payload = JSON.stringify(input);
    const upstream = request({
      agent: this.agent,
      host: "127.0.0.1",
      port: backend.port,
      method: "POST",
      path: "/",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": `AmazonSQS.${action}`,
        "content-length": Buffer.byteLength(payload),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        host: headerValue(req.headers.host ?? req.headers[":authority"]) ?? `127.0.0.1:${this.port}`,
      },
    });
    upstream.on("socket", (socket) => socket.setNoDelay(true));
    upstream.on("response", async (response) => {
      const parts: Buffer[] = [];
      for await (const part of response) parts.push(part as Buffer);
      const text = Buffer.concat(parts).toString("utf8");
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      const status = response.statusCode ?? 500;
      answer(
        status,
        status < 300
          ? queryResponseXml(action, body, requestId)
          : queryErrorXml(body, headerValue(response.headers["x-amzn-query-error"]), requestId),
      );
    });
    upstream.on("error", (error) =>
      answer(
        502,
        queryErrorXml(
          {
            __type: "ServiceUnavailable",
            message: `The ${backend.emulator} emulator did not answer (${error.message}); see ${backend.logFile}.`,
          },
          "ServiceUnavailable;Receiver",
          requestId,
        ),
      ),
    );
    upstream.end(payload);
  }

  private forward(req: AnyRequest, res: AnyResponse, backend: Backend): void {
    const upstream = request(
      {
        agent: this.agent,
        host: "127.0.0.1",
        port: backend.port,
        method: req.method,
        path: req.url,
        headers: forwardableHeaders(req.headers),
      },
      (response) => {
        res.writeHead(response.statusCode ?? 502, forwardableHeaders(response.headers));
        response.pipe(res as NodeJS.WritableStream);
      },
    );
    upstream.on("socket", (socket) => socket.setNoDelay(true));
    upstream.on("error", (error) => {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      reply(res, 502, {
        __type: "ServiceUnavailable",
        message: `The ${backend.emulator} emulator did not answer (${error.message}); see ${backend.logFile}.`,
      });
    });
    req.pipe(upstream);
  }
}

/** A form-encoded (or GET `?Action=`) SQS request: the query protocol, not JSON 1.0. */
function isSqsQueryRequest(req: AnyRequest): boolean {
  if (req.headers["x-amz-target"]) return false;
  if (req.method === "GET") return /[?&]Action=/.test(req.url ?? "");
  return (headerValue(req.headers["content-type"]) ?? "").includes("application/x-www-form-urlencoded");
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function forwardableHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const forwarded: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (name.startsWith(":")) {
      if (name === ":authority" && typeof value === "string") forwarded.host = value;
      continue;
    }
    forwarded[name] = value;
  }
  return forwarded;
}

function reply(res: AnyResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": status < 300 ? "application/json" : "application/x-amz-json-1.0",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}
