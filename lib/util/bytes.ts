/**
 * The one growable byte buffer. Every place that collects bytes of unknown
 * length (a message in progress, a batch of stdin input, frames being built,
 * a CGI header block) uses it, so growth and its bound are written once.
 *
 * @module
 */

/** Bytes appended at the end, read back as one view; grows by doubling. */
export class ByteBuffer {
  #buf: Uint8Array;
  #len = 0;
  #max: number;

  /**
   * @param initial Capacity to start with (0 allocates on first append).
   * @param max Capacity never grows past this (callers keep `length` within it).
   */
  constructor(initial = 0, max = Number.MAX_SAFE_INTEGER) {
    this.#buf = new Uint8Array(initial);
    this.#max = max;
  }

  /** Bytes held. */
  get length(): number {
    return this.#len;
  }

  /** Bytes allocated (what this buffer costs in memory). */
  get capacity(): number {
    return this.#buf.length;
  }

  /** Makes room for `extra` more bytes and returns the offset where they go. */
  reserve(extra: number): number {
    const need = this.#len + extra;
    if (need > this.#buf.length) {
      const grown = Math.min(Math.max(this.#buf.length * 2, 256), this.#max);
      const bigger = new Uint8Array(Math.max(need, grown));
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    return this.#len;
  }

  /** Appends bytes. */
  append(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.#buf.set(bytes, at);
    this.#len += bytes.length;
  }

  /** Appends one byte. */
  push(byte: number): void {
    const at = this.reserve(1);
    this.#buf[at] = byte;
    this.#len++;
  }

  /** The raw storage, for writers that fill space obtained from {@link reserve}. */
  get storage(): Uint8Array {
    return this.#buf;
  }

  /** Marks `n` bytes written into the reserved space as held. */
  advance(n: number): void {
    this.#len += n;
  }

  /** The bytes held, as a view valid until the next append or clear. */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** The bytes held, as a copy of their own; then empties the buffer. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#len);
    this.#len = 0;
    return out;
  }

  /**
   * Empties the buffer. Storage above `keep` bytes is released, so an idle
   * owner does not hold the memory of one past burst.
   */
  clear(keep = 64 * 1024): void {
    this.#len = 0;
    if (this.#buf.length > keep) this.#buf = new Uint8Array(0);
  }
}

/** `a` followed by `b`, in a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
