/**
 * Server frames: writing them (headers into one buffer, so one socket write
 * carries many messages) and reading back frames we wrote, for endpoints
 * that hand messages to an API rather than bytes to a socket.
 *
 * @module
 */

import { ByteBuffer } from "../util/bytes.ts";
import { Close, isValidCloseCode, Op } from "./protocol.ts";

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
