/**
 * RFC 6455 frame codec for the server side: an incremental parser for client
 * frames (masked, size-limited, validated) and the writer of server frames.
 * Pure code with no I/O, so it is unit- and property-tested on its own.
 *
 * The parser is a two-state machine (reading a frame header, reading a
 * payload) that accounts for every byte it holds between calls:
 * {@link FrameParser.heldBytes} never exceeds
 * {@link FrameParser.budget} = the message limit + a fixed 139 bytes
 * (a partial header and one control frame's payload). A message in
 * progress lives in ONE buffer that grows only with bytes actually received
 * (never with a length a header merely announces), fragments are appended to
 * it and their headers forgotten, so neither an announced size, nor a million
 * empty continuation frames, costs memory.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { ByteBuffer } from "../util/bytes.ts";

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
  tryAgainLater: 1013,
} as const;

/** Whether a close code may appear on the wire (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/**
 * The largest message one buffer may hold: the ceiling when `--maxframesize=0`
 * ("no limit of ours"). A larger announced length closes with 1009 at once.
 */
export const MESSAGE_CEILING = 2 ** 32 - 1;

/** Most fragments one message may arrive in; past it the connection closes with 1008. */
export const MAX_FRAGMENTS = 65_536;

/** Largest frame header: 2 bytes, 8 of extended length, 4 of mask. */
const MAX_HEADER = 14;

/** Largest control frame payload (RFC 6455 §5.5). */
const MAX_CONTROL = 125;

/** Receives what the parser finds, synchronously, in wire order. */
export interface FrameHandlers {
  /** A complete (reassembled) data message. The payload is only valid during the call. */
  message(binary: boolean, payload: Uint8Array): void;
  /** A ping; answer with a pong carrying the same payload (valid only during the call). */
  ping(payload: Uint8Array): void;
  /** A pong. */
  pong(): void;
  /** A valid close frame; `code` is undefined for an empty payload. */
  close(code: number | undefined, reason: string): void;
  /** The client broke the protocol or a limit; close with this code and stop reading. */
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
  // state "header": bytes of a header that spans chunks
  #head = new Uint8Array(MAX_HEADER);
  #headLen = 0;
  // state "payload": what the current frame still needs, and where it goes
  #inPayload = false;
  #left = 0;
  #phase = 0; // position in the mask of the next payload byte
  #mask = new Uint8Array(4);
  #fin = false;
  #opcode = 0;
  // a control frame's payload arriving across chunks
  #control = new Uint8Array(MAX_CONTROL);
  #controlLen = 0;
  // the data message in progress: its type (0 = none), bytes and fragment count
  #msgOp = 0;
  #msg: ByteBuffer;
  #fragments = 0;

  /**
   * @param handlers Called for each parsed item.
   * @param maxMessage Largest message in bytes after reassembly; 0 = {@link MESSAGE_CEILING}.
   */
  constructor(handlers: FrameHandlers, maxMessage: number) {
    this.#h = handlers;
    this.#maxMessage = maxMessage > 0 ? Math.min(maxMessage, MESSAGE_CEILING) : MESSAGE_CEILING;
    this.#msg = new ByteBuffer(0, this.#maxMessage);
  }

  /** Whether the parser has stopped after a protocol violation. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Bytes held between calls: a partial header, a control payload, the message in progress. */
  get heldBytes(): number {
    return MAX_HEADER + MAX_CONTROL + this.#msg.capacity;
  }

  /** The most {@link heldBytes} can ever be. */
  get budget(): number {
    return MAX_HEADER + MAX_CONTROL + this.#maxMessage;
  }

  /** Processes one chunk of socket data. The chunk may be modified in place (unmasking). */
  push(chunk: Uint8Array): void {
    let off = 0;
    const end = chunk.length;
    while (off < end && !this.#failed) {
      off = this.#inPayload ? this.#readPayload(chunk, off) : this.#readHeader(chunk, off);
    }
  }

