/**
 * Each group of flags, checked and turned into its part of the
 * {@link Config}, with websocketd's messages and exit statuses.
 *
 * @module
 */

import { type Credentials, loadCredentials } from "../http/auth.ts";
import { isToken, parseHeaderFlag } from "../http/headers.ts";
import { parseProxyHeaders, type ProxyTrust, TrustedProxies } from "../http/proxy.ts";
import { type Level, LEVELS } from "../util/log.ts";
import type { CommandConfig, Config } from "./config.ts";
import { ConfigError, HelpExit } from "./errors.ts";
import { type FlagValues, longHelp, PROG } from "./flags.ts";
import { absolute, isDir, lookPath } from "./paths.ts";
import { LICENSE, versionLine } from "./version.ts";

/** Reads a flag with the table's default. */
export type Read = <T extends string | number | boolean | string[]>(name: string) => T;

/** --help, --version, --license: print and exit. */
export function infoFlags(v: Read): void {
  if (v<boolean>("help")) throw new HelpExit({ stderr: longHelp(PROG) });
  if (v<boolean>("version")) throw new HelpExit({ stdout: versionLine() + "\n" });
  if (v<boolean>("license")) throw new HelpExit({ stdout: `${versionLine()}\n${LICENSE}` });
}

export function logging(v: Read): Pick<Config, "logLevel" | "logFormat"> {
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

export function listeners(
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
export function programs(
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
export function broadcast(
  v: Read,
  values: FlagValues,
  positionals: string[],
): Pick<Config, "broadcast"> {
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

export function limits(v: Read): Pick<Config, "maxForks" | "maxFrameSize" | "pingMs" | "stallMs"> {
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
export function access(
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
export function headers(v: Read): Pick<Config, "headers" | "headersWs" | "headersHttp"> {
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

export function operations(
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
