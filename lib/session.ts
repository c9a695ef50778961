/**
 * One connection's life: pipe(ProcessEndpoint, SocketEndpoint).
 *
 * Ordering rules: every stdout byte is framed and sent before the closing
 * frame; the closing frame carries the exit status; the program is always
 * stopped and reaped before the session counts as over.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { BinaryFramer, type Framer, LineFramer } from "./framing.ts";
import { type Fields, type Logger, StderrLines } from "./log.ts";
import {
  describeStatus,
  type LadderStep,
  PipeReader,
  Program,
  type ProgramSpec,
} from "./process.ts";
import { type CloseInfo, WsConnection } from "./websocket.ts";
import { Close } from "./wsframe.ts";

/** Per-session settings (from the config). */
export interface SessionOptions {
  /** --binary. */
  binary: boolean;
  /** --passstderr. */
  passStderr: boolean;
  /** --closems. */
  closeMs: number;
  /** --maxframesize. */
  maxFrameSize: number;
  /** --pingms. */
  pingMs: number;
  /** Signal the program's whole process group. */
  group: boolean;
  /** Inbound bytes queued for stdin before we stop reading from the client. */
  inboundHighWater: number;
  /** A program that takes no input for this long while the client waits is given up on. */
  stallMs: number;
  /** Logger. */
  log: Logger;
  /** Log context (url, id, remote, command, origin). */
  fields: Fields;
  /** Told once, when the first message goes to the client (ms after the upgrade). */
  onFirstMessage?: (ms: number) => void;
}

/** What happened, for the access log and metrics. */
export interface SessionSummary {
  /** Exit status text (`exit 0`, `signal SIGKILL`) or null if it never started. */
  status: string | null;
  /** How the socket closed. */
  close: CloseInfo;
  /** Messages received from the client. */
  messagesIn: number;
  /** Bytes written to the program's stdin. */
  bytesIn: number;
  /** Bytes read from the program's stdout. */
  bytesOut: number;
  /** Messages sent to the client. */
  messagesOut: number;
  /** Milliseconds from upgrade to end. */
  durationMs: number;
}

/**
 * Runs one WebSocket session to completion: spawns the program, relays both
 * ways with backpressure, and tears everything down exactly once.
 */
export class Session {
  /** Resolves when the program is reaped and the socket is closed. */
  readonly done: Promise<SessionSummary>;
  #opts: SessionOptions;
  #conn!: WsConnection;
  #prog: Program | null = null;
  #started = performance.now();
  #connClosed!: Promise<CloseInfo>;
  #closeInfo: CloseInfo | null = null;
  // inbound (client → stdin)
  #batch = new Uint8Array(0);
  #batchLen = 0;
  #pending = 0;
  #paused = false;
  #lastProgress = Date.now();
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #stdinBroken = false;
  #ending = false;
  #messagesIn = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #framers: Framer[] = [];
  #firstSent = false;

