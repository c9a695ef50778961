/**
 * The WebSocket opening handshake (RFC 6455 §4.2): checking the client's
 * request and writing the 101.
 *
 * @module
 */

import { createHash } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a client key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Whether a comma/space separated header value contains `token` (case-insensitive). */
export function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (!value) return false;
  const text = Array.isArray(value) ? value.join(",") : value;
  return text.toLowerCase().split(/[\s,]+/).includes(token.toLowerCase());
}

/** Whether a request asks to become a WebSocket (`Upgrade: websocket` and `Connection: upgrade`). */
export function isWebSocketRequest(
  headers: Record<string, string | string[] | undefined>,
): boolean {
  return hasToken(headers.upgrade, "websocket") && hasToken(headers.connection, "upgrade");
}

/** Why a handshake was refused: an HTTP status, a body and extra headers. */
export interface Refusal {
  /** HTTP status code. */
  status: number;
  /** Body text. */
  body: string;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/**
 * Validates the protocol part of a WebSocket handshake, in gorilla's order
 * (method, version, key). Origin policy is checked separately.
 *
 * @returns `null` when the handshake is acceptable.
 */
export function checkHandshake(
  method: string,
  headers: Record<string, string | string[] | undefined>,
): Refusal | null {
  if (method !== "GET") return { status: 405, body: "405 Method Not Allowed\n" };
  if (headers["sec-websocket-version"] !== "13") {
    return {
      status: 400,
      body: "400 Bad Request: unsupported Sec-WebSocket-Version (need 13)\n",
      headers: { "Sec-WebSocket-Version": "13" },
    };
  }
  const key = headers["sec-websocket-key"];
  if (typeof key !== "string" || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return { status: 400, body: "400 Bad Request: missing or malformed Sec-WebSocket-Key\n" };
  }
  return null;
}

/** Offered subprotocols, in client order. */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(",") : header ?? "";
  return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * The 101 response for a checked handshake.
 * @param key The client's Sec-WebSocket-Key.
 * @param protocol The chosen subprotocol, if any.
 * @param headers Extra headers (`--header`, `--header-ws`), already validated.
 */
export function switchingProtocols(
  key: string,
  protocol: string | null,
  headers: readonly (readonly [string, string])[],
): string {
  let out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(key.trim())}\r\n`;
  if (protocol) out += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  for (const [k, v] of headers) out += `${k}: ${v}\r\n`;
  return out + "\r\n";
}
