/**
 * The facts of a Web `Request` (from `Deno.serve`, Hono, …), in the shape
 * the standalone server reads from `node:http`, so the same checks and the
 * same CGI environment ({@link buildEnv}) apply to both.
 *
 * @module
 */

import { decodePath } from "../http/paths.ts";
import { type RequestFacts, uniqueId } from "../http/request.ts";

/** The client's address as the program sees it (REMOTE_ADDR, REMOTE_PORT). */
export function remoteOfAddr(addr: Deno.Addr | undefined): { addr: string; port: string } {
  if (!addr) return { addr: "", port: "" };
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { addr: "unix-socket", port: "" };
  }
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const h = addr.hostname;
    // an IPv4 client of a dual-stack listener shows up IPv4-mapped
    return {
      addr: h.startsWith("::ffff:") && h.includes(".") ? h.slice(7) : h,
      port: String(addr.port),
    };
  }
  return { addr: "", port: "" };
}

/** Request headers as the lower-cased record the handshake checks take. */
export function headerRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => (out[name] = value));
  return out;
}

/**
 * Reads the facts of a request. What a Web Request does not carry is taken
 * as the handshake implies: HTTP/1.1, and the target as the URL parser
 * normalised it (`/a/../b` arrives as `/b`; repeated headers joined with ", ").
 * @param remote `info.remoteAddr` of `Deno.serve`, read before the upgrade.
 */
export function factsFromRequest(req: Request, remote: Deno.Addr | undefined): RequestFacts {
  const url = new URL(req.url);
  const rawPath = url.pathname;
  const query = url.search.slice(1);
  const rawHeaders: string[] = [];
  req.headers.forEach((value, name) => rawHeaders.push(name, value));
  const { addr, port } = remoteOfAddr(remote);
  return {
    method: req.method,
    target: rawPath + url.search,
    rawPath,
    path: decodePath(rawPath),
    query,
    rawQuery: query,
    httpVersion: "1.1",
    rawHeaders,
    remoteAddr: addr,
    remotePort: port,
    remoteHost: addr,
    tls: url.protocol === "https:",
    host: req.headers.get("host") ?? url.host,
    uniqueId: uniqueId(),
  };
}
