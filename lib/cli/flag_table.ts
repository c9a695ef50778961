/**
 * The one table of command-line flags: names, types, defaults, help. A
 * flag's default lives here and nowhere else.
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
  group: "listen" | "program" | "broadcast" | "http" | "security" | "ops" | "info";
  /** Where the flag comes from: websocketd 0.4.1, websocketd HEAD, or this project. */
  origin: "0.4.1" | "HEAD" | "deno";
}

/** Titles of the flag groups, in the order help and the README show them. */
export const GROUP_TITLES: Record<FlagSpec["group"], string> = {
  listen: "Listening",
  program: "The program",
  broadcast: "Broadcast mode",
  http: "Plain HTTP and the handshake",
  security: "Limits and access",
  ops: "Operations",
  info: "Information",
};

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
  // broadcast mode
  {
    name: "broadcast",
    kind: "bool",
    group: "broadcast",
    origin: "deno",
    default: false,
    help:
      "One running program per route shared by all its clients: each line goes to every client, every client's messages go to its stdin.",
  },
  {
    name: "broadcast-input",
    kind: "string",
    arg: "all|none",
    group: "broadcast",
    origin: "deno",
    default: "all",
    help: "none makes clients read-only: a message from one closes it with 1003.",
  },
  {
    name: "broadcast-replay",
    kind: "uint",
    arg: "N",
    group: "broadcast",
    origin: "deno",
    default: 0,
    help: "A joining client first gets the last N messages (each up to 64 KiB).",
  },
  {
    name: "broadcast-linger",
    kind: "uint",
    arg: "MS",
    group: "broadcast",
    origin: "deno",
    default: 0,
    help: "The program outlives its last client by MS (so a page reload does not restart it).",
  },
  {
    name: "broadcast-queue",
    kind: "uint",
    arg: "BYTES",
    group: "broadcast",
    origin: "deno",
    default: 1048576,
    help: "Output a client may fall behind by; a slower client is closed with 1008.",
  },
  {
    name: "broadcast-clients",
    kind: "uint",
    arg: "N",
    group: "broadcast",
    origin: "deno",
    default: 0,
    help: "Most clients per program; more get HTTP 429. 0 = no limit.",
  },
  {
    name: "broadcast-total",
    kind: "uint",
    arg: "N",
    group: "broadcast",
    origin: "deno",
    default: 0,
    help: "Most broadcast clients in all; more get HTTP 429. 0 = no limit.",
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
      "Proxies whose forwarding headers are believed (REMOTE_ADDR, REMOTE_PORT; HTTPS and SERVER_NAME with --trust-proxy-headers).",
  },
  {
    name: "trust-proxy-headers",
    kind: "string",
    arg: "HEADER,...",
    group: "security",
    origin: "deno",
    default: "x-forwarded-for",
    help:
      "Headers the trusted proxies write: x-forwarded-for, x-forwarded-proto, x-forwarded-host, or forwarded (RFC 7239) alone.",
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
    help:
      "Require HTTP Basic auth for WebSocket handshakes; FILE from Apache's htpasswd (bcrypt, MD5, SHA-256/512 crypt, SHA-1).",
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
