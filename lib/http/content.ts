/**
 * Answering for one representation (a file, the dev console page) with Go
 * `ServeContent` rules: conditional requests, byte ranges, content types.
 *
 * @module
 */

import { basename } from "node:path";
import { textResponse } from "./respond.ts";

/** What {@link serveContent} needs to know about one representation. */
export interface ContentOptions {
  /** Size of the whole representation in bytes. */
  size: number;
  /** Last modification time; `null` when unknown (then no `Last-Modified` and no date checks). */
  mtime: Date | null;
  /** The `Content-Type` header value. */
  contentType: string;
  /**
   * Entity tag, quoted, optionally weak (`W/"…"`).
   * @default undefined (no `ETag`; `If-None-Match` then never matches)
   */
  etag?: string;
  /**
   * Produces the bytes `[start, end)` of the representation. Called at most
   * once, and only when a body is actually sent (never for HEAD, 304, 412
   * or 416), so a caller holding an open file knows to close it otherwise.
   */
  body: (start: number, end: number) => BodyInit;
}

/**
 * Answers a request for a representation with Go `ServeContent` rules:
 * `If-Match`/`If-Unmodified-Since` → 412, `If-None-Match`/`If-Modified-Since`
 * → 304 (GET and HEAD only), a single satisfiable `Range` (subject to
 * `If-Range`) → 206 with `Content-Range`, an unsatisfiable one → 416 with
 * a `Content-Range` that names only the size. Several ranges are answered with the full
 * 200, which RFC 9110 allows; websocketd sends multipart/byteranges there.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("hello");
 * serveContent(req, {
 *   size: bytes.length, mtime: startedAt, contentType: "text/plain; charset=utf-8",
 *   body: (start, end) => bytes.subarray(start, end),
 * });
 * ```
 */
export function serveContent(req: Request, opts: ContentOptions): Response {
  const { size, etag } = opts;
  const mtime = usableDate(opts.mtime);
  const headers = new Headers();
  if (mtime) headers.set("Last-Modified", mtime.toUTCString());
  if (etag) headers.set("ETag", etag);
  const method = req.method;
  const safe = method === "GET" || method === "HEAD";

  const h = req.headers;
  let precondition = ifMatch(h.get("If-Match"), etag);
  if (precondition === null) precondition = unmodifiedSince(h.get("If-Unmodified-Since"), mtime);
  if (precondition === false) return new Response(null, { status: 412, headers });
  const noneMatch = ifNoneMatch(h.get("If-None-Match"), etag);
  if (noneMatch === false) {
    return safe ? notModified(headers) : new Response(null, { status: 412, headers });
  }
  if (noneMatch === null && safe && modifiedSince(h.get("If-Modified-Since"), mtime) === false) {
    return notModified(headers);
  }

  let rangeHeader = h.get("Range");
  if (rangeHeader !== null && safe && ifRange(h.get("If-Range"), etag, mtime) === false) {
    rangeHeader = null;
  }
  let start = 0;
  let end = size;
  let status = 200;
  const range = rangeHeader === null ? null : parseRange(rangeHeader, size);
  if (range === "unsatisfiable" && size > 0) {
    // an empty file ignores Range (200), as Go does for clients that always send one
    return textResponse(416, "invalid range: failed to overlap\n", {
      "Content-Range": `bytes */${size}`,
    });
  } else if (range === "invalid") {
    return textResponse(416, "invalid range\n");
  } else if (range && range !== "unsatisfiable") {
    [start, end, status] = [range.start, range.end, 206];
    headers.set("Content-Range", `bytes ${start}-${end - 1}/${size}`);
  }
  headers.set("Content-Type", opts.contentType);
  headers.set("Accept-Ranges", "bytes");
  headers.set("Content-Length", String(end - start));
  const body = method === "HEAD" ? null : opts.body(start, end);
  return new Response(body, { status, headers });
}

