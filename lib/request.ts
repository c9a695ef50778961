/**
 * Reading one incoming `node:http` request into the facts every route uses,
 * and writing Web `Response`s back (to a `ServerResponse` or a raw socket).
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type RequestFacts, uniqueId } from "./env.ts";
import { decodePath, splitTarget } from "./paths.ts";
import { forwardedClient, type TrustedProxies } from "./proxy.ts";

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

/** RequestFacts plus what routing needs; `path` is null when the target cannot be decoded. */
export interface IncomingFacts extends Omit<RequestFacts, "path"> {
  /** Decoded path, or null when malformed (answer 400). */
  path: string | null;
  /** Raw (escaped) path. */
  rawPath: string;
}

/**
 * Collects the facts of a request; with trusted proxies, the client's own
 * address, scheme and host replace the proxy's.
 */
export function incomingFacts(
  req: IncomingMessage,
  tls: boolean,
  trust: TrustedProxies | null = null,
): IncomingFacts {
  const target = req.url ?? "/";
  const { rawPath, query } = splitTarget(target);
  let { addr, port } = remoteOf(req.socket);
  let host = req.headers.host;
  const fwd = trust ? forwardedClient(trust, addr, req.rawHeaders) : null;
  if (fwd) {
    addr = fwd.addr;
    port = fwd.port;
    if (fwd.tls !== undefined) tls = fwd.tls;
    if (fwd.host !== undefined) host = fwd.host;
  }
  return {
    method: req.method ?? "GET",
    target,
    rawPath,
    path: decodePath(rawPath),
    query,
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
export function logUrl(f: IncomingFacts): string {
  return `${f.tls ? "https" : "http"}://${f.host ?? ""}${f.target}`;
}

/** A plain-text response. */
export function textResponse(status: number, body: string, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("Content-Type", "text/plain; charset=utf-8");
  h.set("X-Content-Type-Options", "nosniff");
  return new Response(body, { status, headers: h });
}

/** Builds a Web Request for a plain HTTP request (the body streams from the socket). */
export function toWebRequest(req: IncomingMessage, facts: IncomingFacts): Request {
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

/**
 * Writes a Web Response to a node ServerResponse, streaming the body with
 * backpressure. If the client goes away the body stream is cancelled (which
 * stops a CGI script, for example).
 */
export async function sendResponse(
  res: ServerResponse,
  response: Response,
  method: string,
  extraHeaders: [string, string][] = [],
): Promise<void> {
  const headers: [string, string][] = [];
  response.headers.forEach((v, k) => {
    if (k === "set-cookie") return;
    headers.push([k, v]);
  });
  for (const c of response.headers.getSetCookie()) headers.push(["set-cookie", c]);
  // an empty body gets an explicit length rather than an empty chunked stream
  if (!response.body && !response.headers.has("content-length")) {
    headers.push(["content-length", "0"]);
  }
  const flat: string[] = [];
  for (const [k, v] of [...headers, ...extraHeaders]) flat.push(k, v);
  res.writeHead(response.status, response.statusText || STATUS_CODES[response.status], flat);
  const body = response.body;
  if (!body || method === "HEAD" || response.status === 204 || response.status === 304) {
    await body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = body.getReader();
  let gone = false;
  const onClose = () => {
    if (!res.writableFinished) {
      gone = true;
      reader.cancel().catch(() => {});
    }
  };
  res.on("close", onClose);
  // the client may have left while the response was being prepared: "close" fired already
  if (res.destroyed || res.socket?.destroyed) onClose();
  try {
    while (!gone) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
  } catch {
    gone = true;
  } finally {
    res.off("close", onClose);
  }
  if (gone) res.destroy();
  else res.end();
}

/**
 * Writes a Web Response on a raw socket (an upgrade request that is not a
 * WebSocket handshake, or a refused handshake) and closes the connection.
 */
export async function sendRawResponse(
  socket: Duplex,
  response: Response,
  method: string,
  extraHeaders: [string, string][] = [],
): Promise<void> {
  const lines = [
    `HTTP/1.1 ${response.status} ${response.statusText || STATUS_CODES[response.status] || ""}`,
  ];
  const hasBody = response.body !== null && method !== "HEAD" && response.status !== 304;
  response.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "connection" && k !== "transfer-encoding") {
      lines.push(`${k}: ${v}`);
    }
  });
  for (const [k, v] of extraHeaders) lines.push(`${k}: ${v}`);
  const known = response.headers.get("content-length");
  let body: Uint8Array | null = null;
  if (hasBody && known === null) body = new Uint8Array(await response.arrayBuffer());
  if (body) lines.push(`Content-Length: ${body.length}`);
  else if (known !== null) lines.push(`Content-Length: ${known}`);
  lines.push("Connection: close", "", "");
  socket.write(new TextEncoder().encode(lines.join("\r\n")));
  if (body) socket.write(body);
  else if (hasBody && response.body) {
    for await (const chunk of response.body) {
      if (socket.destroyed) break;
      if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
    }
  } else await response.body?.cancel().catch(() => {});
  socket.end();
}
