/**
 * Flags → one validated, immutable {@link Config}. Every startup error,
 * with websocketd's message and exit status, is decided here.
 *
 * @module
 */

import { type Credentials, loadCredentials } from "../http/auth.ts";
import { isToken, parseHeaderFlag } from "../http/headers.ts";
import { parseProxyHeaders, type ProxyTrust, TrustedProxies } from "../http/proxy.ts";
import { type Level, LEVELS, type LogFormat } from "../util/log.ts";
import { normalizeSegments } from "../util/path.ts";
import {
  flagValue,
  type FlagValues,
  longHelp,
  parseFlags,
  shortUsage,
  UsageError,
} from "./flags.ts";
import { LICENSE, versionLine } from "./version.ts";

/** TLS settings. */
export interface TlsConfig {
  /** PEM certificate chain path. */
  certFile: string;
  /** PEM key path. */
  keyFile: string;
  /** PEM CA for client certificates (mutual TLS). */
  caFile?: string;
}

/** The program to run for every connection in single-command mode. */
export interface CommandConfig {
  /** Resolved executable path. */
  path: string;
  /** Its arguments. */
  args: string[];
}

/** `--broadcast` and its settings. */
export interface BroadcastConfig {
  /** --broadcast-input. */
  input: "all" | "none";
  /** --broadcast-replay. */
  replay: number;
  /** --broadcast-linger. */
  lingerMs: number;
  /** --broadcast-queue. */
  queueBytes: number;
  /** --broadcast-clients; 0 = no limit. */
  maxClients: number;
  /** --broadcast-total; 0 = no limit. */
  maxTotal: number;
}

/** Everything the server needs, validated. */
export interface Config {
  /** Listen addresses; empty = all interfaces. */
  addresses: string[];
  /** TCP port (80/443 already applied). */
  port: number;
  /** Whether TCP listeners are wanted (false when only --unixsocket was given). */
  tcp: boolean;
  /** Unix socket path. */
  unixSocket?: string;
  /** Redirect port, 0 = off. */
  redirPort: number;
  /** TLS, when --ssl. */
  tls?: TlsConfig;
  /** Single-command mode. */
  command?: CommandConfig;
  /** --dir root (absolute). */
  dir?: string;
  /** --staticdir root (absolute). */
  staticDir?: string;
  /** --cgidir root (absolute). */
  cgiDir?: string;
  /** --devconsole. */
  devConsole: boolean;
  /** --passenv names. */
  passEnv: string[];
  /** Broadcast mode, when --broadcast. */
  broadcast: BroadcastConfig | null;
  /** --binary. */
  binary: boolean;
  /** --passstderr. */
  passStderr: boolean;
  /** --reverselookup. */
  reverseLookup: boolean;
  /** --closems. */
  closeMs: number;
  /** --maxforks; 0 = no limit. */
  maxForks: number;
  /** --maxframesize; 0 = no limit. */
  maxFrameSize: number;
  /** --pingms; 0 = off. */
  pingMs: number;
  /** --stallms. */
  stallMs: number;
  /** --header values. */
  headers: [string, string][];
  /** --header-ws values. */
  headersWs: [string, string][];
  /** --header-http values. */
  headersHttp: [string, string][];
  /** --origin entries, or null. */
  origins: string[] | null;
  /** --sameorigin. */
  sameOrigin: boolean;
  /** --subprotocol names, in our order of preference. */
  subprotocols: string[];
  /** --trust-proxy and --trust-proxy-headers, when given. */
  trustProxy: ProxyTrust | null;
  /** --loglevel. */
  logLevel: Level;
  /** --logformat. */
  logFormat: LogFormat;
  /** --metrics path, or null. */
  metricsPath: string | null;
  /** --health path, or null. */
  healthPath: string | null;
  /** --drain-ms. */
  drainMs: number;
  /** Credentials when --basic-auth-file / --bearer-token-file are given. */
  auth: Credentials | null;
  /** --auth-http. */
  authHttp: boolean;
  /** Credential files (read at startup). */
  authFiles: string[];
}

/** What `main` should do after reading the command line. */
export type Startup =
  | { kind: "run"; config: Config }
  | { kind: "exit"; code: number; stdout?: string; stderr?: string };

const PROG = "websocketd";

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

