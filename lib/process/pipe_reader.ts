/**
 * Reading a child's pipe: the {@link ByteReader} the pipe and the CGI runner
 * pull program output through.
 *
 * @module
 */

import type { Readable } from "node:stream";

/** What the pipe and the CGI runner read program output through. */
export interface ByteReader {
  /** The next chunk, valid only until the next call; null at EOF. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading (the pipe is closed); idempotent. */
  cancel(): Promise<void>;
}

/**
 * Pulls from a node pipe stream in paused mode: nothing is read ahead past
 * the stream's high-water mark while we are not asking, so a program whose
 * output is not taken blocks in `write()`. Idle, it holds no read buffer.
 */
export class PipeReader implements ByteReader {
  #stream: Readable;
  #done = false;
  #wake: (() => void) | null = null;

  /** @param stream A child's stdout or stderr (node:child_process, stdio "pipe"). */
  constructor(stream: Readable) {
    this.#stream = stream;
    const wake = () => {
      const w = this.#wake;
      this.#wake = null;
      w?.();
    };
    const end = () => {
      this.#done = true;
      wake();
    };
    stream.on("readable", wake);
    stream.on("end", end);
    stream.on("close", end);
    stream.on("error", end);
  }

  /** See {@link ByteReader.read}; a cancelled or broken pipe reads as EOF. */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.#stream.read() as Uint8Array | null;
      if (chunk !== null) return chunk;
      if (this.#done) return null;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** See {@link ByteReader.cancel}. */
  cancel(): Promise<void> {
    this.#done = true;
    this.#stream.destroy();
    return Promise.resolve();
  }
}
