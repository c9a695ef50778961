/**
 * Leveled logging in websocketd's line format (or one JSON object per line),
 * written to stdout like websocketd does.
 *
 * @module
 */

/** Log levels from most to least verbose. `none` prints nothing at all. */
export const LEVELS = ["debug", "trace", "access", "info", "error", "fatal", "none"] as const;
/** A log level name. */
export type Level = typeof LEVELS[number];

/** Key/value context printed with a line, in insertion order. */
export type Fields = Record<string, string | number | undefined>;

/** Output format of log lines. */
export type LogFormat = "text" | "json";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** Formats a time as RFC 1123 with a numeric zone, in local time (Go's RFC1123Z). */
export function rfc1123z(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${DAYS[d.getDay()]}, ${two(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** Where log lines go; tests and embedders may capture them. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** Writes to stdout synchronously so lines are never reordered or lost on exit. */
export const stdoutSink: LogSink = (line) => {
  const bytes = encoder.encode(line);
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
};

/** A leveled logger. Cheap when a level is disabled. */
export class Logger {
  #min: number;
  #format: LogFormat;
  #sink: LogSink;
  #stampSecond = -1;
  #stamp = "";

  /**
   * @param level Least level printed.
   * @param format `text` (websocketd's format) or `json`.
   * @param sink Receives each finished line, newline included.
   */
  constructor(level: Level = "access", format: LogFormat = "text", sink: LogSink = stdoutSink) {
    this.#min = LEVELS.indexOf(level);
    this.#format = format;
    this.#sink = sink;
  }

  /** Whether lines of this level are printed. */
  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= this.#min && this.#min < LEVELS.length - 1;
  }

  /** Logs one line. */
  log(level: Exclude<Level, "none">, category: string, fields: Fields, message: string): void {
    if (!this.enabled(level)) return;
    const now = new Date();
    if (this.#format === "json") {
      const obj: Record<string, unknown> = { time: now.toISOString(), level, category };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) obj[k] = v;
      obj.msg = message;
      this.#sink(JSON.stringify(obj) + "\n");
      return;
    }
    const sec = Math.floor(now.getTime() / 1000);
    if (sec !== this.#stampSecond) {
      this.#stampSecond = sec;
      this.#stamp = rfc1123z(now);
    }
    let kv = "";
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      kv += `${kv ? " " : ""}${k}:'${v}'`;
    }
    this.#sink(
      `${this.#stamp} | ${level.toUpperCase().padEnd(6)} | ${category.padEnd(10)} | ${kv} | ${
        message.replaceAll("\n", "\\n")
      }\n`,
    );
  }

  /** DEBUG line. */
  debug(category: string, fields: Fields, message: string): void {
    this.log("debug", category, fields, message);
  }
  /** TRACE line. */
  trace(category: string, fields: Fields, message: string): void {
    this.log("trace", category, fields, message);
  }
  /** ACCESS line. */
  access(category: string, fields: Fields, message: string): void {
    this.log("access", category, fields, message);
  }
  /** INFO line. */
  info(category: string, fields: Fields, message: string): void {
    this.log("info", category, fields, message);
  }
  /** ERROR line. */
  error(category: string, fields: Fields, message: string): void {
    this.log("error", category, fields, message);
  }
  /** FATAL line. */
  fatal(category: string, fields: Fields, message: string): void {
    this.log("fatal", category, fields, message);
  }
}
