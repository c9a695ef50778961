/**
 * Fakes for in-process tests: the two session endpoints of `pipe()` (a
 * program and a client that the test drives by hand, and that record
 * everything the pipe did to them), a logger that keeps its lines, and the
 * facts of a request. No process, no socket, no timer of their own: a test
 * of the pipe runs in milliseconds and sees every step in order.
 *
 * @module
 */

import type {
  ByteReader,
  CloseInfo,
  ExitStatus,
  LadderStep,
  MessageSink,
  ProcessEndpoint,
  SocketEndpoint,
} from "../../lib/session/endpoints.ts";
import { closeFrame, readServerFrames } from "../../lib/ws/frames.ts";
import { Close, Op } from "../../lib/ws/protocol.ts";
import type { RoutedFacts } from "../../lib/http/request.ts";
import { type Level, Logger } from "../../lib/util/log.ts";
import { concatAll } from "../../testing/wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes from text (UTF-8) or bytes as given. */
export function bytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? enc.encode(data) : data;
}

/** Lets every queued promise reaction run (the pipe's steps are all promise reactions). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** A promise with its resolver, for steps the test decides. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A pipe end the test fills: chunks queued with {@link push}, EOF with {@link end}. */
export class FakeReader implements ByteReader {
  /** Calls of {@link read} so far (the pipe reads once per chunk, plus once for EOF). */
  reads = 0;
  /** Whether the pipe cancelled the reader. */
  cancelled = false;
  #queue: Uint8Array[] = [];
  #ended = false;
  #waiter: ((chunk: Uint8Array | null) => void) | null = null;

  /** Queues a chunk (or hands it to a pending read). */
  push(data: string | Uint8Array): void {
    if (this.#ended) throw new Error("push after end");
    const chunk = bytes(data);
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      w(chunk);
    } else this.#queue.push(chunk);
  }

  /** EOF after what is queued. */
  end(): void {
    this.#ended = true;
    if (this.#waiter && this.#queue.length === 0) {
      const w = this.#waiter;
      this.#waiter = null;
      w(null);
    }
  }

  /** Chunks queued and not read yet. */
  get pending(): number {
    return this.#queue.length;
  }

