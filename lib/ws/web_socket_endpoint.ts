/**
 * The socket endpoint of an embedded handler: one `WebSocket` from
 * `Deno.upgradeWebSocket`, behind the same {@link SocketEndpoint} interface
 * as the standalone server's raw-socket {@link WsConnection}, so the same
 * {@link pipe} drives it. What the WebSocket API cannot do is replaced here,
 * each with a stated bound:
 *
 * - **No write backpressure event.** `send()` queues without limit, so
 *   {@link WebSocketEndpoint.congested} reads `bufferedAmount` and
 *   {@link WebSocketEndpoint.drain} polls it (first with `setImmediate`,
 *   which yields to I/O, for about a millisecond, then every timer tick).
 * - **No way to stop reading.** While the pipe has paused us, messages are
 *   held here up to {@link WebSocketEndpointOptions.maxQueuedInput} bytes;
 *   one more closes with 1008.
 * - **No fragments.** The framer streams a line over 64 KiB as fragments;
 *   here they are joined and the line is sent whole, up to
 *   {@link WebSocketEndpointOptions.maxLine} bytes; a longer line closes with 1009.
 * - **Close codes.** The WHATWG API lets a script close only with 1000 or
 *   3000–4999. Deno 2.9's server-side sockets send any valid code, and we
 *   send ours as they are; where `close()` refuses one, the code sent is
 *   `4000 + (code − 1000)` (1008 → 4008) with the reason kept ({@link apiCloseCode}).
 * - **Size and UTF-8 checks.** Deno reassembles a message (up to 64 MiB)
 *   before we see it: `maxMessage` is checked on each whole message (1009).
 *   Deno itself drops, without a close frame, a message over 64 MiB and a
 *   text message that is not UTF-8.
 * - **No forced drop.** A peer that never answers our close frame keeps
 *   its TCP connection until it leaves; the session ends after
 *   {@link CLOSE_WAIT_MS} all the same. Deno may also fire no event at all
 *   for a client that left before the 101 went out: a socket that has not
 *   opened after {@link OPEN_WAIT_MS} counts as lost.
 *
 * Every event handler is guarded: an exception in one would otherwise end
 * the whole process.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { CloseInfo, MessageSink, SocketEndpoint } from "../session/endpoints.ts";
import { ByteBuffer } from "../util/bytes.ts";
import { closeReasonBytes, readServerFrames } from "./frames.ts";
import { Close, Op } from "./protocol.ts";
import { CLOSE_WAIT_MS, HIGH_WATER } from "./connection.ts";

export { CLOSE_WAIT_MS };

/** The largest message Deno's WebSocket reassembles; bigger ones it drops without a close frame. */
export const DENO_MESSAGE_CEILING = 64 * 1024 * 1024;
/** Default {@link WebSocketEndpointOptions.maxQueuedInput}: 1 MiB. */
export const DEFAULT_MAX_QUEUED_INPUT = 1024 * 1024;
/** Default {@link WebSocketEndpointOptions.maxLine}: 16 MiB. */
export const DEFAULT_MAX_LINE = 16 * 1024 * 1024;
/** The close reason when the input queue overflows (the same words as a stall). */
export const NOT_READING = "program is not reading its input";

/** Options of a {@link WebSocketEndpoint}. */
export interface WebSocketEndpointOptions {
  /** Largest inbound message in bytes (1009 past it); 0 = Deno's own 64 MiB. */
  maxMessage: number;
  /** Bytes of client messages held while the pipe has paused us; past it, close 1008. */
  maxQueuedInput: number;
  /** Largest output line sent whole when the framer fragmented it; past it, close 1009. */
  maxLine: number;
  /** How long the socket may take to open before the connection counts as lost; default {@link OPEN_WAIT_MS}. */
  openWaitMs?: number;
  /** Told about limits hit and errors caught (for the log). */
  report?: (message: string) => void;
}

/**
 * The close code a script may send for ours: 1000 and 3000–4999 as they are,
 * any other `code` as `4000 + (code − 1000)` (1001 → 4001, 1008 → 4008,
 * 1009 → 4009, 1011 → 4011).
 */
export function apiCloseCode(code: number): number {
  if (code === 1000 || (code >= 3000 && code <= 4999)) return code;
  const mapped = 4000 + (code - 1000);
  return mapped >= 4000 && mapped <= 4999 ? mapped : 4011;
}

/**
 * How long a socket may take to open after the handler returned its 101:
 * Deno fires no event at all for a client that left before the response
 * went out, so without this bound its program would run on.
 */
export const OPEN_WAIT_MS = 10_000;

/** The reason Deno's own ping timeout closes with. */
const DENO_PING_TIMEOUT = "No response from ping frame.";
/** About how long drain() polls with setImmediate before falling back to timers. */
const FAST_POLL_MS = 1;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** An outbound message waiting for the socket to open. */
type Outbound = string | Uint8Array;

