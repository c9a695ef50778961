/**
 * Origin policy for WebSocket handshakes: `--origin` lists and
 * `--sameorigin`, matched as websocketd matches them (reference §4.7).
 *
 * @module
 */

import { splitHost } from "./request.ts";

/** The policy, from the flags. */
export interface OriginPolicy {
  /** `--origin` entries, or null when the flag is absent. */
  allowed: string[] | null;
  /** `--sameorigin`. */
  same: boolean;
}

interface ParsedOrigin {
  scheme: string;
  host: string;
  port: string;
}

/** Parses an Origin header value; null when it is not an absolute URI. */
function parseOrigin(value: string): ParsedOrigin | null {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/([^/?#]*))?/.exec(value);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const authority = m[3] ?? "";
  const at = authority.lastIndexOf("@");
  const hostport = at >= 0 ? authority.slice(at + 1) : authority;
  if (/\s/.test(hostport)) return null;
  const [host, port] = splitHost(hostport, scheme === "https");
  if ((host === "" && hostport !== "") || !/^\d+$/.test(port)) return null;
  return { scheme, host, port };
}

/**
 * Checks an Origin header against the policy.
 * @param origin The Origin header, if any.
 * @param host The Host header, if any.
 * @param tls Whether the request came over TLS (for the Host's default port).
 * @returns null when allowed, else the reason for the log.
 */
export function checkOrigin(
  policy: OriginPolicy,
  origin: string | undefined,
  host: string | undefined,
  tls: boolean,
): string | null {
  let value = origin ?? "";
  if (value === "" || (value === "null" && policy.allowed === null)) value = "file:";
  const parsed = parseOrigin(value);
  if (!parsed) return `Origin parsing error: '${value}' is not an absolute URI`;
  if (policy.same) {
    const [h, p] = splitHost(host, tls);
    if (parsed.host !== h || parsed.port !== p) return "Same origin policy mismatch";
  }
  if (policy.allowed !== null) {
    if (!policy.allowed.some((entry) => matchEntry(entry, parsed))) {
      return "Origin is not listed in allowed list";
    }
  }
  return null;
}

function matchEntry(entry: string, o: ParsedOrigin): boolean {
  let rest = entry;
  let scheme: string | null = null;
  const sep = rest.indexOf("://");
  if (sep >= 0) {
    scheme = rest.slice(0, sep).toLowerCase();
    rest = rest.slice(sep + 3);
  }
  rest = rest.replace(/\/+$/, "");
  let host = rest;
  let port: string | null = null;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(rest);
  if (m) {
    host = m[1]!.replace(/^\[|\]$/g, "");
    port = m[2] ?? null;
  }
  if (scheme !== null && scheme !== o.scheme) return false;
  if (host !== o.host) return false;
  // an entry without a port accepts any port
  return port === null || port === o.port;
}
