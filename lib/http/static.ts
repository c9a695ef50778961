/**
 * `--staticdir`: static files with Go `http.FileServer` semantics (index.html,
 * relative 301s for directories, HTML listings, conditional GET, one byte
 * range), confined to the real path of the root: a symlink that resolves
 * outside the root is answered 404, as websocketd HEAD does.
 *
 * @module
 */

import { basename, join } from "node:path";
import { contentTypeFor, modifiedSince, notModified, serveContent, usableDate } from "./content.ts";
import { escapePath } from "./paths.ts";
import { textResponse } from "./respond.ts";

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
