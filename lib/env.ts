/**
 * The CGI-style environment of a WebSocket program, computed as websocketd
 * does (reference §2.3), in its order so that later names win the same way.
 *
 * @module
 */

/** Facts about one request that the environment is made of. */
export interface RequestFacts {
  /** HTTP method. */
  method: string;
  /** Request target as sent: escaped path plus `?query`. */
  target: string;
  /** Decoded URL path. */
  path: string;
  /** Raw query without `?`. */
  query: string;
  /** `1.1` or `1.0`. */
  httpVersion: string;
  /** Alternating header names and values, as received. */
  rawHeaders: string[];
  /** Client address without brackets; `unix-socket` on a Unix socket. */
  remoteAddr: string;
  /** Client port, or "" on a Unix socket. */
  remotePort: string;
  /** Client name for REMOTE_HOST (reverse lookup) or the address. */
  remoteHost: string;
  /** Whether the connection is TLS (as the client used it, through trusted proxies). */
  tls: boolean;
  /** The Host the client asked for. */
  host: string | undefined;
  /** Per-request unique id (decimal nanoseconds). */
  uniqueId: string;
}

/** Which part of the path named the program. */
export interface ScriptPaths {
  /** SCRIPT_NAME. */
  scriptName: string;
  /** PATH_INFO. */
  pathInfo: string;
}

/** Server-wide inputs to every environment, fixed at startup. */
export interface EnvBase {
  /** SERVER_SOFTWARE value. */
  serverSoftware: string;
  /** The --passenv variables read at startup, cleaned. */
  passed: [string, string][];
}

/**
 * Reads the --passenv variables once, as websocketd does: unset or empty
 * names are skipped, `HTTPS` is never passed, CR/LF become spaces and the
 * value is trimmed.
 */
export function readPassEnv(names: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const name of names) {
    if (name === "" || name === "HTTPS") continue;
    let value: string | undefined;
    try {
      value = Deno.env.get(name);
    } catch {
      value = undefined; // not granted by --allow-env: treated as unset
    }
    if (!value) continue;
    const clean = value.replace(/[\r\n]/g, " ").trim();
    if (clean) out.push([name, clean]);
  }
  return out;
}

/**
 * Splits a Host header like Go's net.SplitHostPort, with websocketd's
 * fallbacks: no port → the scheme default; unparsable → both empty.
 */
export function splitHost(host: string | undefined, tls: boolean): [string, string] {
  const dflt = tls ? "443" : "80";
  const h = host ?? "";
  if (h.startsWith("[")) {
    const close = h.indexOf("]");
    if (close < 0) return ["", ""];
    const name = h.slice(1, close);
    const rest = h.slice(close + 1);
    if (rest === "") return [name, dflt];
    if (rest[0] !== ":" || rest.includes("]") || rest.slice(1).includes(":")) return ["", ""];
    return [name, rest.slice(1)];
  }
  const colons = h.split(":").length - 1;
  if (colons === 0) return [h, dflt];
  if (colons > 1) return ["", ""];
  const i = h.indexOf(":");
  return [h.slice(0, i), h.slice(i + 1)];
}

const utf8 = new TextDecoder();

/**
 * A header value as the program should see it: bytes re-read as UTF-8
 * (the HTTP parser hands us Latin-1), CR/LF made spaces, NUL removed, trimmed.
 */
export function cleanHeaderValue(value: string): string {
  let v = value;
  // deno-lint-ignore no-control-regex
  if (/[^\x00-\x7f]/.test(v)) {
    const bytes = Uint8Array.from(v, (c) => c.charCodeAt(0) & 0xff);
    v = utf8.decode(bytes);
  }
  // deno-lint-ignore no-control-regex
  return v.replace(/[\r\n]/g, " ").replace(/\x00/g, "").trim();
}

/**
 * `HTTP_*` variables from the request headers. Host is left out (as in
 * websocketd) and so is Proxy (httpoxy). Only names of letters, digits and
 * `-` are used, as Apache and nginx do, so `X_Forwarded_For` cannot pose as
 * `X-Forwarded-For`. Repeated headers are joined with ", ".
 */
export function headerVariables(rawHeaders: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // only names a shell can carry; no Host (websocketd never sets HTTP_HOST) and no Proxy
    // (httpoxy: HTTP_PROXY would redirect the program's own HTTP clients)
    if (!/^[A-Za-z0-9-]+$/.test(name)) continue;
    const lower = name.toLowerCase();
    if (lower === "host" || lower === "proxy") continue;
    const key = "HTTP_" + name.toUpperCase().replaceAll("-", "_");
    const value = cleanHeaderValue(rawHeaders[i + 1]!);
    const prev = out.get(key);
    out.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return out;
}

/** Returns the value of the first header with this name (case-insensitive). */
export function headerValue(rawHeaders: string[], name: string): string | undefined {
  const want = name.toLowerCase();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === want) return rawHeaders[i + 1];
  }
  return undefined;
}

/**
 * Builds the complete environment for one WebSocket program.
 * @param extra Variables of our own features (e.g. WEBSOCKET_PROTOCOL), set last.
 */
export function buildEnv(
  base: EnvBase,
  req: RequestFacts,
  script: ScriptPaths,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  env.SERVER_SOFTWARE = base.serverSoftware;
  for (const [k, v] of base.passed) env[k] = v;
  const [serverName, serverPort] = splitHost(req.host, req.tls);
  env.REMOTE_ADDR = req.remoteAddr;
  env.REMOTE_HOST = req.remoteHost;
  env.SERVER_NAME = serverName;
  env.SERVER_PORT = serverPort;
  env.SERVER_PROTOCOL = `HTTP/${req.httpVersion}`;
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.REQUEST_METHOD = req.method;
  env.SCRIPT_NAME = script.scriptName;
  env.PATH_INFO = script.pathInfo;
  env.PATH_TRANSLATED = req.path;
  env.QUERY_STRING = req.query;
  env.AUTH_TYPE = "";
  env.CONTENT_LENGTH = "";
  env.CONTENT_TYPE = "";
  env.REMOTE_IDENT = "";
  env.REMOTE_USER = "";
  env.UNIQUE_ID = req.uniqueId;
  env.REMOTE_PORT = req.remotePort;
  env.REQUEST_URI = req.target;
  if (req.tls) env.HTTPS = "on";
  for (const [k, v] of headerVariables(req.rawHeaders)) env[k] = v;
  Object.assign(env, extra);
  return env;
}

let lastId = 0n;

/** A unique decimal nanosecond timestamp (UNIQUE_ID and the log id); strictly increasing. */
export function uniqueId(): string {
  const now = BigInt(Date.now()) * 1_000_000n +
    BigInt(Math.floor((performance.now() % 1) * 1_000_000));
  lastId = now > lastId ? now : lastId + 1n;
  return lastId.toString();
}
