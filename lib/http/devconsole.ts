/**
 * `--devconsole`: every plain HTTP request (any path, any method) gets the
 * interactive console page, its URL box pre-filled with the WebSocket URL of
 * the same host and request target, served with the same conditional-GET
 * and Range rules as static files (Last-Modified is the server start time).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DEVCONSOLE_HTML, DEVCONSOLE_SCRIPT, URL_SLOT } from "./devconsole_page.ts";
import { serveContent } from "./content.ts";
import type { RequestFacts } from "./request.ts";
import { escapeHtml } from "./static.ts";

const [PAGE_HEAD, PAGE_TAIL, ...extra] = DEVCONSOLE_HTML.split(URL_SLOT);
if (PAGE_TAIL === undefined || extra.length > 0) {
  throw new Error("devconsole_html.ts: URL_SLOT must appear exactly once in the page");
}

/**
 * Only the page's own inline script may run, and it may open WebSockets
 * anywhere (the user types the URL); nothing else is fetched.
 */
const CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash("sha256").update(DEVCONSOLE_SCRIPT).digest("base64")}'`,
  "style-src 'unsafe-inline'",
  "connect-src ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const encoder = new TextEncoder();

/**
 * The WebSocket URL a console page for this request starts with:
 * `ws[s]://` + Host header + request path and query, as websocketd does.
 */
export function consoleUrl(facts: RequestFacts): string {
  const query = facts.query ? "?" + facts.query : "";
  return `${facts.tls ? "wss" : "ws"}://${facts.host ?? ""}${facts.rawPath}${query}`;
}

/**
 * Answers any plain HTTP request with the console page: 200
 * `text/html; charset=utf-8`, or 304/206/416 through {@link serveContent}.
 * @param req The request (method, conditional and Range headers).
 * @param facts The request's facts (Host, target, TLS) for the URL prefill.
 * @param startedAt Server start time, sent as Last-Modified.
 */
export function devConsole(req: Request, facts: RequestFacts, startedAt: Date): Response {
  // the URL comes from the client (Host header, request target): escape it for the attribute
  const page = encoder.encode(PAGE_HEAD + escapeHtml(consoleUrl(facts)) + PAGE_TAIL);
  const response = serveContent(req, {
    size: page.length,
    mtime: startedAt,
    contentType: "text/html; charset=utf-8",
    body: (start, end) => page.subarray(start, end),
  });
  response.headers.set("Content-Security-Policy", CSP);
  response.headers.set("X-Content-Type-Options", "nosniff");
  return response;
}
