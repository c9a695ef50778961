/**
 * Flags → one validated, immutable {@link Config}. Every startup error, with
 * websocketd's message and exit status, is decided while reading them
 * (`sections.ts`, one function per group of flags).
 *
 * @module
 */

import type { Credentials } from "../http/auth.ts";
import type { ProxyTrust } from "../http/proxy.ts";
import type { Level, LogFormat } from "../util/log.ts";
import { ConfigError, HelpExit } from "./errors.ts";
import { flagValue, parseFlags, PROG, shortUsage, UsageError } from "./flags.ts";
import {
  access,
  broadcast,
  headers,
  infoFlags,
  limits,
  listeners,
  logging,
  operations,
  programs,
  type Read,
} from "./sections.ts";

export { ConfigError };
export { absolute, lookPath } from "./paths.ts";

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

/** Whether a configuration starts programs (WebSocket sessions or CGI scripts). */
export function startsPrograms(config: Config): boolean {
  return config.command !== undefined || config.dir !== undefined || config.cgiDir !== undefined;
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
