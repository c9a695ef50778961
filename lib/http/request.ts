/**
 * One incoming request, read once into the facts every route uses: who is
 * asking (through trusted proxies), for what, over what.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import { decodePath, splitTarget, withoutParam } from "./paths.ts";
import { forwardedClient, type ProxyTrust } from "./proxy.ts";

/** Facts about one request. */
export interface RequestFacts {
  /** HTTP method. */
  method: string;
  /**
   * Request target as sent (escaped path plus `?query`), with the secret
   * query parameter removed when the server checks credentials itself.
   */
  target: string;
  /** Raw (escaped) path. */
  rawPath: string;
  /** Decoded URL path, or null when it cannot be decoded (answered with 400). */
  path: string | null;
  /** Raw query without `?` (secret parameter removed like {@link target}). */
  query: string;
  /** The query as sent, for the credential check only. */
  rawQuery: string;
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

/** Facts of a request whose path decoded (every route after the 400 check). */
export type RoutedFacts = RequestFacts & { path: string };

/** How requests are read: TLS, trusted proxies, and the query parameter that carries secrets. */
export interface ReadOptions {
  /** Whether the listener is TLS. */
  tls: boolean;
  /** `--trust-proxy`, when given. */
  trust: ProxyTrust | null;
  /** A query parameter that holds a credential (`access_token`), kept out of logs and programs. */
  secretParam: string | null;
}

/** The client's address and port as the program sees them. */
export function remoteOf(socket: { remoteAddress?: string; remotePort?: number }): {
  addr: string;
  port: string;
} {
  const a = socket.remoteAddress;
  if (!a) return { addr: "unix-socket", port: "" };
  // an IPv4 client of a dual-stack listener shows up IPv4-mapped
  return {
    addr: a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a,
    port: String(socket.remotePort ?? ""),
  };
}

/**
 * Collects the facts of a request; with trusted proxies, the client's own
 * address, scheme and host replace the proxy's.
 */
export function readFacts(req: IncomingMessage, opts: ReadOptions): RequestFacts {
  const sent = req.url ?? "/";
  const { rawPath, query: rawQuery } = splitTarget(sent);
  let { addr, port } = remoteOf(req.socket);
  let host = req.headers.host;
  let tls = opts.tls;
  const fwd = opts.trust ? forwardedClient(opts.trust, addr, req.rawHeaders) : null;
  if (fwd) {
    addr = fwd.addr;
    port = fwd.port;
    if (fwd.tls !== undefined) tls = fwd.tls;
    if (fwd.host !== undefined) host = fwd.host;
  }
  let query = rawQuery;
  let target = sent;
  if (opts.secretParam) {
    query = withoutParam(rawQuery, opts.secretParam);
    if (query !== rawQuery) {
      target = sent.slice(0, sent.length - rawQuery.length - 1) + (query ? "?" + query : "");
    }
  }
  return {
    method: req.method ?? "GET",
    target,
    rawPath,
    path: decodePath(rawPath),
    query,
    rawQuery,
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    remoteAddr: addr,
    remotePort: port,
    remoteHost: addr,
    tls,
    uniqueId: uniqueId(),
    host,
  };
}

/** The URL websocketd logs: `http[s]://` + Host + target. */
export function logUrl(f: RequestFacts): string {
  return `${f.tls ? "https" : "http"}://${f.host ?? ""}${f.target}`;
}

/** Returns the value of the first header with this name (case-insensitive). */
export function headerValue(rawHeaders: string[], name: string): string | undefined {
  const want = name.toLowerCase();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === want) return rawHeaders[i + 1];
  }
  return undefined;
}

/** How many header lines carry this name (case-insensitive). */
export function headerCount(rawHeaders: string[], name: string): number {
  const want = name.toLowerCase();
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === want) n++;
  return n;
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

/** Builds a Web Request for a plain HTTP request (the body streams from the socket). */
export function toWebRequest(req: IncomingMessage, facts: RequestFacts): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    try {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    } catch {
      // a header the Fetch API refuses; routes read rawHeaders when they need every header
    }
  }
  const method = facts.method;
  const hasBody = method !== "GET" && method !== "HEAD";
  const url = `${facts.tls ? "https" : "http"}://${safeHost(facts.host)}${
    facts.rawPath.startsWith("/") ? "" : "/"
  }${facts.rawPath}${facts.query ? "?" + facts.query : ""}`;
  return new Request(url, {
    method,
    headers,
    body: hasBody ? nodeBody(req) : undefined,
  });
}

function safeHost(host: string | undefined): string {
  return host && /^[A-Za-z0-9.:\[\]_-]+$/.test(host) ? host : "localhost";
}

/** A request body as a byte stream that pauses the socket while nobody reads. */
function nodeBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      req.on("data", (c: Uint8Array) => {
        controller.enqueue(new Uint8Array(c));
        if ((controller.desiredSize ?? 1) <= 0) req.pause();
      });
      req.on("end", () => controller.close());
      req.on("error", (e) => controller.error(e));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.destroy();
    },
  }, { highWaterMark: 4 });
}

let lastMs = 0;
let lastSub = 0;

/**
 * A unique decimal nanosecond timestamp (UNIQUE_ID and the log id); strictly
 * increasing. Built as milliseconds and a six-digit sub-millisecond part:
 * nanoseconds since 1970 do not fit a double, and BigInt costs more.
 */
export function uniqueId(): string {
  let ms = Date.now();
  let sub = Math.floor((performance.now() % 1) * 1_000_000);
  if (ms < lastMs || (ms === lastMs && sub <= lastSub)) {
    ms = lastMs;
    sub = lastSub + 1;
    if (sub === 1_000_000) {
      ms++;
      sub = 0;
    }
  }
  lastMs = ms;
  lastSub = sub;
  return `${ms}${String(sub).padStart(6, "0")}`;
}