/** A {@link SocketEndpoint} over a `WebSocket` from `Deno.upgradeWebSocket`. */
export class WebSocketEndpoint implements SocketEndpoint {
  /** See {@link SocketEndpoint.closed}. */
  readonly closed: Promise<CloseInfo>;
  #ws: WebSocket;
  #opts: WebSocketEndpointOptions;
  #maxMessage: number;
  #sink: MessageSink | null = null;
  #opened = false;
  #ended = false;
  #closeSent = false;
  #localClose: { code: number; reason: string } | null = null;
  #pendingClose: { code: number; reason: string } | null = null;
  #pendingOut: Outbound[] = [];
  #pendingBytes = 0;
  #fragment: ByteBuffer | null = null;
  #fragmentOp = 0;
  #paused = false;
  #inQueue: { binary: boolean; payload: Uint8Array }[] = [];
  #inQueued = 0;
  #deliverScheduled = false;
  #error = "";
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  #drainWaiters: (() => void)[] = [];
  #polling = false;
  #resolveClosed!: (info: CloseInfo) => void;

  /** @param ws The socket of `Deno.upgradeWebSocket`, before its response is returned. */
  constructor(ws: WebSocket, opts: WebSocketEndpointOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.#maxMessage = opts.maxMessage > 0
      ? Math.min(opts.maxMessage, DENO_MESSAGE_CEILING)
      : DENO_MESSAGE_CEILING;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    ws.binaryType = "arraybuffer";
    ws.onopen = this.#guard(() => this.#onOpen());
    ws.onmessage = this.#guard((e: MessageEvent) => this.#onMessage(e.data));
    ws.onerror = this.#guard((e: Event) => {
      this.#error ||= (e as ErrorEvent).message ?? "error";
    });
    ws.onclose = this.#guard((e: CloseEvent) => this.#onClose(e));
    this.#openTimer = setTimeout(() => {
      this.#error ||= "the socket never opened";
      this.#finish();
    }, opts.openWaitMs ?? OPEN_WAIT_MS);
  }

  /** See {@link SocketEndpoint.start}. */
  start(sink: MessageSink): void {
    this.#sink ??= sink;
  }

  /** See {@link SocketEndpoint.open}. */
  get open(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /** See {@link SocketEndpoint.queued}: messages waiting for the open plus `bufferedAmount`. */
  get queued(): number {
    let buffered = 0;
    try {
      buffered = this.#ws.bufferedAmount;
    } catch { /* a closed socket holds nothing */ }
    return this.#pendingBytes + buffered;
  }

  /** See {@link SocketEndpoint.congested}. */
  get congested(): boolean {
    return !this.#ended && this.queued > HIGH_WATER;
  }

  /** See {@link SocketEndpoint.drain}. */
  drain(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    if (!this.#polling) this.#poll();
    return p;
  }

  /**
   * See {@link SocketEndpoint.send}: walks the pre-built frames and sends each
   * message with the API, a fragmented one whole once its last fragment came.
   */
  send(frames: Uint8Array): void {
    if (!this.open) return;
    for (const f of readServerFrames(frames)) {
      if (f.opcode === Op.text || f.opcode === Op.binary) {
        if (f.fin) this.#emit(f.opcode, f.payload);
        else {
          this.#fragmentOp = f.opcode;
          this.#fragment = new ByteBuffer(Math.min(2 * f.payload.length, this.#opts.maxLine));
          if (!this.#addFragment(f.payload)) return;
        }
      } else if (f.opcode === Op.continuation && this.#fragment) {
        if (!this.#addFragment(f.payload)) return;
        if (f.fin) {
          const whole = this.#fragment.view();
          this.#fragment = null;
          this.#emit(this.#fragmentOp, whole);
        }
      }
      // control frames are not sent through send(): close() is the API's
    }
  }

  /** See {@link SocketEndpoint.pause}: later messages are held, up to the stated bound. */
  pause(): void {
    this.#paused = true;
  }

  /** See {@link SocketEndpoint.resume}: held messages go on, after the current call returns. */
  resume(): void {
    this.#paused = false;
    if (this.#inQueue.length && !this.#deliverScheduled) {
      this.#deliverScheduled = true;
      // not from inside the caller's loop over paused sockets (it may pause us again)
      queueMicrotask(this.#guard(() => {
        this.#deliverScheduled = false;
        this.#deliverHeld();
      }));
    }
  }

  /**
   * See {@link SocketEndpoint.close}. Before the socket is open the close
   * waits for it (after every message sent so far); the session ends when the
   * peer answers or after {@link CLOSE_WAIT_MS}.
   */
  close(code: number, reason = ""): void {
    if (this.#closeSent || this.#ended) return;
    this.#closeSent = true;
    this.#localClose = { code, reason };
    this.#fragment = null;
    this.#inQueue = [];
    this.#inQueued = 0;
    if (this.#opened) this.#sendClose(code, reason);
    else this.#pendingClose = { code, reason };
    this.#closeTimer = setTimeout(() => this.#finish(), CLOSE_WAIT_MS);
  }

  /** See {@link SocketEndpoint.destroy}: the API has no abort, so this closes with 1011. */
  destroy(): void {
    this.close(Close.internalError, "");
    this.#finish();
  }

  #onOpen(): void {
    this.#opened = true;
    clearTimeout(this.#openTimer);
    const out = this.#pendingOut;
    this.#pendingOut = [];
    this.#pendingBytes = 0;
    for (const m of out) this.#ws.send(m);
    if (this.#pendingClose) this.#sendClose(this.#pendingClose.code, this.#pendingClose.reason);
    this.#pendingClose = null;
  }

  #onMessage(data: unknown): void {
    if (this.#closeSent || this.#ended || !this.#sink) return;
    const binary = typeof data !== "string";
    const payload = binary ? new Uint8Array(data as ArrayBuffer) : encoder.encode(data as string);
    if (payload.length > this.#maxMessage) {
      this.close(Close.tooBig, `message over ${this.#maxMessage} bytes`);
      return;
    }
    if (this.#paused || this.#inQueue.length) {
      if (this.#inQueued + payload.length > this.#opts.maxQueuedInput) {
        this.#opts.report?.(
          `More than ${this.#opts.maxQueuedInput} bytes of input wait for a program that is not reading; closing`,
        );
        this.close(Close.policyViolation, NOT_READING);
        return;
      }
      this.#inQueue.push({ binary, payload });
      this.#inQueued += payload.length;
      return;
    }
    this.#sink.message(binary, payload);
    this.#sink.batchEnd();
  }

  /** Hands held messages on in batches of up to 64 KiB, until the pipe pauses us again. */
  #deliverHeld(): void {
    const sink = this.#sink;
    if (!sink) return;
    while (!this.#paused && this.#inQueue.length) {
      let batch = 0;
      while (this.#inQueue.length && batch < 65536) {
        const m = this.#inQueue.shift()!;
        this.#inQueued -= m.payload.length;
        batch += m.payload.length;
        sink.message(m.binary, m.payload);
      }
      sink.batchEnd();
    }
  }

  #onClose(e: CloseEvent): void {
    if (this.#ended) return;
    if (!this.#localClose) {
      if (e.reason === DENO_PING_TIMEOUT || this.#error === DENO_PING_TIMEOUT) {
        // Deno's idleTimeout closed it (with 1001 and its own reason)
        this.#localClose = { code: Close.goingAway, reason: "ping timeout" };
      } else if (e.wasClean && e.code > 0) {
        // input the client sent before leaving still goes to the program
        this.#paused = false;
        this.#deliverHeld();
        return this.#finish({ code: e.code, reason: e.reason, by: "peer" });
      }
    }
    this.#finish();
  }

  #finish(info?: CloseInfo): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#openTimer);
    this.#inQueue = [];
    this.#inQueued = 0;
    this.#fragment = null;
    this.#wakeDrainers();
    this.#resolveClosed(
      info ??
        (this.#localClose
          ? { ...this.#localClose, by: "server" }
          : { code: Close.abnormal, reason: this.#error || "connection lost", by: "network" }),
    );
  }

  #emit(opcode: number, payload: Uint8Array): void {
    const m: Outbound = opcode === Op.text ? decoder.decode(payload) : payload.slice();
    if (!this.#opened) {
      this.#pendingOut.push(m);
      this.#pendingBytes += payload.length;
      return;
    }
    try {
      this.#ws.send(m);
    } catch { /* closing: nothing more reaches the client */ }
  }

  /** Adds a fragment to the line being joined; false (and 1009) when it grows past the bound. */
  #addFragment(payload: Uint8Array): boolean {
    const buf = this.#fragment!;
    if (buf.length + payload.length > this.#opts.maxLine) {
      this.#opts.report?.(`An output line is over ${this.#opts.maxLine} bytes; closing`);
      this.close(Close.tooBig, `output line over ${this.#opts.maxLine} bytes`);
      return false;
    }
    buf.append(payload);
    return true;
  }

  #sendClose(code: number, reason: string): void {
    const text = decoder.decode(closeReasonBytes(reason));
    try {
      this.#ws.close(code, text);
    } catch {
      // a runtime that keeps to the WHATWG rule for server sockets too
      try {
        this.#ws.close(apiCloseCode(code), text);
      } catch { /* already closed */ }
    }
  }

  /** Polls bufferedAmount for drain(): setImmediate for ~1 ms, then timer ticks. */
  #poll(): void {
    this.#polling = true;
    const started = performance.now();
    const check = () => {
      if (!this.congested) {
        this.#polling = false;
        return this.#wakeDrainers();
      }
      if (performance.now() - started < FAST_POLL_MS) setImmediate(check);
      else setTimeout(check, 1);
    };
    setImmediate(check);
  }

  #wakeDrainers(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  /** Wraps an event handler: an exception ends this connection (1011), never the process. */
  #guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (e) {
        try {
          this.#opts.report?.(`WebSocket handler failed: ${e instanceof Error ? e.stack : e}`);
          this.destroy();
        } catch { /* nothing else may escape an event handler */ }
      }
    };
  }
}
