/**
 * The one response writer. Every HTTP answer (refusals, redirects, health,
 * metrics, console, static, CGI) goes through {@link respond}: it adds the
 * configured headers, streams the body with backpressure, notices the client
 * leaving (the body is cancelled, which stops a CGI script), and closes the
 * connection after answering an upgrade request.
 *
 * @module
 */

import type { ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";

/** How one answer is written. */
export interface RespondOptions {
  /** The request method (HEAD gets no body). */
  method: string;
  /** `--header` and `--header-http` values, validated at startup. */
  extraHeaders: readonly (readonly [string, string])[];
  /** The request came as a WebSocket upgrade: the connection ends after this answer. */
  closeAfter: boolean;
}

/** How long a closed-after connection may wait for the client's FIN before it is dropped. */
const LINGER_MS = 1000;

/** A plain-text response with `nosniff`. */
export function textResponse(status: number, body: string, headers?: HeadersInit): Response {
  const bytes = encoder.encode(body);
  const h = new Headers(headers);
  h.set("Content-Type", "text/plain; charset=utf-8");
  h.set("Content-Length", String(bytes.length));
  h.set("X-Content-Type-Options", "nosniff");
  return new Response(bytes, { status, headers: h });
}

const encoder = new TextEncoder();

/**
 * A refusal with websocketd's body text: `429 Too Many Requests\n`, or with
 * a detail: `400 Bad Request: malformed URL path\n`.
 */
export function refusal(status: number, detail?: string, headers?: HeadersInit): Response {
  const text = `${status} ${STATUS_CODES[status] ?? "Error"}${detail ? `: ${detail}` : ""}\n`;
  return textResponse(status, text, headers);
}

/**
 * Writes a Web Response to a node ServerResponse. Resolves when the answer
 * is complete or the client has gone (then the body stream is cancelled).
 */
export async function respond(
  res: ServerResponse,
  response: Response,
  opts: RespondOptions,
): Promise<void> {
  const flat: string[] = [];
  response.headers.forEach((v, k) => {
    if (k !== "set-cookie") flat.push(k, v);
  });
  for (const c of response.headers.getSetCookie()) flat.push("set-cookie", c);
  // an empty body gets an explicit length rather than an empty chunked stream
  if (!response.body && !response.headers.has("content-length")) flat.push("content-length", "0");
  for (const [k, v] of opts.extraHeaders) flat.push(k, v);
  if (opts.closeAfter) closeAfterAnswer(res);
  res.writeHead(response.status, response.statusText || STATUS_CODES[response.status], flat);
  const body = response.body;
  if (
    !body || opts.method === "HEAD" || response.status === 204 || response.status === 304
  ) {
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
      if (!res.write(value)) await writable(res);
    }
  } catch {
    gone = true;
  } finally {
    res.off("close", onClose);
  }
  if (gone) res.destroy();
  else res.end();
}

/** Resolves when the response may take more, or is gone. */
function writable(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      res.off("drain", go);
      res.off("close", go);
      resolve();
    };
    res.on("drain", go);
    res.on("close", go);
  });
}

/**
 * An upgrade request's socket has left node's HTTP parser: it is ours to
 * end once the answer is out, and to drop if the client never says goodbye.
 */
function closeAfterAnswer(res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = res.socket;
  if (!socket) return;
  res.once("finish", () => {
    socket.end();
    const t = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once("close", () => clearTimeout(t));
  });
}