  /** See {@link ByteReader.read}. */
  read(): Promise<Uint8Array | null> {
    this.reads++;
    if (this.#waiter) throw new Error("two reads at once");
    const chunk = this.#queue.shift();
    if (chunk) return Promise.resolve(chunk);
    if (this.#ended || this.cancelled) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  /** See {@link ByteReader.cancel}: what is queued is discarded, a pending read gets EOF. */
  cancel(): Promise<void> {
    this.cancelled = true;
    this.#queue = [];
    this.end();
    return Promise.resolve();
  }
}

/** How {@link FakeProcess.write} answers. */
export type StdinMode =
  /** The pipe takes every write at once. */
  | "accept"
  /** Writes stay pending until {@link FakeProcess.release} (a program that is not reading). */
  | "block"
  /** Writes reject (the program closed its stdin). */
  | "refuse";

/** Options of a {@link FakeProcess}. */
export interface FakeProcessOptions {
  /** How stdin writes are answered; default "accept". */
  stdin?: StdinMode;
  /**
   * What {@link FakeProcess.stop} does: exit with this status at this ladder
   * step (default: `{ code: 0, signal: null }` at "eof"), or `"manual"` (the
   * test calls {@link FakeProcess.exit} itself; stop() resolves after it).
   */
  onStop?: { status: ExitStatus; step?: LadderStep } | "manual";
}

/** A program the test drives: output by hand, input recorded, exit when told. */
export class FakeProcess implements ProcessEndpoint {
  /** See {@link ProcessEndpoint.pid}. */
  readonly pid = 4242;
  /** See {@link ProcessEndpoint.stdout}. */
  readonly stdout = new FakeReader();
  /** See {@link ProcessEndpoint.stderr}. */
  readonly stderr = new FakeReader();
  /** See {@link ProcessEndpoint.status}. */
  readonly status: Promise<ExitStatus>;
  /** Every write the pipe started, in order (also the refused and pending ones). */
  readonly writes: Uint8Array[] = [];
  /** Calls of {@link stop}. */
  stopCalls = 0;
  /** Calls of {@link closeInput}. */
  closeInputCalls = 0;
  /** Events in order: `write`, `closeInput`, `stop`, `exit`. */
  readonly events: string[] = [];
  /** How writes are answered now; may be changed at any time. */
  stdinMode: StdinMode;
  #onStop: FakeProcessOptions["onStop"];
  #blocked: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #exit = deferred<ExitStatus>();
  #exited = false;
  #stopping: Promise<LadderStep> | null = null;
  #stopStep: LadderStep = "eof";

  constructor(opts: FakeProcessOptions = {}) {
    this.stdinMode = opts.stdin ?? "accept";
    this.#onStop = opts.onStop ?? { status: { code: 0, signal: null } };
    this.status = this.#exit.promise;
  }

  /** Everything written to stdin, as text. */
  get stdinText(): string {
    return this.writes.map((w) => dec.decode(w)).join("");
  }

  /** Writes still pending (stdin mode "block"). */
  get blocked(): number {
    return this.#blocked.length;
  }

  /** Whether the program has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** See {@link ProcessEndpoint.write}. */
  write(data: Uint8Array): Promise<void> {
    this.writes.push(data.slice());
    this.events.push("write");
    switch (this.stdinMode) {
      case "accept":
        return Promise.resolve();
      case "refuse":
        return Promise.reject(new Error("Broken pipe"));
      case "block":
        return new Promise((resolve, reject) => this.#blocked.push({ resolve, reject }));
    }
  }

  /** Lets the oldest `n` pending writes complete (the program read them). */
  release(n = Infinity): void {
    for (const w of this.#blocked.splice(0, n)) w.resolve();
  }

  /** See {@link ProcessEndpoint.closeInput}. */
  closeInput(): void {
    this.closeInputCalls++;
    this.events.push("closeInput");
  }

  /** See {@link ProcessEndpoint.stop}: records the call and ends the program as configured. */
  stop(): Promise<LadderStep> {
    this.stopCalls++;
    this.events.push("stop");
    this.#stopping ??= (async () => {
      this.closeInput();
      const how = this.#onStop;
      if (how !== "manual" && how !== undefined) {
        this.#stopStep = how.step ?? "eof";
        this.exit(how.status);
      }
      await this.status;
      return this.#stopStep;
    })();
    return this.#stopping;
  }

  /**
   * The program ends: stdout and stderr reach EOF after what is queued,
   * pending stdin writes fail (the pipe is gone), the status resolves.
   */
  exit(status: ExitStatus | number = 0): void {
    if (this.#exited) return;
    this.#exited = true;
    this.events.push("exit");
    this.stdout.end();
    this.stderr.end();
    for (const w of this.#blocked.splice(0)) w.reject(new Error("Broken pipe"));
    this.#exit.resolve(typeof status === "number" ? { code: status, signal: null } : status);
  }
}

/** One item the client received, decoded from the frames the pipe sent. */
export type Received =
  | { type: "text"; text: string; frames: number }
  | { type: "binary"; bytes: Uint8Array; frames: number }
  | { type: "close"; code: number; reason: string };

/** Options of a {@link FakeSocket}. */
export interface FakeSocketOptions {
  /**
   * Whether the peer answers our close frame at once (the default), so that
   * `closed` resolves right after `close()`; false: the test ends it with
   * {@link FakeSocket.peerClose} or {@link FakeSocket.drop}.
   */
  peerEchoes?: boolean;
}

/** A client the test drives: messages by hand, everything sent recorded as wire bytes. */
export class FakeSocket implements SocketEndpoint {
  /** See {@link SocketEndpoint.closed}. */
  readonly closed: Promise<CloseInfo>;
  /** Every frame sent (the close frame of {@link close} too), as the wire would carry them. */
  readonly wire: Uint8Array[] = [];
  /** Frames offered after the socket stopped being open (the real one drops them). */
  sentAfterClose = 0;
  /** Calls of {@link close}, in order (only the first one counts). */
  readonly closeCalls: { code: number; reason: string }[] = [];
  /** Events in order: `send`, `pause`, `resume`, `drain`, `close`, `closed`, `destroy`. */
  readonly events: string[] = [];
  /** Calls of {@link drain}. */
  drainCalls = 0;
  #sink: MessageSink | null = null;
  #congested = false;
  #drainWaiters: (() => void)[] = [];
  #closeSent = false;
  #ended = false;
  #peerEchoes: boolean;
  #resolveClosed!: (info: CloseInfo) => void;
  #local: { code: number; reason: string } | null = null;

  constructor(opts: FakeSocketOptions = {}) {
    this.#peerEchoes = opts.peerEchoes ?? true;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /** See {@link SocketEndpoint.start}. */
  start(sink: MessageSink): void {
    if (this.#sink) throw new Error("start called twice");
    this.#sink = sink;
  }

  /** Whether {@link start} was called. */
  get started(): boolean {
    return this.#sink !== null;
  }

  /** The client sends messages that arrive in one network read (one batch). */
  deliver(...messages: (string | Uint8Array)[]): void {
    const sink = this.#sink;
    if (!sink) throw new Error("deliver before start");
    for (const m of messages) sink.message(typeof m !== "string", bytes(m));
    sink.batchEnd();
  }

  /** See {@link SocketEndpoint.send}. */
  send(frames: Uint8Array): void {
    if (!this.open) {
      this.sentAfterClose++;
      return;
    }
    this.events.push("send");
    this.wire.push(frames.slice());
  }

  /** See {@link SocketEndpoint.congested}. */
  get congested(): boolean {
    return this.#congested;
  }

  /** Makes the client slow (true) or lets the queue drain (false, wakes {@link drain}). */
  set congested(value: boolean) {
    this.#congested = value;
    if (!value) this.#wakeDrain();
  }

  /** See {@link SocketEndpoint.drain}. */
  drain(): Promise<void> {
    this.drainCalls++;
    this.events.push("drain");
    if (!this.#congested || this.#ended) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /** See {@link SocketEndpoint.queued}. */
  get queued(): number {
    return this.#congested ? 1 << 20 : 0;
  }

  /** See {@link SocketEndpoint.pause}. */
  pause(): void {
    this.events.push("pause");
  }

  /** See {@link SocketEndpoint.resume}. */
  resume(): void {
    this.events.push("resume");
  }

  /** Whether reading from the client is paused now (last of pause/resume). */
  get paused(): boolean {
    const last = this.events.findLast((e) => e === "pause" || e === "resume");
    return last === "pause";
  }

  /** See {@link SocketEndpoint.open}. */
  get open(): boolean {
    return !this.#closeSent && !this.#ended;
  }

  /** See {@link SocketEndpoint.close}: records the call and writes the close frame. */
  close(code: number, reason = ""): void {
    this.closeCalls.push({ code, reason });
    if (this.#closeSent || this.#ended) return;
    this.events.push("close");
    this.wire.push(closeFrame(code, reason));
    this.#closeSent = true;
    this.#local = { code, reason };
    if (this.#peerEchoes) queueMicrotask(() => this.#finish());
  }

  /** The client sends a close frame (and we are done, as after a real closing handshake). */
  peerClose(code: number = Close.normal, reason = ""): void {
    if (this.#ended) return;
    if (!this.#closeSent) {
      this.wire.push(closeFrame(code, ""));
      this.#closeSent = true;
    }
    // as in the real endpoint: once we had sent our close frame, the close is ours
    this.#finish(this.#local ? undefined : { code, reason, by: "peer" });
  }

  /** TCP ends without a close frame. */
  drop(): void {
    this.#finish({ code: Close.abnormal, reason: "connection lost", by: "network" });
  }

  /** See {@link SocketEndpoint.destroy}. */
  destroy(): void {
    this.events.push("destroy");
    this.drop();
  }

  /** The items the client received, in order. */
  received(): Received[] {
    const out: Received[] = [];
    let frag: { op: number; parts: Uint8Array[] } | null = null;
    for (const chunk of this.wire) {
      for (const f of readServerFrames(chunk)) {
        if (f.opcode === Op.close) {
          const p = f.payload;
          out.push({
            type: "close",
            code: p.length >= 2 ? (p[0]! << 8) | p[1]! : Close.noStatus,
            reason: dec.decode(p.subarray(2)),
          });
          continue;
        }
        if (f.opcode !== Op.continuation) frag = { op: f.opcode, parts: [] };
        if (!frag) throw new Error("continuation with nothing to continue");
        frag.parts.push(f.payload.slice());
        if (!f.fin) continue;
        const all = concatAll(frag.parts);
        out.push(
          frag.op === Op.text
            ? { type: "text", text: dec.decode(all), frames: frag.parts.length }
            : { type: "binary", bytes: all, frames: frag.parts.length },
        );
        frag = null;
      }
    }
    return out;
  }

  /** The text messages received, in order. */
  texts(): string[] {
    return this.received().flatMap((r) => (r.type === "text" ? [r.text] : []));
  }

  /** The close frame sent, if any. */
  closeFrame(): { code: number; reason: string } | undefined {
    const c = this.received().find((r) => r.type === "close");
    return c?.type === "close" ? { code: c.code, reason: c.reason } : undefined;
  }

  #wakeDrain(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  #finish(info?: CloseInfo): void {
    if (this.#ended) return;
    this.#ended = true;
    this.events.push("closed");
    this.#wakeDrain();
    this.#resolveClosed(info ?? { ...this.#local!, by: "server" });
  }
}

/** One line of a {@link capturingLogger}, parsed from its JSON form. */
export interface LogRecord {
  /** Level name. */
  level: string;
  /** Category. */
  category: string;
  /** Message. */
  msg: string;
  /** Fields and everything else. */
  [key: string]: unknown;
}

/** A logger that keeps its lines (JSON format, parsed) instead of printing them. */
export function capturingLogger(level: Level = "debug"): { log: Logger; lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  const log = new Logger(level, "json", (line) => lines.push(JSON.parse(line)));
  return { log, lines };
}

/** The facts of a plain GET of `/` from 10.0.0.7:5555 for `example.com`; override any field. */
export function requestFacts(over: Partial<RoutedFacts> = {}): RoutedFacts {
  return {
    method: "GET",
    target: "/",
    rawPath: "/",
    path: "/",
    query: "",
    rawQuery: "",
    httpVersion: "1.1",
    rawHeaders: ["Host", "example.com"],
    remoteAddr: "10.0.0.7",
    remotePort: "5555",
    remoteHost: "10.0.0.7",
    tls: false,
    host: "example.com",
    uniqueId: "1700000000000000001",
    ...over,
  };
}
