/**
 * The socket endpoint: the WebSocket handshake check, the 101 response, and
 * one connection over a raw `node:net` socket with real backpressure in both
 * directions, keep-alive pings and the closing handshake.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { Close, frame, FrameParser, isValidCloseCode, Op } from "./wsframe.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a client key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Whether a comma/space separated header value contains `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  const want = token.toLowerCase();
  return value.toLowerCase().split(/[\s,]+/).includes(want);
}

/** Why a handshake was refused: an HTTP status, a body and extra headers. */
export interface Refusal {
  /** HTTP status code. */
  status: number;
  /** Body text. */
  body: string;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/**
 * Validates the protocol part of a WebSocket handshake, in gorilla's order
 * (method, version, key). Origin policy is checked separately.
 *
 * @returns `null` when the handshake is acceptable.
 */
export function checkHandshake(
  method: string,
  headers: Record<string, string | string[] | undefined>,
): Refusal | null {
  if (method !== "GET") return { status: 405, body: "Method Not Allowed\n" };
  if (headers["sec-websocket-version"] !== "13") {
    return {
      status: 400,
      body: "Bad Request: unsupported Sec-WebSocket-Version (need 13)\n",
      headers: { "Sec-WebSocket-Version": "13" },
    };
  }
  const key = headers["sec-websocket-key"];
  if (typeof key !== "string" || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return { status: 400, body: "Bad Request: missing or malformed Sec-WebSocket-Key\n" };
  }
  return null;
}

/** Offered subprotocols, in client order. */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(",") : header ?? "";
  return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Writes a complete HTTP/1.1 response on a raw socket and closes it. */
export function writeRawResponse(
  socket: Duplex,
  status: number,
  statusText: string,
  headers: [string, string][],
  body: string,
): void {
  const bytes = new TextEncoder().encode(body);
  let head = `HTTP/1.1 ${status} ${statusText}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  head += `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  socket.end(concat(new TextEncoder().encode(head), bytes));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** How a connection ended. */
export interface CloseInfo {
  /** Close code: the peer's, ours, or 1006 when TCP ended without a close frame. */
  code: number;
  /** Close reason text. */
  reason: string;
  /** Who ended it. */
  by: "peer" | "server" | "network";
}

/** Options for {@link WsConnection}. */
export interface WsOptions {
  /** Largest inbound message in bytes; 0 = no limit. */
  maxMessage: number;
  /** Ping interval in ms; the peer must answer within twice this. 0 = no pings. */
  pingMs: number;
  /** A complete message from the client; payload valid only during the call. */
  onMessage(binary: boolean, payload: Uint8Array): void;
  /** All messages of one network read have been delivered. */
  onBatchEnd(): void;
  /** The connection is over; called exactly once. */
  onClose(info: CloseInfo): void;
}

/** Bytes queued in user space before {@link WsConnection.needsDrain} says stop. */
const HIGH_WATER = 256 * 1024;
/** How long we wait for the peer's close frame after sending ours. */
const CLOSE_WAIT_MS = 1000;

/**
 * One WebSocket connection over an already-upgraded socket. Sending is
 * batched by the caller (pre-built frames); receiving is paused and resumed
 * by the caller for backpressure.
 */
export class WsConnection {
  #socket: Duplex;
  #opts: WsOptions;
  #parser: FrameParser;
  #closeSent = false;
  #ended = false;
  #destroyTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #lastSeen = Date.now();
  #drainWaiters: (() => void)[] = [];
  #peerClose: { code: number; reason: string } | null = null;
  #localClose: { code: number; reason: string } | null = null;

  /**
   * @param socket The raw socket after the 101 response was written.
   * @param head Bytes that arrived with the handshake.
   */
  constructor(socket: Duplex, head: Uint8Array, opts: WsOptions) {
    this.#socket = socket;
    this.#opts = opts;
    this.#parser = new FrameParser({
      // once we have said goodbye, nobody is left to read further messages
      message: (binary, payload) => this.#closeSent || opts.onMessage(binary, payload),
      ping: (payload) => this.#write(frame(Op.pong, payload)),
      pong: () => {},
      close: (code, reason) => this.#onPeerClose(code, reason),
      fail: (code, reason) => {
        // a broken peer gets no closing handshake: send the code, end TCP, done
        this.close(code, reason);
        this.#endTcp();
        opts.onBatchEnd();
        this.#finish();
      },
    }, opts.maxMessage);
    socket.on("data", (chunk: Uint8Array) => {
      this.#lastSeen = Date.now();
      if (this.#peerClose || this.#parser.failed) return;
      // a plain view: subarrays of a node Buffer would each allocate a Buffer
      this.#parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      opts.onBatchEnd();
    });
    socket.on("drain", () => this.#wakeDrain());
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(this.#destroyTimer);
      this.#finish();
    });
    socket.on("end", () => {
      // peer half-closed; we never half-open, so end our side too
      if (!this.#ended && !socket.writableEnded) socket.end();
    });
    // the FIN may have come while the upgrade waited its spawn turn: no "end" event follows
    if (socket.readableEnded && !socket.writableEnded) socket.end();
    if (opts.pingMs > 0) {
      this.#pingTimer = setInterval(() => {
        if (Date.now() - this.#lastSeen > 2 * opts.pingMs) {
          this.close(Close.goingAway, "ping timeout");
          this.#socket.destroy();
          return;
        }
        this.#write(frame(Op.ping, new Uint8Array(0)));
      }, opts.pingMs);
    }
    if (head.length > 0) {
      this.#parser.push(new Uint8Array(head));
      opts.onBatchEnd();
    }
  }

