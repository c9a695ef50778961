/**
 * Client messages → the program's stdin, with backpressure.
 *
 * Messages of one network read are batched into one pipe write. While more
 * than the high water waits for the pipe, the socket stops reading (TCP flow
 * control pushes back on the client). If the program then takes nothing for
 * `stallMs`, the session is given up with 1008. Input for a program that
 * closed its stdin is dropped, and said so in the log once.
 *
 * Held per session: the batch of one read (at most one socket chunk plus one
 * message) plus the bytes handed to the pipe and not yet taken, which the
 * pause keeps near the high water.
 *
 * @module
 */

import type { Fields, Logger } from "../util/log.ts";
import { ByteBuffer } from "../util/bytes.ts";
import { Close } from "../ws/codec.ts";
import type { MessageSink, ProcessEndpoint, SocketEndpoint } from "./endpoints.ts";

/** Inbound bytes waiting for a program's stdin before we stop reading the client. */
export const INBOUND_HIGH_WATER = 1024 * 1024;

/** Settings of an {@link InputQueue}. */
export interface InputOptions {
  /** Binary mode: bytes pass untouched; text mode adds `\n` after each message. */
  binary: boolean;
  /** Bytes waiting for the pipe before the socket is paused. */
  highWater: number;
  /** How long a paused session waits for the program to take input before 1008. */
  stallMs: number;
  /** Logger. */
  log: Logger;
  /** Log context. */
  fields: () => Fields;
}

/** Counters for the access log and metrics. */
export interface InputCounts {
  /** Messages received from the client. */
  messages: number;
  /** Bytes the program's stdin took. */
  bytes: number;
}

/** The client-to-program direction of one session. */
export class InputQueue implements MessageSink {
  /** See {@link InputCounts}. */
  readonly counts: InputCounts = { messages: 0, bytes: 0 };
  #process: ProcessEndpoint;
  #socket: SocketEndpoint;
  #opts: InputOptions;
  #batch = new ByteBuffer();
  #pending = 0;
  #paused = false;
  #lastProgress = Date.now();
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #broken = false;
  #ending = false;

  constructor(process: ProcessEndpoint, socket: SocketEndpoint, opts: InputOptions) {
    this.#process = process;
    this.#socket = socket;
    this.#opts = opts;
  }

  /** Bytes held: the batch buffer plus writes the pipe has not taken yet. */
  get held(): number {
    return this.#batch.capacity + this.#pending;
  }

  /** See {@link MessageSink.message}. */
  message(_binary: boolean, payload: Uint8Array): void {
    this.counts.messages++;
    this.#batch.append(payload);
    // every message is a line in text mode; binary mode passes bytes through untouched
    if (!this.#opts.binary) this.#batch.push(10);
  }

  /** See {@link MessageSink.batchEnd}. */
  batchEnd(): void {
    if (this.#batch.length === 0) return;
    const bytes = this.#batch.take();
    this.#batch.clear();
    if (this.#broken) return this.#drop(bytes.length);
    this.#pending += bytes.length;
    this.#process.write(bytes).then(() => {
      this.#pending -= bytes.length;
      this.counts.bytes += bytes.length;
      this.#lastProgress = Date.now();
      if (this.#paused && this.#pending <= this.#opts.highWater / 2) {
        this.#paused = false;
        clearTimeout(this.#stallTimer);
        this.#socket.resume();
      }
    }, () => {
      this.#pending -= bytes.length;
      this.#drop(bytes.length);
    });
    if (!this.#paused && this.#pending > this.#opts.highWater) {
      this.#paused = true;
      this.#socket.pause();
      this.#armStall();
    }
  }

  /** The session is ending: no more stall checks, and dropped input is expected. */
  end(): void {
    this.#ending = true;
    clearTimeout(this.#stallTimer);
  }

  #armStall(): void {
    const left = this.#lastProgress + this.#opts.stallMs - Date.now();
    clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(() => {
      if (!this.#paused || this.#ending) return;
      if (Date.now() - this.#lastProgress < this.#opts.stallMs) return this.#armStall();
      this.#opts.log.error(
        "session",
        this.#opts.fields(),
        `Program has not read its input for ${this.#opts.stallMs}ms with ${this.#pending} bytes waiting; closing`,
      );
      this.#socket.close(Close.policyViolation, "program is not reading its input");
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
