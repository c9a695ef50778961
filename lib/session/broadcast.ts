/**
 * Broadcast mode: `fanout(ProcessEndpoint, SocketEndpoint[])`. One running
 * program shared by every client of its route; the other composition of
 * the same endpoints as `pipe()`.
 *
 * Rules it owns:
 * - **output**: each stdout chunk is framed once, and the same frame bytes go
 *   to every client, in the same order for all; a client never waits for
 *   another and the program never waits for any client;
 * - **slow clients**: a client whose unsent output would pass
 *   `queueBytes` is closed with 1008; so memory stays within
 *   clients × `queueBytes` + the replay ring;
 * - **late joiners** get the last `replay` messages first, and join at a
 *   message boundary (never in the middle of a fragmented line);
 * - **input** from any client goes to stdin whole ({@link InputQueue}); with
 *   `input: "none"` a message closes its client with 1003;
 * - **lifecycle**: the last client leaving stops the program after
 *   `lingerMs`; the program's exit sends every client the rest of its output,
 *   then 1000 with the status.
 *
 * @module
 */

import { describeStatus } from "../process/program.ts";
import { drainStderr } from "../process/stderr.ts";
import { ByteBuffer } from "../util/bytes.ts";
import type { Fields, Logger } from "../util/log.ts";
import { readServerFrames } from "../ws/frames.ts";
import { Close } from "../ws/protocol.ts";
import type { CloseInfo, MessageSink, ProcessEndpoint, SocketEndpoint } from "./endpoints.ts";
import { BinaryFramer, type Framer, LineFramer } from "./framing.ts";
import { InputQueue } from "./input.ts";

/** Largest message kept for replay; longer ones (streamed in fragments) are not replayed. */
export const REPLAY_MESSAGE_MAX = 64 * 1024;

/** Settings of one broadcast. */
export interface BroadcastOptions {
  /** --binary. */
  binary: boolean;
  /** --passstderr. */
  passStderr: boolean;
  /** --broadcast-input: whether clients may send input. */
  input: "all" | "none";
  /** --broadcast-replay: messages a late joiner gets first. */
  replay: number;
  /** --broadcast-queue: bytes a client may fall behind before it is closed. */
  queueBytes: number;
  /** --broadcast-linger: how long the program outlives its last client. */
  lingerMs: number;
  /** Inbound bytes queued for stdin before the senders are paused. */
  inboundHighWater: number;
  /** --stallms. */
  stallMs: number;
  /** Logger. */
  log: Logger;
  /** The instance's log context (its first client's, with the pid). */
  fields: Fields;
  /** Messages fanned out: `messages` new ones delivered to `deliveries` clients in all. */
  onFanout?: (messages: number, deliveries: number) => void;
  /** A client was closed for falling behind. */
  onSlowClient?: () => void;
  /** The instance stops taking clients (it is ending): forget it. */
  onEnding?: () => void;
}

/** What one client's time in a broadcast came to. */
export interface SubscriberSummary {
  /** How its connection closed. */
  close: CloseInfo;
  /** Messages it was sent. */
  messagesOut: number;
  /** Milliseconds from join to close. */
  durationMs: number;
}

interface Subscriber {
  socket: SocketEndpoint;
  /** Its own log context (the slow-client line must name this client, not the first one). */
  fields: Fields;
  /** Waiting for a message boundary before it may receive. */
  pending: boolean;
  messagesOut: number;
}

/** One program fanned out to many clients. */
export class Broadcast {
  /** Resolves with the exit status once the program is reaped and every client closed. */
  readonly done: Promise<string>;
  #process: ProcessEndpoint;
  #opts: BroadcastOptions;
  #subs = new Set<Subscriber>();
  #input: InputQueue;
  #stdout: Framer;
  #stderr: Framer | null;
  #replay: Uint8Array[] = [];
  #replayBytes = 0;
  #partial = new ByteBuffer();
  #partialTooBig = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #accepting = true;

