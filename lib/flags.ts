/**
 * The one table of command-line flags, and a parser with Go `flag` package
 * semantics so that every websocketd command line means the same thing here.
 *
 * `node:util` `parseArgs` is not used: it cannot stop at the first
 * positional argument (COMMAND's own flags must pass through verbatim) and it
 * silently misreads Go's single-dash long form (`-port=8080`).
 *
 * @module
 */

/** How a flag's value is read. */
export type FlagKind = "bool" | "int" | "uint" | "string";

/** One row of the flag table. */
export interface FlagSpec {
  /** Name without dashes, as typed after `--`. */
  name: string;
  /** Value type. */
  kind: FlagKind;
  /** Each occurrence appends instead of replacing. */
  repeat?: boolean;
  /** Placeholder shown in help (`--port=PORT`). */
  arg?: string;
  /** Help text; the default is appended from {@link FlagSpec.default}. */
  help: string;
  /** Default value shown in help and used when the flag is absent. */
  default?: string | number | boolean;
  /** Help section. */
  group: "listen" | "program" | "http" | "security" | "ops" | "info";
  /** Where the flag comes from: websocketd 0.4.1, websocketd HEAD, or this project. */
  origin: "0.4.1" | "HEAD" | "deno";
}

/** Every flag this program accepts. Defaults live here and nowhere else. */
export const FLAGS: readonly FlagSpec[] = [
  // listening
  {
    name: "port",
    kind: "int",
    arg: "PORT",
    group: "listen",
    origin: "0.4.1",
    default: 0,
    help: "TCP port to listen on; 0 means 80, or 443 with --ssl.",
  },
  {
    name: "address",
    kind: "string",
    repeat: true,
    arg: "ADDR",
    group: "listen",
    origin: "0.4.1",
    help:
      "Interface to listen on (IPv4, [IPv6] or host name); repeat for several. Default: all interfaces.",
  },
  {
    name: "unixsocket",
    kind: "string",
    arg: "PATH",
    group: "listen",
    origin: "HEAD",
    help:
      "Also listen on this Unix socket. Alone (no --port/--address/--redirport) it is the only listener.",
  },
  {
    name: "ssl",
    kind: "bool",
    group: "listen",
    origin: "0.4.1",
    default: false,
    help: "Serve HTTPS and wss:// (needs --sslcert and --sslkey).",
  },
  {
    name: "sslcert",
    kind: "string",
    arg: "FILE",
    group: "listen",
    origin: "0.4.1",
    help: "PEM certificate chain for --ssl. Re-read on SIGHUP.",
  },
  {
    name: "sslkey",
    kind: "string",
    arg: "FILE",
    group: "listen",
    origin: "0.4.1",
    help: "PEM private key for --ssl. Re-read on SIGHUP.",
  },
  {
    name: "sslca",
    kind: "string",
    arg: "FILE",
    group: "listen",
    origin: "HEAD",
    help: "Mutual TLS: require client certificates signed by this PEM CA (needs --ssl).",
  },
  {
    name: "redirport",
    kind: "int",
    arg: "PORT",
    group: "listen",
    origin: "0.4.1",
    default: 0,
    help: "Also listen on this port and answer everything with 301 to the main port.",
  },
  // the program
  {
    name: "dir",
    kind: "string",
    arg: "DIR",
    group: "program",
    origin: "0.4.1",
    help: "Serve every executable under DIR; the URL path picks the program.",
  },
  {
    name: "passenv",
    kind: "string",
    arg: "VAR,VAR",
    group: "program",
    origin: "0.4.1",
    default: "PATH,LD_LIBRARY_PATH",
    help: "Variables of our own environment that programs see (the list replaces the default).",
  },
  {
    name: "binary",
    kind: "bool",
    group: "program",
    origin: "0.4.1",
    default: false,
    help: "Binary mode: each stdout read becomes a binary message; messages go to stdin raw.",
  },
  {
    name: "passstderr",
    kind: "bool",
    group: "program",
    origin: "HEAD",
    default: false,
    help: 'Send stdout and stderr lines as JSON {"stream":"stdout|stderr","data":LINE}.',
  },
  {
    name: "reverselookup",
    kind: "bool",
    group: "program",
    origin: "0.4.1",
    default: false,
    help: "Fill REMOTE_HOST with the client's reverse-DNS name.",
  },
  {
    name: "closems",
    kind: "uint",
    arg: "MS",
    group: "program",
    origin: "0.4.1",
    default: 0,
    help:
      "Extra grace added to each step of the stop ladder (stdin EOF, SIGINT, SIGTERM, SIGKILL).",
  },
  {
    name: "maxforks",
    kind: "int",
    arg: "N",
    group: "program",
    origin: "0.4.1",
    default: 1024,
    help: "Most programs running at once (sessions and CGI); more get HTTP 429. 0 = no limit.",
  },
  // HTTP surface
  {
    name: "staticdir",
    kind: "string",
    arg: "DIR",
    group: "http",
    origin: "0.4.1",
    help: "Serve static files from DIR to plain HTTP requests.",
  },
  {
    name: "cgidir",
    kind: "string",
    arg: "DIR",
    group: "http",
    origin: "0.4.1",
    help: "Run CGI/1.1 scripts from DIR for plain HTTP requests.",
  },
  {
    name: "devconsole",
    kind: "bool",
    group: "http",
    origin: "0.4.1",
    default: false,
    help: "Answer plain HTTP requests with an interactive console page for trying the endpoint.",
  },
  {
    name: "header",
    kind: "string",
    repeat: true,
    arg: "'NAME: VALUE'",
    group: "http",
    origin: "0.4.1",
    help: "Add a header to every response; repeat for several.",
  },
  {
    name: "header-ws",
    kind: "string",
    repeat: true,
    arg: "'NAME: VALUE'",
    group: "http",
    origin: "0.4.1",
    help: "Add a header to WebSocket handshake (101) responses only.",
  },
  {
    name: "header-http",
    kind: "string",
    repeat: true,
    arg: "'NAME: VALUE'",
    group: "http",
    origin: "0.4.1",
    help: "Add a header to plain HTTP responses only.",
  },
  {
    name: "subprotocol",
    kind: "string",
    repeat: true,
    arg: "NAME",
    group: "http",
    origin: "deno",
    help:
      "A WebSocket subprotocol we speak; the first one the client offers is chosen (WEBSOCKET_PROTOCOL).",
  },
  // security
  {
    name: "origin",
    kind: "string",
    arg: "HOST[:PORT],...",
    group: "security",
    origin: "0.4.1",
    help: "Accept WebSocket handshakes only from these origins ([scheme://]host[:port]).",
  },
  {
    name: "sameorigin",
    kind: "bool",
    group: "security",
    origin: "0.4.1",
    default: false,
    help: "Accept WebSocket handshakes only when Origin matches the Host header.",
  },
  {
    name: "trust-proxy",
    kind: "string",
    arg: "ADDR|CIDR,...",
    group: "security",
    origin: "deno",
    help:
      "Proxies whose Forwarded / X-Forwarded-* headers are believed (REMOTE_ADDR, HTTPS, SERVER_NAME).",
  },
  {
    name: "maxframesize",
    kind: "int",
    arg: "BYTES",
    group: "security",
    origin: "HEAD",
    default: 1048576,
    help: "Largest message accepted from a client; larger ones close with 1009. 0 = no limit.",
  },
  {
    name: "pingms",
    kind: "uint",
    arg: "MS",
    group: "security",
    origin: "HEAD",
    default: 0,
    help: "Ping clients every MS; a client silent for 2*MS is dropped. 0 = off.",
  },
  {
    name: "stallms",
    kind: "uint",
    arg: "MS",
    group: "security",
    origin: "deno",
    default: 10000,
    help: "When 1 MiB of input waits and the program has read none of it for MS, close with 1008.",
  },
  {
    name: "basic-auth-file",
    kind: "string",
    arg: "FILE",
    group: "security",
    origin: "deno",
    help: "Require HTTP Basic auth for WebSocket handshakes; FILE from `htpasswd -B`.",
  },
  {
    name: "bearer-token-file",
    kind: "string",
    arg: "FILE",
    group: "security",
    origin: "deno",
    help:
      "Require a bearer token (Authorization header or ?access_token=) from FILE, one per line.",
  },
  {
    name: "auth-http",
    kind: "bool",
    group: "security",
    origin: "deno",
    default: false,
    help: "Require the same authentication for plain HTTP (static, CGI, console, metrics).",
  },
  // operations
  {
    name: "metrics",
    kind: "string",
    arg: "PATH",
    group: "ops",
    origin: "deno",
    help: "Serve Prometheus metrics at this URL path (e.g. /metrics).",
  },
  {
    name: "health",
    kind: "string",
    arg: "PATH",
    group: "ops",
    origin: "deno",
    help: "Serve a health check at this URL path: 200 while serving, 503 while draining.",
  },
  {
    name: "drain-ms",
    kind: "uint",
    arg: "MS",
    group: "ops",
    origin: "deno",
    default: 0,
    help:
      "On SIGTERM/SIGINT refuse new sessions and wait up to MS for live ones to end before closing them.",
  },
  {
    name: "logformat",
    kind: "string",
    arg: "text|json",
    group: "ops",
    origin: "deno",
    default: "text",
    help: "Log lines in websocketd's text format or as one JSON object per line.",
  },
  {
    name: "loglevel",
    kind: "string",
    arg: "LEVEL",
    group: "ops",
    origin: "0.4.1",
    default: "access",
    help: "Least level logged: debug, trace, access, info, error, fatal or none.",
  },
  // information
  {
    name: "version",
    kind: "bool",
    group: "info",
    origin: "0.4.1",
    default: false,
    help: "Print the version and exit.",
  },
  {
    name: "license",
    kind: "bool",
    group: "info",
    origin: "0.4.1",
    default: false,
    help: "Print the license and exit.",
  },
  {
    name: "help",
    kind: "bool",
    group: "info",
    origin: "0.4.1",
    default: false,
    help: "Print this help and exit.",
  },
];

/** Parsed flag values: last-one-wins scalars, arrays for repeatable flags. */
export type FlagValues = Map<string, string | number | boolean | string[]>;

/** Result of {@link parseFlags}. */
export interface ParsedArgs {
  /** Only the flags that were given. */
  values: FlagValues;
  /** COMMAND and its arguments, verbatim. */
  positionals: string[];
}

/** A command-line error with the exit status websocketd uses for it. */
export class UsageError extends Error {
  /** Process exit status. */
  exitCode: number;
  /** Whether the short usage text should follow the message. */
  showUsage: boolean;
  /** Create a usage error. */
  constructor(message: string, exitCode = 2, showUsage = true) {
    super(message);
    this.name = "UsageError";
    this.exitCode = exitCode;
    this.showUsage = showUsage;
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

const GROUP_TITLES: Record<FlagSpec["group"], string> = {
  listen: "Listening",
  program: "The program",
  http: "Plain HTTP",
  security: "Limits and access",
  ops: "Operations",
  info: "Information",
};

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