  /**
   * @param socket The socket of an accepted handshake.
   * @param head Bytes received after the handshake.
   * @param response The 101 response, written right after the spawn.
   * @param spec The program to run.
   */
  constructor(
    socket: Duplex,
    head: Uint8Array,
    response: string,
    spec: ProgramSpec,
    opts: SessionOptions,
  ) {
    this.#opts = opts;
    // spawn before reading the socket: messages that came with the handshake need a stdin
    let spawnError: unknown = null;
    try {
      this.#prog = Program.spawn(spec, opts.group);
    } catch (e) {
      spawnError = e;
    }
    socket.write(response);
    this.#connClosed = new Promise((resolve) => {
      this.#conn = new WsConnection(socket, head, {
        maxMessage: opts.maxFrameSize,
        pingMs: opts.pingMs,
        onMessage: (_binary, payload) => this.#onMessage(payload),
        onBatchEnd: () => this.#flushBatch(),
        onClose: (info) => {
          this.#closeInfo = info;
          this.#ending = true;
          clearTimeout(this.#stallTimer);
          // the client is gone: stop the program now, whatever it is doing
          this.#prog?.stop(opts.closeMs, (s) => this.#logStep(s)).catch(() => {});
          resolve(info);
        },
      });
    });
    this.done = this.#run(spec, spawnError).catch((e) => {
      opts.log.error("session", opts.fields, `Session failed: ${e?.stack ?? e}`);
      this.#conn.destroy();
      this.#prog?.stop(0).catch(() => {});
      return this.#summary(null);
    });
  }

  /** Ends the session because the server is shutting down (close 1001, then the stop ladder). */
  shutdown(reason = "server shutting down"): void {
    this.#conn.close(Close.goingAway, reason);
    this.#prog?.stop(this.#opts.closeMs, (s) => this.#logStep(s)).catch(() => {});
  }

  /** The program's pid, once started. */
  get pid(): number | undefined {
    return this.#prog?.pid;
  }

  async #run(spec: ProgramSpec, spawnError: unknown): Promise<SessionSummary> {
    const { log, fields } = this.#opts;
    const prog = this.#prog;
    if (!prog) {
      const why = spawnError instanceof Error ? spawnError.message : String(spawnError);
      log.error("process", fields, `Could not launch process ${spec.command} (${why})`);
      this.#conn.close(Close.internalError, `could not launch program: ${why}`);
      return this.#summary(null, await this.#connClosed);
    }
    const pf = { ...fields, pid: prog.pid };
    this.#opts.fields = pf;
    log.access("session", pf, "CONNECT");

    const stdoutFramer: Framer = this.#opts.binary
      ? new BinaryFramer()
      : new LineFramer(this.#opts.passStderr ? "stdout" : null);
    this.#framers.push(stdoutFramer);
    const stdout = new PipeReader(prog.stdout);
    const stderr = new PipeReader(prog.stderr);
    const outputs = [this.#pumpStdout(stdout, stdoutFramer), this.#pumpStderr(stderr)];
    const outputsDone = this.#opts.passStderr ? Promise.all(outputs) : outputs[0]!;
    const first = await Promise.race([
      outputsDone.then(() => "output" as const),
      this.#connClosed.then(() => "client" as const),
    ]);
    this.#ending = true;
    await prog.stop(this.#opts.closeMs, (s) => this.#logStep(s));
    const status = await prog.status;
    // the program closed stdout: the client learns how it ended, after every line
    if (first === "output") this.#conn.close(Close.normal, describeStatus(status));
    // a grandchild may still hold the pipes (only without group signalling): stop listening
    await Promise.all([stdout.cancel(), stderr.cancel(), ...outputs]).catch(() => {});
    const close = await this.#connClosed;
    const summary = this.#summary(describeStatus(status), close);
    log.access("session", {
      ...pf,
      status: summary.status ?? undefined,
      close: close.code,
      duration: `${summary.durationMs}ms`,
    }, "DISCONNECT");
    return summary;
  }

  #summary(status: string | null, close?: CloseInfo): SessionSummary {
    return {
      status,
      close: close ?? this.#closeInfo ?? { code: Close.abnormal, reason: "", by: "server" },
      messagesIn: this.#messagesIn,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      messagesOut: this.#framers.reduce((n, f) => n + f.messages, 0),
      durationMs: Math.round(performance.now() - this.#started),
    };
  }

  #logStep(step: LadderStep): void {
    const { log, fields } = this.#opts;
    if (step === "stuck") {
      log.error("process", fields, `SIGKILL did not terminate ${this.#prog?.pid}!`);
    } else log.debug("process", fields, `Sending ${step} to process ${this.#prog?.pid}`);
  }

  // ---- stdout / stderr → client ----

  async #pumpStdout(
    reader: PipeReader,
    framer: Framer,
  ): Promise<void> {
    try {
      while (true) {
        const value = await reader.read();
        if (!value) break;
        this.#bytesOut += value.length;
        // after the client left, keep draining so a blocked program can see EOF and signals
        if (!this.#conn.open) continue;
        const frames = framer.push(value);
        if (frames) this.#send(frames);
        if (this.#conn.needsDrain) await this.#conn.drain();
      }
      const tail = framer.finish();
      if (tail) this.#send(tail);
    } catch {
      // cancelled during teardown
    }
  }

  async #pumpStderr(reader: PipeReader): Promise<void> {
    const { log } = this.#opts;
    const framer = this.#opts.passStderr ? new LineFramer("stderr") : null;
    if (framer) this.#framers.push(framer);
    const lines = new StderrLines((line) => log.error("stderr", this.#opts.fields, line));
    const logging = log.enabled("error");
    try {
      while (true) {
        const value = await reader.read();
        if (!value) break;
        if (framer && this.#conn.open) {
          const frames = framer.push(value);
          if (frames) this.#send(frames);
        }
        // keep draining even when not logging, or a chatty program would block on a full pipe
        if (logging) lines.push(value);
      }
      if (framer && this.#conn.open) {
        const tail = framer.finish();
        if (tail) this.#send(tail);
      }
      lines.end();
    } catch {
      // cancelled during teardown
    }
  }

  #send(frames: Uint8Array): void {
    this.#conn.sendFrames(frames);
    if (!this.#firstSent) {
      this.#firstSent = true;
      this.#opts.onFirstMessage?.(performance.now() - this.#started);
    }
  }

  // ---- client → stdin ----

  #onMessage(payload: Uint8Array): void {
    this.#messagesIn++;
    // every message is a line in text mode; binary mode passes bytes through untouched
    const extra = this.#opts.binary ? 0 : 1;
    const need = this.#batchLen + payload.length + extra;
    if (need > this.#batch.length) {
      const bigger = new Uint8Array(Math.max(need, this.#batch.length * 2, 256));
      bigger.set(this.#batch.subarray(0, this.#batchLen));
      this.#batch = bigger;
    }
    this.#batch.set(payload, this.#batchLen);
    this.#batchLen += payload.length;
    if (extra) this.#batch[this.#batchLen++] = 10;
  }

  #flushBatch(): void {
    if (this.#batchLen === 0) return;
    const bytes = this.#batch.slice(0, this.#batchLen);
    this.#batchLen = 0;
    // an idle session should not keep a large buffer from one burst
    if (this.#batch.length > 64 * 1024) this.#batch = new Uint8Array(0);
    const prog = this.#prog;
    if (!prog || this.#stdinBroken) {
      this.#dropInput(bytes.length);
      return;
    }
    this.#pending += bytes.length;
    prog.write(bytes).then(() => {
      this.#pending -= bytes.length;
      this.#bytesIn += bytes.length;
      this.#lastProgress = Date.now();
      if (this.#paused && this.#pending <= this.#opts.inboundHighWater / 2) {
        this.#paused = false;
        clearTimeout(this.#stallTimer);
        this.#conn.resume();
      }
    }, () => {
      this.#pending -= bytes.length;
      this.#dropInput(bytes.length);
    });
    if (!this.#paused && this.#pending > this.#opts.inboundHighWater) {
      this.#paused = true;
      this.#conn.pause();
      this.#armStall();
    }
  }

  #armStall(): void {
    const left = this.#lastProgress + this.#opts.stallMs - Date.now();
    clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(() => {
      if (!this.#paused) return;
      if (Date.now() - this.#lastProgress < this.#opts.stallMs) return this.#armStall();
      this.#opts.log.error(
        "session",
        this.#opts.fields,
        `Program has not read its input for ${this.#opts.stallMs}ms with ${this.#pending} bytes waiting; closing`,
      );
      this.#conn.close(Close.policyViolation, "program is not reading its input");
    }, Math.max(left, 1));
  }

  #dropInput(bytes: number): void {
    if (this.#ending) return;
    if (!this.#stdinBroken) {
      this.#stdinBroken = true;
      this.#opts.log.error(
        "session",
        this.#opts.fields,
        "Program closed its stdin; input from the client is discarded from now on",
      );
    }
    this.#opts.log.debug("session", this.#opts.fields, `Discarded ${bytes} bytes of input`);
  }
}