  constructor(process: ProcessEndpoint, opts: BroadcastOptions) {
    this.#process = process;
    this.#opts = opts;
    this.#input = new InputQueue(process, {
      binary: opts.binary,
      highWater: opts.inboundHighWater,
      stallMs: opts.stallMs,
      log: opts.log,
      fields: () => opts.fields,
    });
    this.#stdout = opts.binary
      ? new BinaryFramer()
      : new LineFramer(opts.passStderr ? "stdout" : null);
    this.#stderr = opts.passStderr ? new LineFramer("stderr") : null;
    this.done = this.#run();
  }

  /** Whether new clients may join (false once it is ending). */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** Clients connected now. */
  get size(): number {
    return this.#subs.size;
  }

  /** The program's pid. */
  get pid(): number {
    return this.#process.pid;
  }

  /**
   * Adds a client (whose 101 is written); resolves when it has left. Late
   * joiners get the replay first, at a message boundary. `fields` name the
   * client in log lines about it alone (default: the instance's).
   */
  join(socket: SocketEndpoint, fields: Fields = this.#opts.fields): Promise<SubscriberSummary> {
    const started = performance.now();
    clearTimeout(this.#linger);
    const sub: Subscriber = { socket, fields, pending: true, messagesOut: 0 };
    this.#subs.add(sub);
    this.#opts.log.trace("session", this.#opts.fields, `Client joined (${this.#subs.size} now)`);
    socket.start(this.#opts.input === "all" ? this.#input.sinkFor(socket) : readOnly(socket));
    if (!this.#open()) this.#activate(sub);
    return socket.closed.then((close) => {
      this.#subs.delete(sub);
      this.#input.forget(socket);
      if (this.#subs.size === 0 && this.#accepting) this.#armLinger();
      return {
        close,
        messagesOut: sub.messagesOut,
        durationMs: Math.round(performance.now() - started),
      };
    });
  }

  /** Ends it because the server stops: 1001 to every client, then the stop ladder. */
  shutdown(reason: string): void {
    this.#ending();
    for (const s of this.#subs) s.socket.close(Close.goingAway, reason);
    void this.#process.stop();
  }

  async #run(): Promise<string> {
    const { log, fields } = this.#opts;
    const stdout = (async () => {
      while (true) {
        const chunk = await this.#process.stdout.read();
        if (!chunk) break;
        this.#frame(this.#stdout, (f) => f.push(chunk));
      }
      this.#frame(this.#stdout, (f) => f.finish());
    })();
    const line = log.enabled("error") ? (l: string) => log.error("stderr", fields, l) : null;
    const stderrFramer = this.#stderr;
    const stderr = drainStderr(
      this.#process.stderr,
      line,
      stderrFramer ? (b) => this.#frame(stderrFramer, (f) => f.push(b)) : undefined,
    ).then(() => stderrFramer && this.#frame(stderrFramer, (f) => f.finish()));
    await (this.#opts.passStderr ? Promise.all([stdout, stderr]) : stdout);
    this.#ending();
    this.#input.end();
    await this.#process.stop();
    const status = describeStatus(await this.#process.status);
    // every client gets what the program printed, then how it ended
    for (const s of this.#subs) s.socket.close(Close.normal, status);
    await Promise.all([
      this.#process.stdout.cancel(),
      this.#process.stderr.cancel(),
      stdout,
      stderr,
    ]);
    await Promise.all([...this.#subs].map((s) => s.socket.closed));
    return status;
  }

  /** No more clients: forget the instance, let the program go. */
  #ending(): void {
    if (!this.#accepting) return;
    this.#accepting = false;
    clearTimeout(this.#linger);
    this.#opts.onEnding?.();
  }

  #armLinger(): void {
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      if (this.#subs.size > 0) return;
      this.#opts.log.debug("session", this.#opts.fields, "Last client gone: stopping the program");
      this.#ending();
      this.#input.end();
      void this.#process.stop();
    }, this.#opts.lingerMs);
  }

  /** Whether a fragmented message is open (a joiner must wait for its end). */
  #open(): boolean {
    return this.#stdout.open || (this.#stderr?.open ?? false);
  }

  /** Sends the replay and lets the client receive from now on. */
  #activate(sub: Subscriber): void {
    sub.pending = false;
    let sent = 0;
    for (const message of this.#replay) if (this.#send(sub, message, 1)) sent++;
    // replayed messages are sent too: they count in websocketd_broadcast_messages_total
    if (sent) this.#opts.onFanout?.(0, sent);
  }

  /** Frames output with `framer` and delivers them, counting the messages they complete. */
  #frame(framer: Framer, make: (f: Framer) => Uint8Array | null): void {
    const before = framer.messages;
    const frames = make(framer);
    if (frames) this.#deliver(frames, framer.messages - before);
  }

  /** Frames of one output chunk → every client. */
  #deliver(frames: Uint8Array, messages: number): void {
    let deliveries = 0;
    for (const sub of this.#subs) {
      if (!sub.pending && this.#send(sub, frames, messages)) deliveries++;
    }
    this.#opts.onFanout?.(messages, deliveries * messages);
    if (this.#opts.replay > 0) this.#record(frames);
    // joiners waiting for a message boundary: this chunk ended the open message
    if (!this.#open()) { for (const sub of this.#subs) if (sub.pending) this.#activate(sub); }
  }

  /** Queues frames for one client, or closes it if it fell too far behind. */
  #send(sub: Subscriber, frames: Uint8Array, messages: number): boolean {
    const socket = sub.socket;
    if (!socket.open) return false;
    if (socket.queued + frames.length > this.#opts.queueBytes) {
      this.#opts.onSlowClient?.();
      // the client being closed, not the instance's first client
      this.#opts.log.error(
        "session",
        { ...sub.fields, pid: this.pid },
        `Client fell more than ${this.#opts.queueBytes} bytes behind; closing it`,
      );
      socket.close(
        Close.policyViolation,
        `too slow: more than ${this.#opts.queueBytes} bytes behind`,
      );
      return false;
    }
    socket.send(frames);
    sub.messagesOut += messages;
    return true;
  }

  /** Keeps the last complete messages (as frames) for late joiners. */
  #record(frames: Uint8Array): void {
    let start = 0;
    for (const f of readServerFrames(frames)) {
      const end = f.payload.byteOffset - frames.byteOffset + f.payload.length;
      if (!this.#partialTooBig) {
        if (this.#partial.length + (end - start) > REPLAY_MESSAGE_MAX) {
          this.#partialTooBig = true;
          this.#partial.clear();
        } else this.#partial.append(frames.subarray(start, end));
      }
      start = end;
      if (!f.fin) continue;
      if (!this.#partialTooBig) this.#keep(this.#partial.take());
      this.#partial.clear();
      this.#partialTooBig = false;
    }
  }

  #keep(message: Uint8Array): void {
    this.#replay.push(message);
    this.#replayBytes += message.length;
    // the ring may not make a joiner "slow" before it received anything
    while (
      this.#replay.length > this.#opts.replay || this.#replayBytes > this.#opts.queueBytes / 2
    ) this.#replayBytes -= this.#replay.shift()!.length;
  }
}

/** A read-only client's sink: its first message closes it with 1003. */
function readOnly(socket: SocketEndpoint): MessageSink {
  return {
    message: () => socket.close(Close.unsupportedData, "read-only: this broadcast takes no input"),
    batchEnd: () => {},
  };
}