  /** State "header": consumes header bytes; returns the new offset. */
  #readHeader(chunk: Uint8Array, off: number): number {
    // fast path: the whole header is in this chunk
    let head = chunk;
    let at = off;
    let avail = chunk.length - off;
    if (this.#headLen > 0) {
      const take = Math.min(MAX_HEADER - this.#headLen, avail);
      this.#head.set(chunk.subarray(off, off + take), this.#headLen);
      head = this.#head;
      at = 0;
      avail = this.#headLen + take;
    }
    const need = avail < 2 ? 2 : headerLength(head[at + 1]!);
    if (avail < need) {
      // keep what we have; it is at most 13 bytes
      if (head === chunk) this.#head.set(chunk.subarray(off), 0);
      this.#headLen = avail;
      return chunk.length;
    }
    const consumed = need - this.#headLen; // bytes of this chunk that belong to the header
    this.#headLen = 0;
    const b0 = head[at]!;
    const b1 = head[at + 1]!;
    let len = b1 & 0x7f;
    if (len === 126) len = (head[at + 2]! << 8) | head[at + 3]!;
    else if (len === 127) {
      const hi = (head[at + 2]! << 24 >>> 0) + (head[at + 3]! << 16) + (head[at + 4]! << 8) +
        head[at + 5]!;
      const lo = (head[at + 6]! << 24 >>> 0) + (head[at + 7]! << 16) + (head[at + 8]! << 8) +
        head[at + 9]!;
      if (hi >= 0x80000000) return this.#fail(Close.protocolError, "bad frame length");
      len = hi * 0x100000000 + lo;
    }
    if (!this.#checkHeader(b0, b1, len)) return chunk.length;
    this.#mask.set(head.subarray(at + need - 4, at + need));
    this.#fin = (b0 & 0x80) !== 0;
    this.#opcode = b0 & 0x0f;
    off += consumed;
    const whole = chunk.length - off >= len;
    if (whole && this.#opcode !== Op.continuation && this.#fin && this.#msgOp === 0) {
      // the common case: a whole unfragmented frame in this chunk, unmasked in place, no copy
      const p = chunk.subarray(off, off + len);
      unmask(p, this.#mask, 0);
      this.#complete(p);
      return off + len;
    }
    this.#inPayload = true;
    this.#left = len;
    this.#phase = 0;
    this.#controlLen = 0;
    if (this.#opcode < Op.close && this.#opcode !== Op.continuation) this.#msgOp = this.#opcode;
    if (len === 0) this.#endPayload();
    return off;
  }

  /** State "payload": moves payload bytes to where they belong; returns the new offset. */
  #readPayload(chunk: Uint8Array, off: number): number {
    const take = Math.min(this.#left, chunk.length - off);
    const part = chunk.subarray(off, off + take);
    unmask(part, this.#mask, this.#phase);
    this.#phase = (this.#phase + take) & 3;
    this.#left -= take;
    if (this.#opcode >= Op.close) {
      this.#control.set(part, this.#controlLen);
      this.#controlLen += take;
    } else this.#msg.append(part);
    if (this.#left === 0) this.#endPayload();
    return off + take;
  }

  /** A frame read through the payload state is complete. */
  #endPayload(): void {
    this.#inPayload = false;
    if (this.#opcode >= Op.close) {
      return this.#complete(this.#control.subarray(0, this.#controlLen));
    }
    this.#fragments++;
    if (!this.#fin) return;
    const op = this.#msgOp;
    this.#msgOp = 0;
    this.#fragments = 0;
    this.#deliver(op, this.#msg.view());
    this.#msg.clear();
  }

  #checkHeader(b0: number, b1: number, len: number): boolean {
    if ((b0 & 0x70) !== 0) return !this.#fail(Close.protocolError, "reserved bits set");
    if ((b1 & 0x80) === 0) return !this.#fail(Close.protocolError, "client frame not masked");
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (op >= Op.close) {
      if (op > Op.pong) return !this.#fail(Close.protocolError, `bad opcode ${op}`);
      if (!fin) return !this.#fail(Close.protocolError, "fragmented control frame");
      if (len > MAX_CONTROL) return !this.#fail(Close.protocolError, "control frame too long");
      return true;
    }
    if (op === Op.continuation) {
      if (this.#msgOp === 0) {
        return !this.#fail(Close.protocolError, "continuation with nothing to continue");
      }
      if (this.#fragments + 1 > MAX_FRAGMENTS) {
        return !this.#fail(
          Close.policyViolation,
          `message in more than ${MAX_FRAGMENTS} fragments`,
        );
      }
    } else if (op === Op.text || op === Op.binary) {
      if (this.#msgOp !== 0) {
        return !this.#fail(Close.protocolError, "data frame inside a fragmented message");
      }
    } else {
      return !this.#fail(Close.protocolError, `bad opcode ${op}`);
    }
    if (this.#msg.length + len > this.#maxMessage) {
      return !this.#fail(Close.tooBig, `message over ${this.#maxMessage} bytes`);
    }
    return true;
  }

  /** A whole frame that did not go through the message buffer. */
  #complete(p: Uint8Array): void {
    switch (this.#opcode) {
      case Op.text:
      case Op.binary:
        return this.#deliver(this.#opcode, p);
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

  /** Stops for good; returns an offset past any chunk so `push` ends. */
  #fail(code: number, reason: string): number {
    this.#failed = true;
    this.#msg.clear(0);
    this.#h.fail(code, reason);
    return Number.MAX_SAFE_INTEGER;
  }
}

/** Header length from its second byte: 2, plus 2 or 8 bytes of length, plus 4 of mask. */
function headerLength(b1: number): number {
  const len = b1 & 0x7f;
  return (len === 126 ? 4 : len === 127 ? 10 : 2) + ((b1 & 0x80) !== 0 ? 4 : 0);
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

/** Server frames appended into one buffer, so one socket write carries many messages. */
export class FrameBuilder {
  #out: ByteBuffer;

  /** @param size A first guess of the bytes needed (it grows as needed). */
  constructor(size: number) {
    this.#out = new ByteBuffer(size);
  }

  /** Appends one frame. */
  frame(opcode: number, fin: boolean, payload: Uint8Array): void {
    const at = this.#out.reserve(payload.length + 10);
    const body = writeHeader(this.#out.storage, at, opcode, fin, payload.length);
    this.#out.storage.set(payload, body);
    this.#out.advance(body - at + payload.length);
  }

  /** The frames so far, or null when none were added. */
  result(): Uint8Array | null {
    return this.#out.length === 0 ? null : this.#out.view();
  }
}

/**
 * A close reason as the UTF-8 bytes a close frame can carry: at most 123,
 * cut at a character boundary (a close reason must stay valid UTF-8).
 */
export function closeReasonBytes(reason: string): Uint8Array {
  const r = new TextEncoder().encode(reason);
  if (r.length <= 123) return r;
  let end = 123;
  while (end > 0 && (r[end]! & 0xc0) === 0x80) end--;
  return r.subarray(0, end);
}

/** Builds a close frame, truncating the reason to the 123 bytes a frame allows. */
export function closeFrame(code: number, reason: string): Uint8Array {
  const c = isValidCloseCode(code) ? code : Close.internalError;
  const r = closeReasonBytes(reason);
  const p = new Uint8Array(2 + r.length);
  p[0] = c >> 8;
  p[1] = c & 0xff;
  p.set(r, 2);
  return frame(Op.close, p);
}

/** One server frame found by {@link readServerFrames}. */
export interface ServerFrame {
  /** Opcode. */
  opcode: number;
  /** FIN bit. */
  fin: boolean;
  /** Payload (a view into the input). */
  payload: Uint8Array;
}

/**
 * Walks frames this module wrote (unmasked, whole): for endpoints that must
 * hand messages to an API instead of bytes to a socket. Not for client input.
 */
export function* readServerFrames(bytes: Uint8Array): Generator<ServerFrame> {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at]!;
    let len = bytes[at + 1]! & 0x7f;
    let p = at + 2;
    if (len === 126) {
      len = (bytes[p]! << 8) | bytes[p + 1]!;
      p += 2;
    } else if (len === 127) {
      len = (bytes[p + 2]! * 2 ** 40) + (bytes[p + 3]! * 2 ** 32) + (bytes[p + 4]! << 24 >>> 0) +
        (bytes[p + 5]! << 16) + (bytes[p + 6]! << 8) + bytes[p + 7]!;
      p += 8;
    }
    yield { opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, payload: bytes.subarray(p, p + len) };
    at = p + len;
  }
}

/** Short ASCII messages are the common case: a byte loop beats an op call per message. */
function isAscii(p: Uint8Array): boolean {
  if (p.length > 256) return false;
  for (let i = 0; i < p.length; i++) if (p[i]! >= 0x80) return false;
  return true;
}