/** Whether a path is an existing directory (false when unreadable). */
function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Makes a path absolute against our working directory. */
export function absolute(path: string): string {
  return normalizeSegments(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
}

function isExecutableFile(path: string): boolean | undefined {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o755) & 0o111) !== 0;
  } catch (e) {
    // without read permission we cannot look; let the spawn decide
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    return false;
  }
}

/**
 * Finds COMMAND like Go's exec.LookPath: a name with `/` is used as given;
 * otherwise the first executable match on our PATH wins.
 */
export function lookPath(name: string): string | null {
  if (name.includes("/")) return isExecutableFile(name) === false ? null : name;
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    path = undefined;
  }
  for (const dir of (path ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Reads the command line.
 * @param argv Arguments after the program name.
 */
export function readCommandLine(argv: readonly string[]): Startup {
  if (argv.length === 0) {
    return {
      kind: "exit",
      code: 1,
      stdout: "Command line arguments are missing.\n",
      stderr: shortUsage(PROG),
    };
  }
  try {
    return { kind: "run", config: buildConfig(argv) };
  } catch (e) {
    if (e instanceof UsageError) {
      return { kind: "exit", code: e.exitCode, stderr: `${e.message}\n${shortUsage(PROG)}` };
    }
    if (e instanceof HelpExit) return { kind: "exit", code: 0, ...e.output };
    if (e instanceof ConfigError) {
      const text = e.message + "\n";
      const usage = e.usage ? shortUsage(PROG) : "";
      return e.stream === "stdout"
        ? { kind: "exit", code: e.exitCode, stdout: text, ...(usage ? { stderr: usage } : {}) }
        : { kind: "exit", code: e.exitCode, stderr: text + usage };
    }
    throw e;
  }
}

class HelpExit extends Error {
  output: { stdout?: string; stderr?: string };
  constructor(output: { stdout?: string; stderr?: string }) {
    super("help");
    this.output = output;
  }
}

/** Reads flags with the table's defaults. */
type Read = <T extends string | number | boolean | string[]>(name: string) => T;

function buildConfig(argv: readonly string[]): Config {
  const { values, positionals } = parseFlags(argv);
  const v: Read = (name) => flagValue(values, name);
  infoFlags(v);
  return Object.freeze({
    ...logging(v),
    ...listeners(v, values),
    ...programs(v, positionals),
    ...broadcast(v, values, positionals),
    ...limits(v),
    ...access(v, values),
    ...headers(v),
    ...operations(v, values),
  });
}

/** --help, --version, --license: print and exit. */
function infoFlags(v: Read): void {
  if (v<boolean>("help")) throw new HelpExit({ stderr: longHelp(PROG) });
  if (v<boolean>("version")) throw new HelpExit({ stdout: versionLine() + "\n" });
  if (v<boolean>("license")) throw new HelpExit({ stdout: `${versionLine()}\n${LICENSE}` });
}

function logging(v: Read): Pick<Config, "logLevel" | "logFormat"> {
  const logLevel = v<string>("loglevel");
  if (!(LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      `Incorrect loglevel flag '${logLevel}'. Use --help to see allowed values.`,
      { stream: "stdout", usage: true },
    );
  }
  const logFormat = v<string>("logformat");
  if (logFormat !== "text" && logFormat !== "json") {
    throw new ConfigError(`--logformat must be text or json, got '${logFormat}'.`);
  }
  return { logLevel: logLevel as Level, logFormat };
}

function listeners(
  v: Read,
  values: FlagValues,
): Pick<Config, "addresses" | "port" | "tcp" | "unixSocket" | "redirPort" | "tls"> {
  const ssl = v<boolean>("ssl");
  const sslCert = v<string>("sslcert");
  const sslKey = v<string>("sslkey");
  const sslCa = v<string>("sslca");
  if (!ssl && (sslCert || sslKey || sslCa)) {
    throw new ConfigError("You should not be using --ssl* flags when there is no --ssl option.");
  }
  if (ssl && (!sslCert || !sslKey)) {
    throw new ConfigError("Please specify both --sslcert and --sslkey when requesting --ssl.");
  }
  const unixSocket = v<string>("unixsocket") || undefined;
  const addresses = v<string[]>("address").map((a) => a.replace(/^\[(.*)\]$/, "$1"));
  let port = v<number>("port");
  const redirPort = v<number>("redirport");
  for (const [name, p] of [["port", port], ["redirport", redirPort]] as const) {
    if (p < 0 || p > 65535) {
      throw new ConfigError(`Can't start server: --${name}=${p} is not a TCP port (1-65535).`, {
        exitCode: 3,
      });
    }
  }
  const tcp = !unixSocket || values.has("port") || addresses.length > 0 || redirPort > 0;
  if (port === 0) port = ssl ? 443 : 80;
  const tls = ssl
    ? { certFile: sslCert, keyFile: sslKey, ...(sslCa ? { caFile: sslCa } : {}) }
    : undefined;
  return { addresses, port, tcp, unixSocket, redirPort, tls };
}

/** COMMAND, --dir, --staticdir, --cgidir, --devconsole and how programs talk. */
function programs(
  v: Read,
  positionals: string[],
): Pick<
  Config,
  | "command"
  | "dir"
  | "staticDir"
  | "cgiDir"
  | "devConsole"
  | "passEnv"
  | "binary"
  | "passStderr"
  | "reverseLookup"
  | "closeMs"
> {
  const dirFlag = v<string>("dir");
  if (dirFlag && positionals.length > 0) {
    throw new ConfigError(
      "Ambiguous. Provided COMMAND and --dir argument. Please only specify just one.",
    );
  }
  const staticFlag = v<string>("staticdir");
  const cgiFlag = v<string>("cgidir");
  if (positionals.length === 0 && !dirFlag && !staticFlag && !cgiFlag) {
    throw new ConfigError(
      "Please specify COMMAND or provide --dir, --staticdir or --cgidir argument.",
      { usage: true },
    );
  }
  if (dirFlag && !isDir(dirFlag)) {
    let isFile = false;
    try {
      isFile = Deno.statSync(dirFlag).isFile;
    } catch { /* missing */ }
    throw new ConfigError(
      isFile
        ? `Did you mean to specify COMMAND instead of --dir '${dirFlag}'?`
        : `Could not find your script dir '${dirFlag}'.`,
    );
  }
  for (const [flag, path] of [["static", staticFlag], ["CGI", cgiFlag]]) {
    if (path && !isDir(path!)) {
      throw new ConfigError(
        `Your ${flag} dir '${path}' is not pointing to an accessible directory.`,
      );
    }
  }
  let command: CommandConfig | undefined;
  if (positionals.length > 0) {
    const name = positionals[0]!;
    const path = lookPath(name);
    if (!path) throw new ConfigError(`Unable to locate specified COMMAND '${name}' in OS path.`);
    command = { path, args: positionals.slice(1) };
  }
  const devConsole = v<boolean>("devconsole");
  if (devConsole && (staticFlag || cgiFlag)) {
    throw new ConfigError(
      "Invalid parameters: --devconsole cannot be used with --staticdir or --cgidir.",
      { exitCode: 4, stream: "stdout" },
    );
  }
  const binary = v<boolean>("binary");
  const passStderr = v<boolean>("passstderr");
  if (binary && passStderr) {
    throw new ConfigError("Please only specify one of --binary and --passstderr.");
  }
  return {
    command,
    dir: dirFlag ? absolute(dirFlag) : undefined,
    staticDir: staticFlag ? absolute(staticFlag) : undefined,
    cgiDir: cgiFlag ? absolute(cgiFlag) : undefined,
    devConsole,
    passEnv: v<string>("passenv").split(","),
    binary,
    passStderr,
    reverseLookup: v<boolean>("reverselookup"),
    closeMs: v<number>("closems"),
  };
}

const BROADCAST_FLAGS = [
  "broadcast-input",
  "broadcast-replay",
  "broadcast-linger",
  "broadcast-queue",
  "broadcast-clients",
  "broadcast-total",
];

/** --broadcast and its settings, which mean nothing without it. */
function broadcast(v: Read, values: FlagValues, positionals: string[]): Pick<Config, "broadcast"> {
  if (!v<boolean>("broadcast")) {
    const stray = BROADCAST_FLAGS.find((f) => values.has(f));
    if (stray) throw new ConfigError(`--${stray} needs --broadcast.`);
    return { broadcast: null };
  }
  if (positionals.length === 0 && !v<string>("dir")) {
    throw new ConfigError("--broadcast needs a COMMAND or --dir (programs to share).");
  }
  const input = v<string>("broadcast-input");
  if (input !== "all" && input !== "none") {
    throw new ConfigError(`--broadcast-input must be all or none, got '${input}'.`);
  }
  const queueBytes = v<number>("broadcast-queue");
  if (queueBytes < 1024) {
    throw new ConfigError(`--broadcast-queue must be at least 1024 bytes, got ${queueBytes}.`);
  }
  return {
    broadcast: {
      input,
      replay: v<number>("broadcast-replay"),
      lingerMs: v<number>("broadcast-linger"),
      queueBytes,
      maxClients: v<number>("broadcast-clients"),
      maxTotal: v<number>("broadcast-total"),
    },
  };
}

function limits(v: Read): Pick<Config, "maxForks" | "maxFrameSize" | "pingMs" | "stallMs"> {
  const maxFrameSize = v<number>("maxframesize");
  if (maxFrameSize < 0) {
    throw new ConfigError(`--maxframesize must be 0 (no limit) or more, got ${maxFrameSize}.`);
  }
  return {
    maxForks: Math.max(0, v<number>("maxforks")),
    maxFrameSize,
    pingMs: v<number>("pingms"),
    stallMs: v<number>("stallms"),
  };
}

/** Origins, proxies, credentials, subprotocols. */
function access(
  v: Read,
  values: FlagValues,
): Pick<
  Config,
  "origins" | "sameOrigin" | "trustProxy" | "auth" | "authHttp" | "authFiles" | "subprotocols"
> {
  let trustProxy: ProxyTrust | null = null;
  if (values.has("trust-proxy")) {
    try {
      trustProxy = {
        proxies: new TrustedProxies(v<string>("trust-proxy")),
        headers: parseProxyHeaders(v<string>("trust-proxy-headers")),
      };
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  } else if (values.has("trust-proxy-headers")) {
    throw new ConfigError("--trust-proxy-headers needs --trust-proxy (the proxies to believe).");
  }
  let auth: Credentials | null = null;
  const basicFile = v<string>("basic-auth-file");
  const tokenFile = v<string>("bearer-token-file");
  if (basicFile || tokenFile) {
    try {
      auth = loadCredentials({
        basicFile: basicFile || undefined,
        tokenFile: tokenFile || undefined,
      });
    } catch (e) {
      throw new ConfigError(`Cannot use the credentials: ${(e as Error).message}`);
    }
  } else if (v<boolean>("auth-http")) {
    throw new ConfigError("--auth-http needs --basic-auth-file or --bearer-token-file.");
  }
  const subprotocols = v<string[]>("subprotocol");
  for (const p of subprotocols) {
    if (!isToken(p)) throw new ConfigError(`--subprotocol: '${p}' is not a valid protocol token.`);
  }
  return {
    origins: values.has("origin") ? v<string>("origin").split(",") : null,
    sameOrigin: v<boolean>("sameorigin"),
    trustProxy,
    auth,
    authHttp: v<boolean>("auth-http"),
    authFiles: [basicFile, tokenFile].filter(Boolean),
    subprotocols,
  };
}

/** --header, --header-ws, --header-http: refused at startup when they would corrupt a response. */
function headers(v: Read): Pick<Config, "headers" | "headersWs" | "headersHttp"> {
  const parse = (flag: string) =>
    v<string[]>(flag).map((text) => {
      try {
        return parseHeaderFlag(text);
      } catch (e) {
        throw new ConfigError(`--${flag}=${(e as Error).message}`);
      }
    });
  return {
    headers: parse("header"),
    headersWs: parse("header-ws"),
    headersHttp: parse("header-http"),
  };
}

function operations(
  v: Read,
  values: FlagValues,
): Pick<Config, "metricsPath" | "healthPath" | "drainMs"> {
  for (const flag of ["metrics", "health"]) {
    const p = v<string>(flag);
    if (values.has(flag) && !p.startsWith("/")) {
      throw new ConfigError(`--${flag} must be a URL path starting with /, got '${p}'.`);
    }
  }
  return {
    metricsPath: v<string>("metrics") || null,
    healthPath: v<string>("health") || null,
    drainMs: v<number>("drain-ms"),
  };
}
