/**
 * RFC 6455 frame codec for the server side: an incremental parser for client
 * frames (masked, size-limited, validated) and a frame-header writer.
 * Pure code with no I/O, so it is unit-tested on its own.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";

/** WebSocket opcodes. */
export const Op = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes used by this server; one named constant per code. */
export const Close = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** Whether a close code may appear on the wire (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/** Receives what the parser finds, synchronously, in wire order. */
export interface FrameHandlers {
  /** A complete (reassembled) data message. The payload is only valid during the call. */
  message(binary: boolean, payload: Uint8Array): void;
  /** A ping; answer with a pong carrying the same payload. */
  ping(payload: Uint8Array): void;
  /** A pong. */
  pong(): void;
  /** A valid close frame; `code` is undefined for an empty payload. */
  close(code: number | undefined, reason: string): void;
  /** The client broke the protocol; close with this code and stop reading. */
  fail(code: number, reason: string): void;
}

const decoder = new TextDecoder();

/**
 * Incremental parser for client-to-server frames. Feed it socket chunks with
 * {@link FrameParser.push}; it calls the handlers for every complete frame and
 * keeps partial frames between calls. After `fail` it ignores further input.
 */
export class FrameParser {
  #h: FrameHandlers;
  #maxMessage: number;
  #failed = false;
  // header being assembled across chunks
  #head = new Uint8Array(14);
  #headLen = 0;
  // payload being assembled across chunks
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  #mask = new Uint8Array(4);
  #fin = false;
  #opcode = 0;
  // fragmented message in progress
  #fragOp = 0;
  #frags: Uint8Array[] = [];
  #fragSize = 0;

  /**
   * @param handlers Called for each parsed item.
   * @param maxMessage Largest message in bytes after reassembly; 0 = no limit.
   */
  constructor(handlers: FrameHandlers, maxMessage: number) {
    this.#h = handlers;
    this.#maxMessage = maxMessage > 0 ? maxMessage : Number.MAX_SAFE_INTEGER;
  }

  /** Whether the parser has stopped after a protocol violation. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Processes one chunk of socket data. The chunk may be modified in place (unmasking). */
  push(chunk: Uint8Array): void {
    let off = 0;
    const end = chunk.length;
    while (off < end && !this.#failed) {
      if (this.#payload !== null) {
        // continue filling a payload that spans chunks
        const need = this.#payload.length - this.#payloadFill;
        const take = Math.min(need, end - off);
        this.#payload.set(chunk.subarray(off, off + take), this.#payloadFill);
        this.#payloadFill += take;
        off += take;
        if (this.#payloadFill === this.#payload.length) {
          const p = this.#payload;
          this.#payload = null;
          unmask(p, this.#mask, 0);
          this.#frame(p);
        }
        continue;
      }
      // header: fast path when the whole header is in this chunk
      let head: Uint8Array;
      let hoff: number;
      let avail: number;
      if (this.#headLen === 0) {
        head = chunk;
        hoff = off;
        avail = end - off;
      } else {
        const take = Math.min(14 - this.#headLen, end - off);
        this.#head.set(chunk.subarray(off, off + take), this.#headLen);
        head = this.#head;
        hoff = 0;
        avail = this.#headLen + take;
      }
      if (avail < 2) {
        this.#stash(head, hoff, avail, chunk, off, end);
        return;
      }
      const b0 = head[hoff]!;
      const b1 = head[hoff + 1]!;
      let len = b1 & 0x7f;
      let hlen = 2;
      if (len === 126) hlen = 4;
      else if (len === 127) hlen = 10;
      if ((b1 & 0x80) !== 0) hlen += 4;
      if (avail < hlen) {
        this.#stash(head, hoff, avail, chunk, off, end);
        return;
      }
      if (len === 126) len = (head[hoff + 2]! << 8) | head[hoff + 3]!;
      else if (len === 127) {
        const hi = (head[hoff + 2]! << 24 >>> 0) + (head[hoff + 3]! << 16) +
          (head[hoff + 4]! << 8) +
          head[hoff + 5]!;
        const lo = (head[hoff + 6]! << 24 >>> 0) + (head[hoff + 7]! << 16) +
          (head[hoff + 8]! << 8) +
          head[hoff + 9]!;
        if (hi >= 0x80000000) {
          this.#fail(Close.protocolError, "bad frame length");
          return;
        }
        len = hi * 0x100000000 + lo;
      }
      if (!this.#checkHeader(b0, b1, len)) return;
      const maskAt = hoff + hlen - 4;
      this.#mask[0] = head[maskAt]!;
      this.#mask[1] = head[maskAt + 1]!;
      this.#mask[2] = head[maskAt + 2]!;
      this.#mask[3] = head[maskAt + 3]!;
      // consume the header bytes from the chunk
      if (this.#headLen === 0) off += hlen;
      else {
        off += hlen - this.#headLen;
        this.#headLen = 0;
      }
      this.#fin = (b0 & 0x80) !== 0;
      this.#opcode = b0 & 0x0f;
      if (end - off >= len) {
        // whole payload present: unmask in place, no copy
        const p = chunk.subarray(off, off + len);
        off += len;
        unmask(p, this.#mask, 0);
        this.#frame(p);
      } else {
        try {
          this.#payload = new Uint8Array(len);
        } catch {
          // even "no limit" cannot hold what memory cannot allocate
          this.#fail(Close.tooBig, `cannot hold a message of ${len} bytes`);
          return;
        }
        this.#payloadFill = 0;
      }
    }
  }

  #stash(
    head: Uint8Array,
    hoff: number,
    avail: number,
    chunk: Uint8Array,
    off: number,
    end: number,
  ): void {
    if (head === chunk) {
      this.#head.set(chunk.subarray(off, end), 0);
      this.#headLen = end - off;
    } else {
      this.#headLen = avail - hoff;
    }
  }

  #checkHeader(b0: number, b1: number, len: number): boolean {
    if ((b0 & 0x70) !== 0) return this.#fail(Close.protocolError, "reserved bits set");
    if ((b1 & 0x80) === 0) return this.#fail(Close.protocolError, "client frame not masked");
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (op >= Op.close) {
      if (op > Op.pong) return this.#fail(Close.protocolError, `bad opcode ${op}`);
      if (!fin) return this.#fail(Close.protocolError, "fragmented control frame");
      if (len > 125) return this.#fail(Close.protocolError, "control frame too long");
      return true;
    }
    if (op === Op.continuation) {
      if (this.#fragOp === 0) {
        return this.#fail(Close.protocolError, "continuation with nothing to continue");
      }
    } else if (op === Op.text || op === Op.binary) {
      if (this.#fragOp !== 0) {
        return this.#fail(Close.protocolError, "data frame inside a fragmented message");
      }
    } else {
      return this.#fail(Close.protocolError, `bad opcode ${op}`);
    }
    if (this.#fragSize + len > this.#maxMessage) {
      return this.#fail(Close.tooBig, `message over ${this.#maxMessage} bytes`);
    }
    return true;
  }

  #frame(p: Uint8Array): void {
    const op = this.#opcode;
    switch (op) {
      case Op.text:
      case Op.binary:
        if (this.#fin) return this.#deliver(op, p);
        this.#fragOp = op;
        this.#frags.push(p.slice());
        this.#fragSize = p.length;
        return;
      case Op.continuation: {
        // copy: the chunk buffer is reused by the caller's next push
        this.#frags.push(this.#fin ? p : p.slice());
        this.#fragSize += p.length;
        if (!this.#fin) return;
        const whole = new Uint8Array(this.#fragSize);
        let at = 0;
        for (const f of this.#frags) {
          whole.set(f, at);
          at += f.length;
        }
        const fop = this.#fragOp;
        this.#frags = [];
        this.#fragOp = 0;
        this.#fragSize = 0;
        return this.#deliver(fop, whole);
      }
      case Op.ping:
        return this.#h.ping(p);
      case Op.pong:
        return this.#h.pong();
      case Op.close:
        return this.#close(p);
    }
  }

  #deliver(op: number, p: Uint8Array): void {
    if (op === Op.text && !isAscii(p) && !isUtf8(p)) {
      this.#fail(Close.invalidPayload, "text message is not valid UTF-8");
      return;
    }
    this.#h.message(op === Op.binary, p);
  }

  #close(p: Uint8Array): void {
    if (p.length === 0) return this.#h.close(undefined, "");
    if (p.length === 1) return void this.#fail(Close.protocolError, "close payload of 1 byte");
    const code = (p[0]! << 8) | p[1]!;
    if (!isValidCloseCode(code)) {
      return void this.#fail(Close.protocolError, `bad close code ${code}`);
    }
    const reasonBytes = p.subarray(2);
    if (!isUtf8(reasonBytes)) {
      return void this.#fail(Close.invalidPayload, "close reason is not UTF-8");
    }
    this.#h.close(code, decoder.decode(reasonBytes));
  }

  #fail(code: number, reason: string): false {
    this.#failed = true;
    this.#h.fail(code, reason);
    return false;
  }
}

/** XORs `data` with the 4-byte mask, starting at mask position `phase`. */
export function unmask(data: Uint8Array, mask: Uint8Array, phase: number): void {
  const n = data.length;
  const m0 = mask[phase & 3]!,
    m1 = mask[(phase + 1) & 3]!,
    m2 = mask[(phase + 2) & 3]!,
    m3 = mask[(phase + 3) & 3]!;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    data[i] = data[i]! ^ m0;
    data[i + 1] = data[i + 1]! ^ m1;
    data[i + 2] = data[i + 2]! ^ m2;
    data[i + 3] = data[i + 3]! ^ m3;
  }
  if (i < n) data[i] = data[i]! ^ m0;
  if (i + 1 < n) data[i + 1] = data[i + 1]! ^ m1;
  if (i + 2 < n) data[i + 2] = data[i + 2]! ^ m2;
}

/** Bytes a server frame header needs for a payload of `len` bytes. */
export function headerSize(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/**
 * Writes an unmasked server frame header into `buf` at `at`.
 * @returns The offset just after the header.
 */
export function writeHeader(
  buf: Uint8Array,
  at: number,
  opcode: number,
  fin: boolean,
  len: number,
): number {
  buf[at] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) {
    buf[at + 1] = len;
    return at + 2;
  }
  if (len < 65536) {
    buf[at + 1] = 126;
    buf[at + 2] = len >>> 8;
    buf[at + 3] = len & 0xff;
    return at + 4;
  }
  buf[at + 1] = 127;
  const hi = Math.floor(len / 0x100000000);
  const lo = len >>> 0;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  buf[at + 4] = (hi >>> 8) & 0xff;
  buf[at + 5] = hi & 0xff;
  buf[at + 6] = lo >>> 24;
  buf[at + 7] = (lo >>> 16) & 0xff;
  buf[at + 8] = (lo >>> 8) & 0xff;
  buf[at + 9] = lo & 0xff;
  return at + 10;
}

/** Builds one complete unmasked frame. */
export function frame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const out = new Uint8Array(headerSize(payload.length) + payload.length);
  out.set(payload, writeHeader(out, 0, opcode, fin, payload.length));
  return out;
}

/** Short ASCII messages are the common case: a byte loop beats an op call per message. */
function isAscii(p: Uint8Array): boolean {
  if (p.length > 256) return false;
  for (let i = 0; i < p.length; i++) if (p[i]! >= 0x80) return false;
  return true;
}