/** Content types of common web files by lower-case extension (Go's built-ins and a few more). */
const TYPES: Record<string, string> = {
  avif: "image/avif",
  css: "text/css; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  gif: "image/gif",
  gz: "application/gzip",
  htm: "text/html; charset=utf-8",
  html: "text/html; charset=utf-8",
  ico: "image/vnd.microsoft.icon",
  jpeg: "image/jpeg",
  jpg: "image/jpeg",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  md: "text/markdown; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  mp3: "audio/mpeg",
  mp4: "video/mp4",
  oga: "audio/ogg",
  ogg: "audio/ogg",
  ogv: "video/ogg",
  otf: "font/otf",
  pdf: "application/pdf",
  png: "image/png",
  svg: "image/svg+xml",
  tar: "application/x-tar",
  ttf: "font/ttf",
  txt: "text/plain; charset=utf-8",
  wasm: "application/wasm",
  wav: "audio/wav",
  webm: "video/webm",
  webmanifest: "application/manifest+json",
  webp: "image/webp",
  woff: "font/woff",
  woff2: "font/woff2",
  xhtml: "application/xhtml+xml",
  xml: "text/xml; charset=utf-8",
  zip: "application/zip",
};

/** The content type for a file name by its extension, or undefined when unknown. */
export function contentTypeFor(name: string): string | undefined {
  const base = basename(name);
  const dot = base.lastIndexOf(".");
  return dot < 0 ? undefined : TYPES[base.slice(dot + 1).toLowerCase()];
}

/** Go treats the zero time and the Unix epoch as "unknown". */
export function usableDate(d: Date | null): Date | null {
  return d && d.getTime() > 0 ? d : null;
}

/** Seconds, since HTTP dates carry no finer precision. */
const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

function parseDate(v: string | null): number | null {
  if (v === null) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

/** Entity tags of a list header (`*` kept as is). */
function tags(v: string): string[] {
  return v.split(",").map((t) => t.trim()).filter(Boolean);
}

const opaque = (t: string) => (t.startsWith("W/") ? t.slice(2) : t);

/** true: passes, false: fails, null: no header. */
function ifMatch(v: string | null, etag: string | undefined): boolean | null {
  if (v === null) return null;
  // strong comparison: a weak tag never matches
  return tags(v).some((t) => t === "*" || (!!etag && !etag.startsWith("W/") && t === etag));
}

function unmodifiedSince(v: string | null, mtime: Date | null): boolean | null {
  const t = parseDate(v);
  if (t === null || !mtime) return null;
  return seconds(mtime) <= t;
}

/** false means "matches": the client's copy is current. */
function ifNoneMatch(v: string | null, etag: string | undefined): boolean | null {
  if (v === null) return null;
  return !tags(v).some((t) => t === "*" || (!!etag && opaque(t) === opaque(etag)));
}

/** false means "not modified since". */
export function modifiedSince(v: string | null, mtime: Date | null): boolean | null {
  const t = parseDate(v);
  if (t === null || !mtime) return null;
  return seconds(mtime) > t;
}

/** Whether a Range may be honoured under If-Range (null: no If-Range). */
function ifRange(v: string | null, etag: string | undefined, mtime: Date | null): boolean | null {
  if (v === null) return null;
  const trimmed = v.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) {
    return !!etag && !etag.startsWith("W/") && trimmed === etag;
  }
  const t = parseDate(trimmed);
  return t !== null && !!mtime && seconds(mtime) === t;
}

/**
 * One byte range `[start, end)`, or null for "send everything" (no ranges,
 * or several), or why it cannot be served.
 */
function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | null | "unsatisfiable" | "invalid" {
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!m) return "invalid";
  const ranges: { start: number; end: number }[] = [];
  let noOverlap = false;
  for (const part of m[1]!.split(",")) {
    const spec = part.trim();
    if (spec === "") continue;
    const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!r || (r[1] === "" && r[2] === "")) return "invalid";
    if (r[1] === "") {
      // suffix: the last N bytes; a zero-length suffix overlaps nothing (RFC 9110)
      const n = Math.min(Number(r[2]), size);
      if (n === 0) noOverlap = true;
      else ranges.push({ start: size - n, end: size });
      continue;
    }
    const start = Number(r[1]);
    if (start >= size) {
      noOverlap = true;
      continue;
    }
    let last = r[2] === "" ? size - 1 : Number(r[2]);
    if (last < start) return "invalid";
    if (last >= size) last = size - 1;
    ranges.push({ start, end: last + 1 });
  }
  if (ranges.length === 0) return noOverlap ? "unsatisfiable" : null;
  return ranges.length === 1 ? ranges[0]! : null;
}

export function notModified(headers: Headers): Response {
  // RFC 9110: with an ETag present, Last-Modified is redundant on a 304 (Go drops it too)
  if (headers.has("ETag")) headers.delete("Last-Modified");
  return new Response(null, { status: 304, headers });
}
