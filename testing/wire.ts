/**
 * What a test client puts on the wire: the one client frame encoder (masked
 * or not, any opcode, fragments, reserved bits), close payloads, and the byte
 * helpers the raw clients share. Used by the tests, the soak and the bench's
 * load client alike; nothing here depends on a test framework.
 *
 * @module
 */

const enc = new TextEncoder();

/** How {@link writeClientFrame} builds one frame. */
export interface ClientFrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /**
   * Masking: `true` (default) a fresh random key, a number a fixed 32-bit key
   * (load clients pass their own cheap one), `false` no mask at all (a
   * protocol violation, for hostile tests).
   */
  mask?: boolean | number;
  /** Reserved bits RSV1-3 as a 3-bit number (a violation unless 0). */
  rsv?: number;
}

/** Bytes one client frame with a payload of `len` bytes takes. */
export function clientFrameSize(len: number, masked = true): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0) + len;
}

const randomKey = new Uint32Array(1);

/**
 * Writes one client frame into `out` at `at` (there must be
 * {@link clientFrameSize} bytes of room).
 * @returns The offset just after the frame.
 */
export function writeClientFrame(
  out: Uint8Array,
  at: number,
  opcode: number,
  payload: Uint8Array,
  opts: ClientFrameOptions = {},
): number {
  const len = payload.length;
  const masked = opts.mask !== false;
  out[at] = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode;
  let h = at + 2;
  if (len < 126) out[at + 1] = len;
  else if (len < 65536) {
    out[at + 1] = 126;
    out[at + 2] = len >> 8;
    out[at + 3] = len & 0xff;
    h = at + 4;
  } else {
    out[at + 1] = 127;
    new DataView(out.buffer, out.byteOffset).setBigUint64(at + 2, BigInt(len));
    h = at + 10;
  }
  if (!masked) {
    out.set(payload, h);
    return h + len;
  }
  out[at + 1]! |= 0x80;
  const key = typeof opts.mask === "number" ? opts.mask : crypto.getRandomValues(randomKey)[0]!;
  const m0 = key & 0xff, m1 = (key >>> 8) & 0xff, m2 = (key >>> 16) & 0xff, m3 = key >>> 24;
  out[h] = m0;
  out[h + 1] = m1;
  out[h + 2] = m2;
  out[h + 3] = m3;
  h += 4;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    out[h + i] = payload[i]! ^ m0;
    out[h + i + 1] = payload[i + 1]! ^ m1;
    out[h + i + 2] = payload[i + 2]! ^ m2;
    out[h + i + 3] = payload[i + 3]! ^ m3;
  }
  if (i < len) out[h + i] = payload[i]! ^ m0;
  if (i + 1 < len) out[h + i + 1] = payload[i + 1]! ^ m1;
  if (i + 2 < len) out[h + i + 2] = payload[i + 2]! ^ m2;
  return h + len;
}

/**
 * One client frame in a new buffer, masked with a random key unless told
 * otherwise.
 */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  opts: ClientFrameOptions = {},
): Uint8Array {
  const out = new Uint8Array(clientFrameSize(payload.length, opts.mask !== false));
  writeClientFrame(out, 0, opcode, payload, opts);
  return out;
}

/** A close frame payload: the code, then the reason in UTF-8. */
export function closePayload(code: number, reason = ""): Uint8Array {
  const r = enc.encode(reason);
  const p = new Uint8Array(2 + r.length);
  p[0] = code >> 8;
  p[1] = code & 0xff;
  p.set(r, 2);
  return p;
}

/** `a` followed by `b`, in a new buffer. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Every part, in order, in one new buffer. */
export function concatAll(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Where `needle` first occurs in `hay`, or -1. */
export function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Writes every byte (`Deno.Conn.write` may write fewer). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
