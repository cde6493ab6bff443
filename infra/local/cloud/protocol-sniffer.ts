import type { Socket } from "node:net";
import { Duplex } from "node:stream";

/** Every HTTP/2 prior-knowledge (h2c) connection starts with this preface (RFC 9113, section 3.4). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type WireProtocol = "h2c" | "http/1.1";

/**
 * Reads just enough of a new connection to tell HTTP/2 cleartext from HTTP/1.1, then hands the caller a
 * stream that replays those bytes before the rest. A plain `socket.unshift` is not enough: Node's HTTP
 * servers read from the socket's native handle and would never see bytes already pulled into JS.
 */
export function sniffProtocol(
  socket: Socket,
  onDecided: (protocol: WireProtocol, stream: Duplex) => void,
): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const compared = Math.min(head.length, HTTP2_PREFACE.length);
    const looksLikeHttp2 = head.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (looksLikeHttp2 && head.length < HTTP2_PREFACE.length) return;
    socket.off("data", onData);
    socket.pause();
    onDecided(looksLikeHttp2 ? "h2c" : "http/1.1", new ReplayingSocket(socket, head));
  };
  socket.on("data", onData);
}

/** A duplex over a socket whose first bytes were already read; it re-emits them, then the live data. */
class ReplayingSocket extends Duplex {
  constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    super();
    this.push(head);
    socket.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (error) => this.destroy(error));
    socket.on("close", () => this.destroy());
  }

  // The HTTP servers ask these of their connection; they belong to the underlying socket.
  get remoteAddress() {
    return this.socket.remoteAddress;
  }
  get remotePort() {
    return this.socket.remotePort;
  }
  get remoteFamily() {
    return this.socket.remoteFamily;
  }
  get localAddress() {
    return this.socket.localAddress;
  }
  get localPort() {
    return this.socket.localPort;
  }
  get encrypted() {
    return false;
  }
  setTimeout(ms: number, callback?: () => void): this {
    this.socket.setTimeout(ms, callback);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }
  destroySoon(): void {
    this.end();
  }

  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback);
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
