/**
 * A command-line parser with Go `flag` package semantics, so that every
 * websocketd command line means the same thing here, and the help text
 * generated from the flag table.
 *
 * `node:util` `parseArgs` is not used: it cannot stop at the first
 * positional argument (COMMAND's own flags must pass through verbatim) and it
 * silently misreads Go's single-dash long form (`-port=8080`).
 *
 * @module
 */

import { FLAGS, type FlagSpec, GROUP_TITLES } from "./flag_table.ts";

export { FLAGS, type FlagSpec };

/** The program's name in messages and help, as websocketd's. */
export const PROG = "websocketd";

/** Parsed flag values: last-one-wins scalars, arrays for repeatable flags. */
export type FlagValues = Map<string, string | number | boolean | string[]>;

/** Result of {@link parseFlags}. */
export interface ParsedArgs {
  /** Only the flags that were given. */
  values: FlagValues;
  /** COMMAND and its arguments, verbatim. */
  positionals: string[];
}

/** A command-line error (exit status 2, like Go's flag package); the short usage follows it. */
export class UsageError extends Error {
  /** Process exit status. */
  readonly exitCode = 2;
  /** Create a usage error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const byName = new Map(FLAGS.map((f) => [f.name, f]));

/** Go's strconv.ParseBool spellings. */
const BOOLS: Record<string, boolean> = {
  "1": true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  "0": false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

/** Parses an integer the way Go's strconv.ParseInt(s, 0, 64) does (0x, 0o, 0b, leading 0 = octal). */
export function parseGoInt(text: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(
    text,
  );
  if (!m) return undefined;
  const body = m[2]!;
  if (body.includes("__") || body.endsWith("_")) return undefined;
  const digits = body.replaceAll("_", "");
  let value: number;
  if (/^0[xX]/.test(digits)) value = parseInt(digits.slice(2), 16);
  else if (/^0[oO]/.test(digits)) value = parseInt(digits.slice(2), 8);
  else if (/^0[bB]/.test(digits)) value = parseInt(digits.slice(2), 2);
  else if (digits.length > 1 && digits[0] === "0") value = parseInt(digits.slice(1), 8);
  else value = parseInt(digits, 10);
  if (!Number.isSafeInteger(value)) return undefined;
  return m[1] === "-" ? -value : value;
}

function convert(spec: FlagSpec, raw: string): string | number {
  if (spec.kind === "string") return raw;
  const n = parseGoInt(raw);
  if (n === undefined || (spec.kind === "uint" && n < 0)) {
    throw new UsageError(`invalid value "${raw}" for flag -${spec.name}: parse error`);
  }
  return n;
}

/**
 * Parses argv with Go `flag` rules: `-f` and `--f` are the same, values follow
 * `=` or come as the next argument, booleans take only `=value`, and parsing
 * stops at the first non-flag argument or at `--`.
 *
 * @param argv The arguments after the program name.
 * @returns The given flags and the verbatim COMMAND with its arguments.
 * @throws {UsageError} For unknown flags and unparsable values (exit 2).
 */
export function parseFlags(argv: readonly string[]): ParsedArgs {
  const values: FlagValues = new Map();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== "-") break;
    if (arg === "--") {
      i++;
      break;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body.length === 0 || body[0] === "-" || body[0] === "=") {
      throw new UsageError(`bad flag syntax: ${arg}`);
    }
    i++;
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = name === "h" ? byName.get("help") : byName.get(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    let value: string | number | boolean;
    if (spec.kind === "bool") {
      if (inline === undefined) value = true;
      else {
        const b = BOOLS[inline];
        if (b === undefined) {
          throw new UsageError(`invalid boolean value "${inline}" for -${name}: parse error`);
        }
        value = b;
      }
    } else {
      let raw = inline;
      if (raw === undefined) {
        if (i >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
        raw = argv[i++]!;
      }
      value = convert(spec, raw);
    }
    if (spec.repeat) {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      list.push(String(value));
      values.set(spec.name, list);
    } else {
      values.set(spec.name, value);
    }
  }
  return { values, positionals: argv.slice(i) };
}

/** Reads a flag's value, falling back to the table's default. */
export function flagValue<T extends string | number | boolean | string[]>(
  values: FlagValues,
  name: string,
): T {
  const spec = byName.get(name);
  if (!spec) throw new Error(`unknown flag ${name}`);
  const v = values.get(name);
  if (v !== undefined) return v as T;
  if (spec.repeat) return [] as unknown as T;
  return (spec.default ?? "") as T;
}

/** The short usage printed after command-line errors. */
export function shortUsage(prog: string): string {
  return `Usage: ${prog} [options] COMMAND [command args...]\n` +
    `   or: ${prog} [options] --dir=DIR\n` +
    `Run '${prog} --help' for all options.\n`;
}

/** The long help, generated from {@link FLAGS}. */
export function longHelp(prog: string): string {
  const lines = [
    `${prog}: turn any program that reads stdin and writes stdout into a WebSocket server.`,
    "",
    shortUsage(prog).trimEnd().split("\n").slice(0, 2).join("\n"),
    "",
    "Each WebSocket connection starts COMMAND; each line it prints becomes a message,",
    "and each message received becomes a line on its stdin. Flags take -flag or --flag,",
    "with =VALUE or a separate VALUE; flags end at COMMAND or at '--'.",
  ];
  for (const group of Object.keys(GROUP_TITLES) as FlagSpec["group"][]) {
    lines.push("", `${GROUP_TITLES[group]}:`);
    for (const f of FLAGS.filter((x) => x.group === group)) {
      const left = `  --${f.name}${f.arg ? `=${f.arg}` : ""}`;
      const dflt = f.default !== undefined && f.kind !== "bool" && f.default !== ""
        ? ` (default ${JSON.stringify(f.default)})`
        : "";
      const note = f.origin === "deno" ? " [websocketd-deno]" : "";
      lines.push(left.padEnd(34) + f.help + dflt + note);
    }
  }
  lines.push(
    "",
    "Environment of COMMAND: only --passenv variables plus the CGI variables of the",
    "request (REMOTE_ADDR, QUERY_STRING, HTTP_*, ...). See README.md.",
    "",
  );
  return lines.join("\n");
}
