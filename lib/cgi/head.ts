/**
 * A CGI script's header block (RFC 3875 §6): status, headers, where the body
 * starts.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import { FIELD_VALUE } from "../http/headers.ts";

/** Largest header block a script may print before its blank line. */
export const CGI_HEADER_LIMIT = 64 * 1024;

/**
 * Headers about one connection hop, which node:http writes itself; a script
 * setting them would corrupt the framing of the response.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The response head a script printed. */
export interface CgiHead {
  /** HTTP status. */
  status: number;
  /** Reason phrase: the script's, else the standard one, else "". */
  statusText: string;
  /** Response headers (Status and hop-by-hop headers removed). */
  headers: [string, string][];
  /** Declared Content-Length, or null. */
  contentLength: number | null;
}

/** Result of {@link parseCgiHead}. */
export type CgiHeadResult =
  | { kind: "more" }
  | { kind: "bad"; reason: string }
  | { kind: "head"; head: CgiHead; bodyStart: number };

/**
 * Reads a script's header block from the start of its output (RFC 3875 §6).
 * Lines end with LF or CRLF; an empty line ends the block.
 *
 * - `Status: 418 Teapot` sets the status and reason; a missing reason means the standard one.
 * - `Location` without `Status` means 302 (a local path like `/x` too: it is
 *   sent to the client, not followed inside the server).
 * - Without `Status` or `Location`, `Content-Type` is required (RFC 3875 §6.3.1; Go refuses it too).
 * - A line without a colon, a bad Status, an unusable header or a block
 *   over {@link CGI_HEADER_LIMIT} makes the output malformed.
 *
 * @param buf The output so far.
 * @returns `more` while the block is incomplete, `bad` with a reason, or the head and where the body starts.
 */
export function parseCgiHead(buf: Uint8Array): CgiHeadResult {
  const lines: string[] = [];
  let pos = 0;
  let bodyStart = -1;
  while (bodyStart < 0) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0 || nl >= CGI_HEADER_LIMIT) {
      if (buf.length >= CGI_HEADER_LIMIT) {
        return { kind: "bad", reason: `header block longer than ${CGI_HEADER_LIMIT} bytes` };
      }
      return { kind: "more" };
    }
    const end = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl;
    if (end === pos) bodyStart = nl + 1;
    else {
      const line = latin1(buf.subarray(pos, end));
      // judged as soon as it is complete: a script that prints a body without headers
      // gets its 500 at once, not only when it exits
      if (line.indexOf(":") <= 0 || line.slice(0, line.indexOf(":")).trim() === "") {
        return { kind: "bad", reason: `bogus header line: ${printable(line)}` };
      }
      lines.push(line);
    }
    pos = nl + 1;
  }
  if (lines.length === 0) return { kind: "bad", reason: "no headers" };

  let status = 0;
  let statusText = "";
  let location = false;
  let contentType = false;
  let contentLength: number | null = null;
  const headers: [string, string][] = [];
  const check = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === "status") {
      const m = /^(\d{3})(?:[ \t]+(.*))?$/.exec(value);
      const code = m ? Number(m[1]) : 0;
      // node:http and the Fetch API can only send final statuses
      if (!m || code < 200 || code > 599) {
        return { kind: "bad", reason: `bogus status: ${printable(value)}` };
      }
      status = code;
      // RFC 3875 §6.3.3 lets the script choose the reason; one that cannot go on a status
      // line (control characters) or none at all gets the standard phrase
      const reason = (m[2] ?? "").trim();
      statusText = FIELD_VALUE.test(reason) ? reason : "";
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === "content-length") {
      if (!/^\d+$/.test(value)) {
        return { kind: "bad", reason: `bogus Content-Length: ${printable(value)}` };
      }
      contentLength = Number(value);
    }
    if (lower === "location") location = true;
    if (lower === "content-type") contentType = true;
    try {
      check.append(name, value); // the Fetch API's rules for names
    } catch {
      return { kind: "bad", reason: `unusable header line: ${printable(line)}` };
    }
    // node:http's rule for values is stricter than the Fetch API's: it would throw when
    // writing the head, long after we could still answer 500
    if (!FIELD_VALUE.test(value)) {
      return { kind: "bad", reason: `unusable header line: ${printable(line)}` };
    }
    headers.push([name, value]);
  }
  if (status === 0 && location) status = 302;
  if (status === 0 && !contentType) {
    return { kind: "bad", reason: "missing required Content-Type in headers" };
  }
  if (status === 0) status = 200;
  return {
    kind: "head",
    head: { status, statusText: statusText || STATUS_CODES[status] || "", headers, contentLength },
    bodyStart,
  };
}

/** Bytes as a Latin-1 string, so every byte of a header survives to node:http unchanged. */
function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** A header line as a log can show it: quoted, escaped, cut short. */
function printable(line: string): string {
  return JSON.stringify(line.length > 200 ? line.slice(0, 200) + "…" : line);
}
