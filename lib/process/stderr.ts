/**
 * A program's stderr: read to its end (a program blocked on a full stderr
 * pipe would hang), turned into log lines of bounded length.
 *
 * @module
 */

import type { ByteReader } from "./pipe_reader.ts";

/** Longest line logged in one piece; longer ones are logged in pieces. */
export const LOG_LINE_MAX = 64 * 1024;

/**
 * Turns a program's stderr bytes into log lines: split on `\n` (one `\r`
 * dropped), invalid UTF-8 replaced, lines of any length logged in pieces of
 * at most {@link LOG_LINE_MAX}, and a last line without newline still logged.
 */
export class StderrLines {
  #emit: (line: string) => void;
  #dec = new TextDecoder();
  #carry = "";

  /** @param emit Called once per line. */
  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  /** Feeds bytes. */
  push(bytes: Uint8Array): void {
    const text = this.#carry + this.#dec.decode(bytes, { stream: true });
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf("\n", start)) >= 0) {
      this.#line(text.slice(start, nl > start && text[nl - 1] === "\r" ? nl - 1 : nl));
      start = nl + 1;
    }
    while (text.length - start > LOG_LINE_MAX) {
      this.#emit(text.slice(start, start + LOG_LINE_MAX) + " [line continues]");
      start += LOG_LINE_MAX;
    }
    this.#carry = text.slice(start);
  }

  #line(line: string): void {
    let at = 0;
    for (; line.length - at > LOG_LINE_MAX; at += LOG_LINE_MAX) {
      this.#emit(line.slice(at, at + LOG_LINE_MAX) + " [line continues]");
    }
    this.#emit(line.slice(at));
  }

  /** Logs what is left at EOF. */
  end(): void {
    const rest = this.#carry + this.#dec.decode();
    this.#carry = "";
    if (rest) this.#line(rest);
  }
}

/**
 * Reads stderr to EOF (or until cancelled). Each line goes to `emitLine`
 * when given; each chunk to `onChunk` (for --passstderr) when given.
 */
export async function drainStderr(
  reader: ByteReader,
  emitLine: ((line: string) => void) | null,
  onChunk?: (bytes: Uint8Array) => void,
): Promise<void> {
  const lines = emitLine ? new StderrLines(emitLine) : null;
  while (true) {
    const chunk = await reader.read();
    if (!chunk) break;
    onChunk?.(chunk);
    lines?.push(chunk);
  }
  lines?.end();
}
