/**
 * `--staticdir`: static files with Go `http.FileServer` semantics (index.html,
 * relative 301s for directories, HTML listings, conditional GET, one byte
 * range), confined to the real path of the root: a symlink that resolves
 * outside the root is answered 404, as websocketd HEAD does.
 *
 * {@link serveContent} holds the conditional-GET and Range logic on its own
 * so the dev console can answer with the same rules.
 *
 * @module
 */

import { basename, join } from "node:path";
import { escapePath } from "./paths.ts";
import { textResponse } from "./request.ts";

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

/**
 * Serves a file or directory listing from `root` for a clean, decoded URL
 * path, as Go's `http.FileServer(http.Dir(root))` does, except that nothing
 * whose real path lies outside the real root is ever opened (404 instead).
 * @param req The request (method, conditional and Range headers, query for redirects).
 * @param root Absolute root directory.
 * @param urlPath Clean decoded path, starting with `/`.
 */
export async function serveStatic(req: Request, root: string, urlPath: string): Promise<Response> {
  const query = new URL(req.url).search;
  // Go redirects any …/index.html to its directory before looking at the disk
  if (urlPath.endsWith("/index.html")) return redirect("./", query);
  if (!urlPath.startsWith("/") || urlPath.split("/").includes("..")) return notFound();
  try {
    const realRoot = await Deno.realPath(root);
    // "/a.css/" names the file a.css (Go cleans the name before opening), then redirects below
    const real = await confined(realRoot, join(realRoot, urlPath.replace(/\/+$/, "")));
    if (real === null) return notFound();
    const info = await Deno.stat(real);
    if (info.isDirectory) {
      if (!urlPath.endsWith("/")) return redirect(relativeRef(basename(urlPath)) + "/", query);
      const index = await confined(realRoot, join(real, "index.html"));
      if (index !== null && (await Deno.stat(index)).isFile) return await serveFile(req, index);
      return await listDirectory(req, real, info.mtime);
    }
    // a FIFO, socket or device: opening one could block or read forever
    if (!info.isFile) return notFound();
    if (urlPath.endsWith("/")) return redirect("../" + relativeRef(basename(urlPath)), query);
    return await serveFile(req, real);
  } catch (e) {
    return fsError(e);
  }
}

/** The real path of `path` if it exists and lies inside `realRoot`, else null. */
async function confined(realRoot: string, path: string): Promise<string | null> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    // missing, a file used as a directory, or a symlink loop: all simply "not here"
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
      e instanceof Deno.errors.FilesystemLoop || (e as { code?: string }).code === "ENAMETOOLONG"
    ) return null;
    throw e;
  }
  const prefix = realRoot.endsWith("/") ? realRoot : realRoot + "/";
  return real === realRoot || real.startsWith(prefix) ? real : null;
}

async function serveFile(req: Request, path: string): Promise<Response> {
  const file = await Deno.open(path, { read: true });
  let handedOver = false;
  try {
    // size and mtime from the open file, so headers describe the bytes we send
    const info = await file.stat();
    if (!info.isFile) return notFound();
    const contentType = contentTypeFor(path) ?? await sniff(file);
    const response = serveContent(req, {
      size: info.size,
      mtime: info.mtime,
      contentType,
      etag: weakEtag(info.size, info.mtime),
      body: (start, end) => {
        handedOver = true;
        return fileRange(file, start, end);
      },
    });
    return response;
  } finally {
    if (!handedOver) file.close();
  }
}

/**
 * Bytes `[start, end)` of an open file as a stream that owns the file: it
 * closes it at the end, on cancel (client gone) and on error.
 */
function fileRange(file: Deno.FsFile, start: number, end: number): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    file.seekSync(start, Deno.SeekMode.Start);
    reader = file.readable.getReader();
  } catch (e) {
    file.close();
    throw e;
  }
  let left = end - start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left <= 0) {
        controller.close();
        return reader.cancel();
      }
      const { value, done } = await reader.read();
      // a file that shrank ends early; the transport then sees the short body
      if (done) return controller.close();
      const chunk = value.length > left ? value.subarray(0, left) : value;
      left -= chunk.length;
      controller.enqueue(chunk);
      if (left <= 0) {
        controller.close();
        // stop before EOF (a range, or a file that grew): cancelling closes the file
        await reader.cancel();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

async function listDirectory(req: Request, dir: string, mtime: Date | null): Promise<Response> {
  const when = usableDate(mtime);
  const safe = req.method === "GET" || req.method === "HEAD";
  if (safe && modifiedSince(req.headers.get("If-Modified-Since"), when) === false) {
    return notModified(new Headers());
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.isDirectory ? e.name + "/" : e.name);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let html = `<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n`;
  for (const name of names) {
    // the href is URL-escaped (so `?`, `#`, `:` stay part of the name), then both are HTML-escaped
    const href = name.endsWith("/")
      ? encodeURIComponent(name.slice(0, -1)) + "/"
      : encodeURIComponent(name);
    html += `<a href="${escapeHtml(href)}">${escapeHtml(name)}</a>\n`;
  }
  html += `</pre>\n`;
  const headers = new Headers({ "Content-Type": "text/html; charset=utf-8" });
  if (when) headers.set("Last-Modified", when.toUTCString());
  return new Response(html, { status: 200, headers });
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&#34;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
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

/**
 * For a file whose extension says nothing: text if its first 512 bytes hold
 * no binary control bytes (Go sniffs too; we never guess HTML, so an unknown
 * file cannot turn into a page), otherwise application/octet-stream.
 */
async function sniff(file: Deno.FsFile): Promise<string> {
  const buf = new Uint8Array(512);
  let n = 0;
  while (n < buf.length) {
    const got = await file.read(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  const head = buf.subarray(0, n);
  // \t \n \f \r and ESC are text; every other C0 byte marks binary, as in Go's sniffer
  const binary = head.some((b) =>
    b < 0x20 && b !== 9 && b !== 10 && b !== 12 && b !== 13 && b !== 27
  );
  return binary ? "application/octet-stream" : "text/plain; charset=utf-8";
}

/** A weak validator from size and mtime (cheap: no hashing of the content). */
function weakEtag(size: number, mtime: Date | null): string {
  return `W/"${size.toString(16)}-${(mtime?.getTime() ?? 0).toString(16)}"`;
}

/** Go treats the zero time and the Unix epoch as "unknown". */
function usableDate(d: Date | null): Date | null {
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
function modifiedSince(v: string | null, mtime: Date | null): boolean | null {
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

function notModified(headers: Headers): Response {
  // RFC 9110: with an ETag present, Last-Modified is redundant on a 304 (Go drops it too)
  if (headers.has("ETag")) headers.delete("Last-Modified");
  return new Response(null, { status: 304, headers });
}

/** A relative path segment for a Location; `./` keeps `a:b` from reading as a scheme. */
function relativeRef(segment: string): string {
  const escaped = escapePath(segment);
  return escaped.includes(":") ? "./" + escaped : escaped;
}

function redirect(location: string, query: string): Response {
  return new Response(null, { status: 301, headers: { Location: location + query } });
}

function notFound(): Response {
  return textResponse(404, "404 page not found\n");
}

function fsError(e: unknown): Response {
  if (
    e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
    (e as { code?: string }).code === "ENAMETOOLONG"
  ) return notFound();
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return textResponse(403, "403 Forbidden\n");
  }
  return textResponse(500, "500 Internal Server Error\n");
}
