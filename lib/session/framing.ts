/**
 * Program output → WebSocket frames.
 *
 * Text mode: one message per `\n`-terminated line (one trailing `\r`
 * dropped), invalid UTF-8 replaced with U+FFFD, a last line without `\n`
 * delivered at EOF. A line longer than {@link FRAGMENT_BYTES} is streamed as
 * a fragmented message, so memory stays bounded however long a line is.
 * Binary mode: each read becomes one binary message.
 *
 * Every call returns all frames of one input chunk in one buffer, so one
 * socket write carries thousands of small messages.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { concat } from "../util/bytes.ts";
import { FrameBuilder, headerSize, writeHeader } from "../ws/frames.ts";
import { Op } from "../ws/protocol.ts";

/** A partial line longer than this is sent as a fragment of its message. */
export const FRAGMENT_BYTES = 64 * 1024;

const NL = 10;
const CR = 13;
const encoder = new TextEncoder();

/** Turns output chunks into frames. */
export interface Framer {
  /** Messages completed so far. */
  readonly messages: number;
  /** Whether the last frames returned left a fragmented message open (more fragments follow). */
  readonly open: boolean;
  /** Frames for one chunk of output, or null when nothing is complete yet. */
  push(chunk: Uint8Array): Uint8Array | null;
  /** Frames for whatever is left at EOF, or null. */
  finish(): Uint8Array | null;
}

/** Binary mode: every chunk is one binary message. */
export class BinaryFramer implements Framer {
  /** See {@link Framer.messages}. */
  messages = 0;
  /** See {@link Framer.open}: binary messages are never fragmented. */
  readonly open = false;
  /** See {@link Framer.push}. */
  push(chunk: Uint8Array): Uint8Array | null {
    if (chunk.length === 0) return null;
    this.messages++;
    const out = new Uint8Array(headerSize(chunk.length) + chunk.length);
    out.set(chunk, writeHeader(out, 0, Op.binary, true, chunk.length));
    return out;
  }
  /** See {@link Framer.finish}. */
  finish(): null {
    return null;
  }
}

/**
 * Text mode. With `wrap` set, each line is sent as the JSON text
 * `{"stream":WRAP,"data":LINE}` (websocketd's --passstderr format).
 */
export class LineFramer implements Framer {
  /** See {@link Framer.messages}. */
  messages = 0;
  #carry: Uint8Array | null = null;
  #wrap: string | null;
  // state of a line being streamed as fragments
  #fragmenting = false;
  #fragDecoder: TextDecoder | null = null;
  #fix = new TextDecoder();

  /** See {@link Framer.open}. */
  get open(): boolean {
    return this.#fragmenting;
  }

  /** @param wrap `"stdout"` or `"stderr"` for JSON wrapping; null for plain lines. */
  constructor(wrap: string | null = null) {
    this.#wrap = wrap;
  }

  /** See {@link Framer.push}. */
  push(chunk: Uint8Array): Uint8Array | null {
    let data = chunk;
    if (this.#carry) {
      data = concat(this.#carry, chunk);
      this.#carry = null;
    }
    const lastNl = data.lastIndexOf(NL);
    if (lastNl < 0) {
      this.#carry = data === chunk ? chunk.slice() : data;
      return this.#carry.length > FRAGMENT_BYTES ? this.#fragment() : null;
    }
    const out = new FrameBuilder(data.length * 2 + 16);
    let start = 0;
    if (this.#fragmenting) {
      // the first line finishes a fragmented message
      const nl = data.indexOf(NL);
      this.#endFragments(out, data.subarray(0, trimCr(data, 0, nl)));
      this.messages++;
      start = nl + 1;
    }
    const allValid = this.#wrap === null && isUtf8(data.subarray(start, lastNl));
    while (start <= lastNl) {
      const nl = data.indexOf(NL, start);
      const line = data.subarray(start, trimCr(data, start, nl));
      if (allValid) out.frame(Op.text, true, line);
      else this.#line(out, line);
      this.messages++;
      start = nl + 1;
    }
    if (start < data.length) {
      this.#carry = data.slice(start);
      if (this.#carry.length > FRAGMENT_BYTES) this.#fragment(out);
    }
    return out.result();
  }

  /** See {@link Framer.finish}. */
  finish(): Uint8Array | null {
    const rest = this.#carry;
    this.#carry = null;
    if (this.#fragmenting) {
      const out = new FrameBuilder((rest?.length ?? 0) * 3 + 64);
      this.#endFragments(out, rest ?? new Uint8Array(0));
      this.messages++;
      return out.result();
    }
    if (!rest) return null;
    const out = new FrameBuilder(rest.length * 3 + 64);
    this.#line(out, rest);
    this.messages++;
    return out.result();
  }

  /** One complete line, validated (and wrapped if configured). */
  #line(out: FrameBuilder, line: Uint8Array): void {
    if (this.#wrap === null) {
      out.frame(Op.text, true, isUtf8(line) ? line : encoder.encode(this.#fix.decode(line)));
      return;
    }
    const json = `{"stream":${JSON.stringify(this.#wrap)},"data":${
      JSON.stringify(this.#fix.decode(line))
    }}`;
    out.frame(Op.text, true, encoder.encode(json));
  }

  /** Sends most of an over-long partial line as a non-final fragment. */
  #fragment(into?: FrameBuilder): Uint8Array | null {
    const carry = this.#carry!;
    // keep a trailing CR back: it may turn out to be the CR of CRLF
    const cut = carry[carry.length - 1] === CR ? carry.length - 1 : carry.length;
    const out = into ?? new FrameBuilder(cut * 3 + 64);
    let text = "";
    const first = !this.#fragmenting;
    if (first) {
      this.#fragmenting = true;
      this.#fragDecoder = new TextDecoder();
      if (this.#wrap !== null) text = `{"stream":${JSON.stringify(this.#wrap)},"data":"`;
    }
    text += this.#escape(this.#fragDecoder!.decode(carry.subarray(0, cut), { stream: true }));
    out.frame(first ? Op.text : Op.continuation, false, encoder.encode(text));
    this.#carry = cut < carry.length ? carry.slice(cut) : null;
    return into ? null : out.result();
  }

  /** Sends the final fragment of a streamed line. */
  #endFragments(out: FrameBuilder, tail: Uint8Array): void {
    let text = this.#escape(this.#fragDecoder!.decode(tail));
    if (this.#wrap !== null) text += '"}';
    out.frame(Op.continuation, true, encoder.encode(text));
    this.#fragmenting = false;
    this.#fragDecoder = null;
  }

  #escape(s: string): string {
    return this.#wrap === null ? s : JSON.stringify(s).slice(1, -1);
  }
}

function trimCr(data: Uint8Array, start: number, nl: number): number {
  return nl > start && data[nl - 1] === CR ? nl - 1 : nl;
}
