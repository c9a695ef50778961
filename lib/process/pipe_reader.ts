/**
 * Reading a child's pipe without holding memory while it is idle.
 *
 * @module
 */

/** Smallest and largest read buffers of {@link PipeReader}. */
const MIN_READ = 1024;
const MAX_READ = 64 * 1024;

/** What the pipe and the CGI runner read program output through. */
export interface ByteReader {
  /** The next chunk, valid only until the next call; null at EOF. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading (the pipe is closed); idempotent. */
  cancel(): Promise<void>;
}

/**
 * Reads a pipe into a reused buffer that grows while the program writes a
 * lot and shrinks when it goes quiet. An idle session then holds 1 KiB per
 * pending read instead of the stream's default 64 KiB.
 */
export class PipeReader implements ByteReader {
  #reader: ReadableStreamBYOBReader;
  #buf = new Uint8Array(MIN_READ);
  #done = false;

  /** @param stream A byte stream (a child's stdout or stderr). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader({ mode: "byob" });
  }

  /** See {@link ByteReader.read}; a cancelled or broken pipe reads as EOF. */
  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.#reader.read(this.#buf);
    } catch {
      this.#done = true;
      return null;
    }
    const { value, done } = result;
    if (done || !value) {
      this.#done = true;
      return null;
    }
    const size = value.buffer.byteLength;
    const want = value.length === size
      ? Math.min(size * 2, MAX_READ)
      : value.length * 4 < size
      ? Math.max(size / 2, MIN_READ)
      : size;
    this.#buf = want === size ? new Uint8Array(value.buffer as ArrayBuffer) : new Uint8Array(want);
    return value;
  }

  /** See {@link ByteReader.cancel}. */
  cancel(): Promise<void> {
    this.#done = true;
    return this.#reader.cancel().catch(() => {});
  }
}
