/**
 * The socket endpoint of the standalone server: one WebSocket connection
 * over a raw `node:net` socket after the 101, with real backpressure both
 * ways, keep-alive pings and the closing handshake.
 *
 * What it holds for one client, at most: the parser's budget
 * ({@link FrameParser.budget}), the outbound queue up to {@link HIGH_WATER}
 * plus the frames of one output chunk (its owner waits for {@link drain}),
 * and one pending pong (RFC 6455 §5.5.3 lets pongs for several pings be one).
 *
 * @module
 */

import type { Duplex } from "node:stream";
import type { CloseInfo, MessageSink, SocketEndpoint } from "../session/endpoints.ts";
import { closeFrame, frame } from "./frames.ts";
import { FrameParser } from "./parser.ts";
import { Close, Op } from "./protocol.ts";

/** Options for {@link WsConnection}. */
export interface WsOptions {
  /** Largest inbound message in bytes; 0 = no limit. */
  maxMessage: number;
  /** Ping interval in ms; the peer must answer within twice this. 0 = no pings. */
  pingMs: number;
}

/** Bytes queued in user space before {@link WsConnection.congested} says stop. */
export const HIGH_WATER = 256 * 1024;
/** How long we wait for the peer's close frame, or its FIN after ours, before dropping TCP. */
export const CLOSE_WAIT_MS = 1000;

/**
 * One WebSocket connection over an already-upgraded socket. Sending takes
 * pre-built frames; receiving is paused and resumed by the caller.
 */
export class WsConnection implements SocketEndpoint {
  /** See {@link SocketEndpoint.closed}. */
  readonly closed: Promise<CloseInfo>;
  #socket: Duplex;
  #head: Uint8Array;
  #opts: WsOptions;
  #parser: FrameParser | null = null;
  #sink: MessageSink | null = null;
  #closeSent = false;
  #ended = false;
  #destroyTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #lastSeen = Date.now();
  #drainWaiters: (() => void)[] = [];
  #pendingPong: Uint8Array | null = null;
  #peerClose: { code: number; reason: string } | null = null;
  #localClose: { code: number; reason: string } | null = null;
  #resolveClosed!: (info: CloseInfo) => void;

  /**
   * @param socket The raw socket of an accepted handshake (the 101 is written by the caller).
   * @param head Bytes that arrived with the handshake.
   */
  constructor(socket: Duplex, head: Uint8Array, opts: WsOptions) {
    this.#socket = socket;
    this.#head = head;
    this.#opts = opts;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    // small frames must not wait for ACKs of earlier ones (Nagle + delayed ACK = 40 ms)
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(this.#destroyTimer);
      this.#finish();
    });
    socket.on("drain", () => this.#onDrain());
  }

