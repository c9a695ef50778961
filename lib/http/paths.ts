/**
 * URL path decoding and cleaning. A path that is not clean is redirected
 * (as Go's ServeMux does) before any file system lookup, so lookups only ever
 * see absolute, `..`-free paths.
 *
 * @module
 */

import { normalizeSegments } from "../util/path.ts";

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Percent-decodes a URL path into text (bytes read as UTF-8, invalid
 * sequences replaced). Returns null for a malformed escape or a NUL byte.
 */
export function decodePath(raw: string): string | null {
  if (!raw.includes("%")) return raw.includes("\0") ? null : raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of encoder.encode(raw[i]!)) bytes.push(b);
    }
  }
  if (bytes.includes(0)) return null;
  return utf8.decode(new Uint8Array(bytes));
}

/**
 * Go's path.Clean for URL paths, keeping a trailing slash: `/a/../b` → `/b`,
 * `//a` → `/a`, `/a/./b/` → `/a/b/`.
 */
export function cleanPath(p: string): string {
  if (p === "") return "/";
  const clean = normalizeSegments(p);
  return p.endsWith("/") && clean !== "/" ? clean + "/" : clean;
}

/** Splits a request target into its raw path and raw query (without `?`). */
export function splitTarget(target: string): { rawPath: string; query: string } {
  let t = target;
  // absolute-form (a proxy-style request line): keep only the path
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (abs) t = t.slice(abs[0].length) || "/";
  const q = t.indexOf("?");
  return q < 0 ? { rawPath: t, query: "" } : { rawPath: t.slice(0, q), query: t.slice(q + 1) };
}

/** Re-escapes a decoded path for a Location header. */
export function escapePath(p: string): string {
  return encodeURI(p).replace(/[?#]/g, (c) => encodeURIComponent(c));
}

/**
 * A raw query string without the parameters named `name` (e.g. a bearer
 * token the server has checked), other parameters kept byte for byte.
 */
export function withoutParam(query: string, name: string): string {
  // the name may arrive escaped (`access%5Ftoken`): only a query with neither is surely clean
  if (!query.includes(name) && !query.includes("%")) return query;
  return query.split("&").filter((part) => {
    const key = part.split("=", 1)[0]!;
    let decoded = key;
    try {
      decoded = decodeURIComponent(key.replaceAll("+", " "));
    } catch { /* a bad escape: compare as written */ }
    return decoded !== name;
  }).join("&");
}
