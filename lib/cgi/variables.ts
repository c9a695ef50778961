/**
 * Meta-variables shared by CGI scripts and WebSocket programs (RFC 3875):
 * the `--passenv` variables, and request headers as `HTTP_*`.
 *
 * @module
 */

/** Server-wide inputs to every environment, fixed at startup. */
export interface EnvBase {
  /** SERVER_SOFTWARE value. */
  serverSoftware: string;
  /** The --passenv variables read at startup, cleaned. */
  passed: [string, string][];
}

/** Who the server authenticated (it checked the credentials itself). */
export interface Authenticated {
  /** AUTH_TYPE: `Basic` or `Bearer`. */
  type: string;
  /** REMOTE_USER. */
  user: string;
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

/** Header names a shell can carry, as Apache and nginx allow them. */
const ENV_HEADER_NAME = /^[A-Za-z0-9-]+$/;

/**
 * `HTTP_*` variables from the request headers. Host is left out (as in
 * websocketd) and so is Proxy (httpoxy). Only names of letters, digits and
 * `-` are used, as Apache and nginx do, so `X_Forwarded_For` cannot pose as
 * `X-Forwarded-For`. Repeated headers are joined with ", ".
 *
 * @param omit Lower-case header names to leave out as well (e.g.
 *   `authorization` once the server checked the credentials: RFC 3875
 *   §4.1.18 says a script should not see them then).
 */
export function headerVariables(
  rawHeaders: string[],
  omit: ReadonlySet<string> = new Set(),
): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (!ENV_HEADER_NAME.test(name)) continue;
    const lower = name.toLowerCase();
    // no Host (websocketd never sets HTTP_HOST) and no Proxy (httpoxy: HTTP_PROXY would
    // redirect the program's own HTTP clients)
    if (lower === "host" || lower === "proxy" || omit.has(lower)) continue;
    const key = "HTTP_" + name.toUpperCase().replaceAll("-", "_");
    const value = cleanHeaderValue(rawHeaders[i + 1]!);
    const prev = out.get(key);
    out.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return out;
}

/** What the environment leaves out once the server has checked the credentials. */
export function hiddenHeaders(auth: Authenticated | null): ReadonlySet<string> {
  return auth ? CREDENTIAL_HEADERS : NONE;
}

const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(["authorization"]);
const NONE: ReadonlySet<string> = new Set();
