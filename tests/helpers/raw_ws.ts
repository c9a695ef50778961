/**
 * A raw WebSocket client for tests: it writes every handshake byte and frame
 * itself and records what the server sends exactly (frames, close codes,
 * and whether TCP ended with or without a close frame).
 *
 * @module
 */

import {
  clientFrame,
  closePayload,
  concat,
  concatAll,
  indexOf,
  writeAll,
} from "../../testing/wire.ts";

/** One frame or event received from the server. */
export type Received =
  | { type: "text"; text: string; bytes: Uint8Array; frames: number }
  | { type: "binary"; bytes: Uint8Array; frames: number }
  | { type: "ping" | "pong"; bytes: Uint8Array }
  | { type: "close"; code: number | null; reason: string }
  | { type: "eof" };

/** The HTTP response to a handshake. */
export interface HandshakeResponse {
  /** Status code. */
  status: number;
  /** Lower-cased header names → values (repeated headers joined with ", "). */
  headers: Map<string, string>;
  /** Raw header lines in order. */
  rawHeaders: string[];
  /** Body (for non-101 responses, read until close or Content-Length). */
  body: string;
}

/** Options for {@link RawWs.connect}. */
export interface ConnectOptions {
  /** Request path and query. Default `/`. */
  path?: string;
  /** Extra or replacement headers (name → value). `null` removes a default. */
  headers?: Record<string, string | null>;
  /** Request method. Default GET. */
  method?: string;
  /** HTTP version. Default 1.1. */
  httpVersion?: string;
  /** Bytes to send in the same write as the handshake. */
  trailing?: Uint8Array;
  /** Connect over TLS with this CA. */
  tls?: { caCerts?: string[]; hostname?: string; cert?: string; key?: string };
  /** Unix socket path instead of TCP. */
  unixPath?: string;
  /** Hostname to connect to. Default 127.0.0.1. */
  hostname?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// the frame encoder lives with the other wire helpers; re-exported for the tests that use the client
export { clientFrame, closePayload } from "../../testing/wire.ts";

/** A raw client connection. Always call {@link RawWs.close} or {@link RawWs.drop}. */
export class RawWs {
  /** The handshake response. */
  response!: HandshakeResponse;
  #conn: Deno.Conn;
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #off = 0;
  #queue: Received[] = [];
  #waiters: ((r: Received) => void)[] = [];
  #done = false;
  #reader: Promise<void> | null = null;
  #frag: { type: "text" | "binary"; parts: Uint8Array[]; frames: number } | null = null;
  /** Every item received, in order (for assertions on the whole conversation). */
  readonly log: Received[] = [];

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Opens a connection and performs (or attempts) a handshake.
   * Resolves for any status; check `response.status`.
   */
  static async connect(port: number, opts: ConnectOptions = {}): Promise<RawWs> {
    const hostname = opts.hostname ?? "127.0.0.1";
    let conn: Deno.Conn;
    if (opts.unixPath) conn = await Deno.connect({ transport: "unix", path: opts.unixPath });
    else if (opts.tls) {
      conn = await Deno.connectTls({
        hostname: opts.tls.hostname ?? "localhost",
        port,
        caCerts: opts.tls.caCerts,
        ...(opts.tls.cert ? { cert: opts.tls.cert, key: opts.tls.key! } : {}),
      });
    } else conn = await Deno.connect({ hostname, port });
    const ws = new RawWs(conn);
    const headers: Record<string, string | null> = {
      Host: opts.unixPath ? "localhost" : `${hostname}:${port}`,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))),
      "Sec-WebSocket-Version": "13",
      ...opts.headers,
    };
    let req = `${opts.method ?? "GET"} ${opts.path ?? "/"} HTTP/${opts.httpVersion ?? "1.1"}\r\n`;
    for (const [k, v] of Object.entries(headers)) if (v !== null) req += `${k}: ${v}\r\n`;
    req += "\r\n";
    const head = enc.encode(req);
    const first = opts.trailing ? concat(head, opts.trailing) : head;
    await writeAll(conn, first);
    ws.response = await ws.#readResponse();
    if (ws.response.status === 101) ws.#reader = ws.#readLoop();
    return ws;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) return false;
    this.#buf = concat(this.#buf.subarray(this.#off), chunk.subarray(0, n));
    this.#off = 0;
    return true;
  }

  async #readResponse(): Promise<HandshakeResponse> {
    let end: number;
    while ((end = indexOf(this.#buf, enc.encode("\r\n\r\n"))) < 0) {
      if (!(await this.#fill())) {
        return { status: 0, headers: new Map(), rawHeaders: [], body: dec.decode(this.#buf) };
      }
    }
    const headText = dec.decode(this.#buf.subarray(0, end));
    this.#buf = this.#buf.slice(end + 4);
    this.#off = 0;
    const [statusLine, ...lines] = headText.split("\r\n");
    const status = Number(statusLine!.split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const i = line.indexOf(":");
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
    }
    let body = "";
    if (status !== 101) {
      const len = headers.get("content-length");
      if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
        body = await this.#readChunked();
      } else if (len !== undefined) {
        while (this.#buf.length < Number(len) && await this.#fill());
        body = dec.decode(this.#buf.subarray(0, Number(len)));
      } else {
        while (await this.#fill());
        body = dec.decode(this.#buf);
      }
    }
    return { status, headers, rawHeaders: lines, body };
  }

  async #readChunked(): Promise<string> {
    const parts: Uint8Array[] = [];
    while (true) {
      let eol: number;
      while ((eol = indexOf(this.#buf, enc.encode("\r\n"))) < 0) {
        if (!(await this.#fill())) return dec.decode(concatAll(parts));
      }
      const size = parseInt(dec.decode(this.#buf.subarray(0, eol)), 16);
      while (this.#buf.length < eol + 2 + size + 2 && await this.#fill());
      parts.push(this.#buf.slice(eol + 2, eol + 2 + size));
      this.#buf = this.#buf.slice(eol + 2 + size + 2);
      if (size === 0) return dec.decode(concatAll(parts));
    }
  }

  async #readLoop(): Promise<void> {
    while (true) {
      while (this.#parseOne());
      if (!(await this.#fill())) break;
    }
    this.#push({ type: "eof" });
    this.#done = true;
  }

  #parseOne(): boolean {
    const b = this.#buf;
    const o = this.#off;
    if (b.length - o < 2) return false;
    const fin = (b[o]! & 0x80) !== 0;
    const op = b[o]! & 0x0f;
    let len = b[o + 1]! & 0x7f;
    let at = o + 2;
    if (len === 126) {
      if (b.length - o < 4) return false;
      len = (b[o + 2]! << 8) | b[o + 3]!;
      at = o + 4;
    } else if (len === 127) {
      if (b.length - o < 10) return false;
      len = Number(new DataView(b.buffer, b.byteOffset + o + 2, 8).getBigUint64(0));
      at = o + 10;
    }
    if (b.length < at + len) return false;
    const payload = b.slice(at, at + len);
    this.#off = at + len;
    if (op === 0x8) {
      this.#push({
        type: "close",
        code: len >= 2 ? (payload[0]! << 8) | payload[1]! : null,
        reason: dec.decode(payload.subarray(2)),
      });
    } else if (op === 0x9) this.#push({ type: "ping", bytes: payload });
    else if (op === 0xa) this.#push({ type: "pong", bytes: payload });
    else {
      if (op !== 0) this.#frag = { type: op === 1 ? "text" : "binary", parts: [], frames: 0 };
      const f = this.#frag!;
      f.parts.push(payload);
      f.frames++;
      if (fin) {
        const bytes = f.parts.length === 1 ? f.parts[0]! : concatAll(f.parts);
        this.#frag = null;
        if (f.type === "text") {
          this.#push({ type: "text", text: dec.decode(bytes), bytes, frames: f.frames });
        } else this.#push({ type: "binary", bytes, frames: f.frames });
      }
    }
    return true;
  }

  #push(r: Received): void {
    this.log.push(r);
    const w = this.#waiters.shift();
    if (w) w(r);
    else this.#queue.push(r);
  }

  /** The next item (message, control frame, close or eof); rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Received> {
    const q = this.#queue.shift();
    if (q) return Promise.resolve(q);
    if (this.#done) return Promise.resolve({ type: "eof" });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`nothing received within ${timeoutMs}ms`));
      }, timeoutMs);
      const done = (r: Received) => {
        clearTimeout(t);
        resolve(r);
      };
      this.#waiters.push(done);
    });
  }

  /** The next text message (skipping pings/pongs); fails on anything else. */
  async text(timeoutMs = 5000): Promise<string> {
    const r = await this.nextData(timeoutMs);
    if (r.type !== "text") throw new Error(`expected a text message, got ${JSON.stringify(r)}`);
    return r.text;
  }

  /** The next item that is not a ping or pong. */
  async nextData(timeoutMs = 5000): Promise<Received> {
    while (true) {
      const r = await this.next(timeoutMs);
      if (r.type !== "ping" && r.type !== "pong") return r;
    }
  }

  /** Collects text messages until a close frame or eof; returns both. */
  async collect(timeoutMs = 10000): Promise<{ texts: string[]; end: Received }> {
    const texts: string[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const r = await this.nextData(Math.max(1, deadline - Date.now()));
      if (r.type === "text") texts.push(r.text);
      else if (r.type === "binary") texts.push(`<binary ${r.bytes.length}>`);
      else return { texts, end: r };
    }
  }

  /** Sends raw bytes. */
  async send(bytes: Uint8Array): Promise<void> {
    await writeAll(this.#conn, bytes);
  }

  /** Sends a masked text message. */
  sendText(text: string): Promise<void> {
    return this.send(clientFrame(0x1, enc.encode(text)));
  }

  /** Sends a masked binary message. */
  sendBinary(bytes: Uint8Array): Promise<void> {
    return this.send(clientFrame(0x2, bytes));
  }

  /** Sends a close frame (code null = empty payload). */
  sendClose(code: number | null = 1000, reason = ""): Promise<void> {
    return this.send(
      clientFrame(0x8, code === null ? new Uint8Array(0) : closePayload(code, reason)),
    );
  }

  /** Waits for the server's TCP end (after any frames); returns true if it came. */
  async waitEof(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      let r: Received;
      try {
        r = await this.next(Math.max(1, deadline - Date.now()));
      } catch {
        return false;
      }
      if (r.type === "eof") return true;
    }
  }

  /** Closes politely (close frame, wait for the reply and eof) and releases everything. */
  async close(code = 1000): Promise<void> {
    if (!this.#done) {
      await this.sendClose(code).catch(() => {});
      await this.waitEof(3000);
    }
    await this.drop();
  }

  /** Closes the TCP connection at once and releases everything. */
  async drop(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#reader;
  }
}