  /** Whether messages may still be sent. */
  get open(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /** Whether the caller should wait for {@link drain} before writing more. */
  get needsDrain(): boolean {
    return this.#socket.writableLength > HIGH_WATER;
  }

  /** Resolves when the send queue is below the high-water mark (or the socket is gone). */
  drain(): Promise<void> {
    if (!this.needsDrain || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Sends pre-built frames (see `wsframe.ts`). Ignored once closing. */
  sendFrames(frames: Uint8Array): void {
    if (this.open) this.#write(frames);
  }

  /** Sends one text message. */
  sendText(text: string): void {
    this.sendFrames(frame(Op.text, new TextEncoder().encode(text)));
  }

  /** Stops reading from the client (inbound backpressure). */
  pause(): void {
    this.#socket.pause();
  }

  /** Resumes reading from the client. */
  resume(): void {
    this.#socket.resume();
  }

  /**
   * Starts the closing handshake: sends a close frame (once), then ends TCP
   * when the peer answers or after a short wait.
   */
  close(code: number, reason = ""): void {
    if (this.#closeSent || this.#ended) return;
    this.#closeSent = true;
    this.#localClose = { code, reason };
    this.#write(closeFrame(code, reason));
    this.#destroyTimer = setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS);
  }

  /** Drops the TCP connection at once, without a close frame. */
  destroy(): void {
    this.#socket.destroy();
  }

  #onPeerClose(code: number | undefined, reason: string): void {
    this.#peerClose = { code: code ?? Close.noStatus, reason };
    if (!this.#closeSent) {
      // echo the code, as websocketd does; an empty close gets an empty close
      this.#closeSent = true;
      this.#write(code === undefined ? frame(Op.close, new Uint8Array(0)) : closeFrame(code, ""));
    }
    this.#endTcp();
    // messages that came before the close in the same read go to the program first
    this.#opts.onBatchEnd();
    // the closing handshake is complete: the session is over, whatever the peer's TCP does
    this.#finish();
  }

  /** Sends FIN, keeps reading to see the peer's, and drops TCP if it does not come soon. */
  #endTcp(): void {
    this.#socket.end();
    this.#socket.resume();
    clearTimeout(this.#destroyTimer);
    this.#destroyTimer = setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS);
  }

  #write(bytes: Uint8Array): void {
    if (this.#ended || this.#socket.destroyed) return;
    this.#socket.write(bytes);
  }

  #wakeDrain(): void {
    if (this.needsDrain && !this.#ended) return;
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#pingTimer);
    this.#wakeDrain();
    let info: CloseInfo;
    if (this.#localClose) info = { ...this.#localClose, by: "server" };
    else if (this.#peerClose) info = { ...this.#peerClose, by: "peer" };
    else info = { code: Close.abnormal, reason: "connection lost", by: "network" };
    this.#opts.onClose(info);
  }
}

/** Builds a close frame, truncating the reason to the 123 bytes a frame allows. */
export function closeFrame(code: number, reason: string): Uint8Array {
  const c = isValidCloseCode(code) ? code : Close.internalError;
  let r = new TextEncoder().encode(reason);
  if (r.length > 123) {
    // cut at a character boundary: a close reason must stay valid UTF-8
    let end = 123;
    while (end > 0 && (r[end]! & 0xc0) === 0x80) end--;
    r = r.subarray(0, end);
  }
  const p = new Uint8Array(2 + r.length);
  p[0] = c >> 8;
  p[1] = c & 0xff;
  p.set(r, 2);
  return frame(Op.close, p);
}
