/**
 * Client messages → a program's stdin, with backpressure.
 *
 * Messages of one network read are batched into one pipe write; each
 * message is appended whole, so messages of several clients (broadcast
 * mode) never interleave inside a line. While more than the high water
 * waits for the pipe, the sockets that sent it stop being read (TCP flow
 * control pushes back on those clients). If the program then takes nothing
 * for `stallMs`, those clients are closed with 1008. Input for a program
 * that closed its stdin is dropped, and said so in the log once.
 *
 * Held per program: the batch of one read (at most one socket chunk plus one
 * message) plus the bytes handed to the pipe and not yet taken, which the
 * pause keeps near the high water.
 *
 * @module
 */

import { ByteBuffer } from "../util/bytes.ts";
import type { Fields, Logger } from "../util/log.ts";
import { Close } from "../ws/protocol.ts";
import type { MessageSink, ProcessEndpoint, SocketEndpoint } from "./endpoints.ts";

/** Inbound bytes waiting for a program's stdin before we stop reading the client. */
export const INBOUND_HIGH_WATER = 1024 * 1024;

/** Settings of an {@link InputQueue}. */
export interface InputOptions {
  /** Binary mode: bytes pass untouched; text mode adds `\n` after each message. */
  binary: boolean;
  /** Bytes waiting for the pipe before the sending sockets are paused. */
  highWater: number;
  /** How long a paused socket waits for the program to take input before 1008. */
  stallMs: number;
  /** Logger. */
  log: Logger;
  /** Log context. */
  fields: () => Fields;
}

/** Counters for the access log and metrics. */
export interface InputCounts {
  /** Messages received from clients. */
  messages: number;
  /** Bytes the program's stdin took. */
  bytes: number;
}

/** The clients-to-program direction of one program. */
export class InputQueue {
  /** See {@link InputCounts}. */
  readonly counts: InputCounts = { messages: 0, bytes: 0 };
  #process: ProcessEndpoint;
  #opts: InputOptions;
  #batch = new ByteBuffer();
  #senders = new Set<SocketEndpoint>();
  #pending = 0;
  #paused = new Set<SocketEndpoint>();
  #lastProgress = Date.now();
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #broken = false;
  #ending = false;

  #debug: boolean;

  constructor(process: ProcessEndpoint, opts: InputOptions) {
    this.#process = process;
    this.#opts = opts;
    this.#debug = opts.log.enabled("debug");
  }

  /** The sink a socket delivers its messages to. */
  sinkFor(socket: SocketEndpoint): MessageSink {
    return {
      message: (_binary, payload) => this.add(socket, payload),
      batchEnd: () => this.flush(),
    };
  }

  /** Bytes held: the batch buffer plus writes the pipe has not taken yet. */
  get held(): number {
    return this.#batch.capacity + this.#pending;
  }

  /** Queues one message from `from`. */
  add(from: SocketEndpoint, payload: Uint8Array): void {
    this.counts.messages++;
    this.#batch.append(payload);
    // every message is a line in text mode; binary mode passes bytes through untouched
    if (!this.#opts.binary) this.#batch.push(10);
    this.#senders.add(from);
  }

  /** Writes what was queued to stdin in one write. */
  flush(): void {
    if (this.#batch.length === 0) return;
    const bytes = this.#batch.take();
    this.#batch.clear();
    if (this.#broken) {
      this.#senders.clear();
      return this.#drop(bytes.length);
    }
    if (this.#debug) {
      this.#opts.log.debug("process", this.#opts.fields(), `STDIN: ${bytes.length} bytes`);
    }
    this.#pending += bytes.length;
    this.#process.write(bytes).then(() => {
      this.#pending -= bytes.length;
      this.counts.bytes += bytes.length;
      this.#lastProgress = Date.now();
      if (this.#paused.size && this.#pending <= this.#opts.highWater / 2) this.#resumeAll();
    }, () => {
      this.#pending -= bytes.length;
      this.#drop(bytes.length);
    });
    if (this.#pending > this.#opts.highWater) {
      for (const s of this.#senders) {
        if (this.#paused.has(s)) continue;
        this.#paused.add(s);
        s.pause();
      }
      this.#armStall();
    }
    // one Set for the life of the queue: a new one per write would be garbage per message
    this.#senders.clear();
  }

  /** A socket is gone: it is no longer waited for. */
  forget(socket: SocketEndpoint): void {
    this.#paused.delete(socket);
    this.#senders.delete(socket);
  }

  /** The program is ending: no more stall checks, and dropped input is expected. */
  end(): void {
    this.#ending = true;
    clearTimeout(this.#stallTimer);
  }

  #resumeAll(): void {
    clearTimeout(this.#stallTimer);
    for (const s of this.#paused) s.resume();
    this.#paused.clear();
  }

  #armStall(): void {
    const left = this.#lastProgress + this.#opts.stallMs - Date.now();
    clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(() => {
      if (!this.#paused.size || this.#ending) return;
      if (Date.now() - this.#lastProgress < this.#opts.stallMs) return this.#armStall();
      this.#opts.log.error(
        "session",
        this.#opts.fields(),
        `Program has not read its input for ${this.#opts.stallMs}ms with ${this.#pending} bytes waiting; closing`,
      );
      for (const s of this.#paused) {
        s.close(Close.policyViolation, "program is not reading its input");
      }
      this.#paused.clear();
    }, Math.max(left, 1));
  }

  #drop(bytes: number): void {
    if (this.#ending) return;
    if (!this.#broken) {
      this.#broken = true;
      this.#opts.log.error(
        "session",
        this.#opts.fields(),
        "Program closed its stdin; input from the client is discarded from now on",
      );
    }
    this.#opts.log.debug("session", this.#opts.fields(), `Discarded ${bytes} bytes of input`);
  }
}
