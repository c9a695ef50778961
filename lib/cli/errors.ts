/**
 * Startup errors: each carries the exit status and the stream websocketd
 * uses for it; a help exit carries what to print.
 *
 * @module
 */

/** How a {@link ConfigError} is reported. */
export interface ConfigErrorOptions {
  /** Exit status (default 1). */
  exitCode?: number;
  /** Where the message goes: websocketd prints some through its logger, on stdout. */
  stream?: "stdout" | "stderr";
  /** Follow with the short usage on stderr. */
  usage?: boolean;
}

/** A startup error with the exit status and stream websocketd uses for it. */
export class ConfigError extends Error {
  /** Exit status. */
  readonly exitCode: number;
  /** Where the message goes. */
  readonly stream: "stdout" | "stderr";
  /** Follow with the short usage on stderr. */
  readonly usage: boolean;
  /** Create one. */
  constructor(message: string, opts: ConfigErrorOptions = {}) {
    super(message);
    this.name = "ConfigError";
    this.exitCode = opts.exitCode ?? 1;
    this.stream = opts.stream ?? "stderr";
    this.usage = opts.usage ?? false;
  }
}

/** --help, --version or --license: print and exit 0. */
export class HelpExit extends Error {
  /** What to print, and where. */
  readonly output: { stdout?: string; stderr?: string };
  /** Create one. */
  constructor(output: { stdout?: string; stderr?: string }) {
    super("help");
    this.output = output;
  }
}