  /** See {@link SocketEndpoint.start}. */
  start(sink: MessageSink): void {
    if (this.#parser) return;
    this.#sink = sink;
    this.#parser = new FrameParser({
      // once we have said goodbye, nobody is left to read further messages
      message: (binary, payload) => this.#closeSent || sink.message(binary, payload),
      ping: (payload) => this.#pong(payload),
      pong: () => {},
      close: (code, reason) => this.#onPeerClose(code, reason),
      fail: (code, reason) => {
        // a broken peer gets no closing handshake: send the code, end TCP, done
        this.close(code, reason);
        this.#endTcp();
        sink.batchEnd();
        this.#finish();
      },
    }, this.#opts.maxMessage);
    const socket = this.#socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#lastSeen = Date.now();
      if (this.#peerClose || this.#parser!.failed) return;
      // a plain view: subarrays of a node Buffer would each allocate a Buffer
      this.#parser!.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      sink.batchEnd();
    });
    socket.on("end", () => {
      // peer half-closed; we never half-open, so end our side too
      if (!this.#ended && !socket.writableEnded) socket.end();
    });
    // the FIN may have come while the upgrade waited its spawn turn: no "end" event follows
    if (socket.readableEnded && !socket.writableEnded) socket.end();
    if (this.#opts.pingMs > 0) this.#startPings(this.#opts.pingMs);
    if (this.#head.length > 0) {
      this.#parser.push(new Uint8Array(this.#head));
      sink.batchEnd();
    }
    this.#head = new Uint8Array(0);
  }

  /** See {@link SocketEndpoint.open}. */
  get open(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /** See {@link SocketEndpoint.congested}. */
  get congested(): boolean {
    return this.#socket.writableLength > HIGH_WATER;
  }

  /** See {@link SocketEndpoint.queued}. */
  get queued(): number {
    return this.#socket.writableLength;
  }

  /** See {@link SocketEndpoint.drain}. */
  drain(): Promise<void> {
    if (!this.congested || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** See {@link SocketEndpoint.send}. */
  send(frames: Uint8Array): void {
    if (this.open) this.#write(frames);
  }

  /** See {@link SocketEndpoint.pause}. */
  pause(): void {
    this.#socket.pause();
  }

  /** See {@link SocketEndpoint.resume}. */
  resume(): void {
    this.#socket.resume();
  }

  /**
   * Starts the closing handshake: sends a close frame (once), then ends TCP
   * when the peer answers or after {@link CLOSE_WAIT_MS}. Nothing is written
   * after the close frame (RFC 6455 §5.5.1).
   */
  close(code: number, reason = ""): void {
    if (this.#closeSent || this.#ended) return;
    this.#localClose = { code, reason };
    this.#write(closeFrame(code, reason));
    this.#closeSent = true;
    clearInterval(this.#pingTimer);
    this.#destroyTimer = setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS);
  }

  /** See {@link SocketEndpoint.destroy}. */
  destroy(): void {
    this.#socket.destroy();
  }

  #startPings(ms: number): void {
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastSeen > 2 * ms) {
        this.close(Close.goingAway, "ping timeout");
        this.#socket.destroy();
        return;
      }
      // a client that is not reading gets no more pings queued behind its backlog
      if (!this.congested) this.#control(frame(Op.ping, new Uint8Array(0)));
    }, ms);
  }

  /** Answers a ping; while the client is not reading, only the latest ping is answered, later. */
  #pong(payload: Uint8Array): void {
    if (this.congested) this.#pendingPong = payload.slice();
    else this.#control(frame(Op.pong, payload));
  }

  #onPeerClose(code: number | undefined, reason: string): void {
    this.#peerClose = { code: code ?? Close.noStatus, reason };
    if (!this.#closeSent) {
      // echo the code, as websocketd does; an empty close gets an empty close
      this.#write(code === undefined ? frame(Op.close, new Uint8Array(0)) : closeFrame(code, ""));
      this.#closeSent = true;
      clearInterval(this.#pingTimer);
    }
    this.#endTcp();
    // messages that came before the close in the same read go to the program first
    this.#sink?.batchEnd();
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

  /** Control frames (ping, pong) may not follow our close frame. */
  #control(bytes: Uint8Array): void {
    if (!this.#closeSent) this.#write(bytes);
  }

  #write(bytes: Uint8Array): void {
    if (this.#ended || this.#socket.destroyed) return;
    this.#socket.write(bytes);
  }

  #onDrain(): void {
    if (this.congested && !this.#ended) return;
    if (this.#pendingPong) {
      const p = this.#pendingPong;
      this.#pendingPong = null;
      this.#control(frame(Op.pong, p));
    }
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#pingTimer);
    this.#pendingPong = null;
    this.#onDrain();
    let info: CloseInfo;
    if (this.#localClose) info = { ...this.#localClose, by: "server" };
    else if (this.#peerClose) info = { ...this.#peerClose, by: "peer" };
    else info = { code: Close.abnormal, reason: "connection lost", by: "network" };
    this.#resolveClosed(info);
  }
}
