/**
 * `--cgidir`: CGI/1.1 scripts (RFC 3875) over plain HTTP, as websocketd
 * serves them through Go's `net/http/cgi`, with websocketd HEAD's path
 * confinement.
 *
 * One run is a small pipe of its own: the request body streams to the
 * script's stdin, the script's header block becomes the response head, and
 * the rest of its stdout streams to the client as it is produced. Whoever
 * spawns the script reaps it: {@link runCgi} owns the process until it is
 * reaped, then gives the `--maxforks` slot back exactly once.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import type { Config } from "./config.ts";
import {
  cleanHeaderValue,
  type EnvBase,
  headerValue,
  headerVariables,
  type RequestFacts,
  splitHost,
} from "./env.ts";
import { type Fields, type Logger, StderrLines } from "./log.ts";
import { describeStatus, type LadderStep, Program, waitFor } from "./process.ts";

/** Inputs of one CGI run. */
export interface CgiRun {
  /** Absolute script path (confined to the CGI root). */
  script: string;
  /** The request's facts. */
  facts: RequestFacts & { host: string | undefined; rawPath: string };
  /** Configuration (passenv, TLS, closems). */
  config: Config;
  /** Shared environment pieces. */
  envBase: EnvBase;
  /** Logger. */
  log: Logger;
  /** Log context. */
  fields: Fields;
  /** Releases the --maxforks slot; call exactly once, after the script is reaped. */
  release: () => void;
}

/** Largest header block a script may print before its blank line. */
export const CGI_HEADER_LIMIT = 64 * 1024;

/** How long stderr may lag behind the exit before we stop reading it (a grandchild may hold it). */
const STDERR_GRACE_MS = 500;

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

/** What node:http accepts in a header value or reason phrase: tab, visible ASCII, space, obs-text. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Request meta-variables that describe this request only: a --passenv value
 * of the same name must never stand in for them when the request lacks them.
 */
const REQUEST_ONLY = [
  "AUTH_TYPE",
  "CONTENT_LENGTH",
  "CONTENT_TYPE",
  "HTTPS",
  "HTTP_HOST",
  "PATH_TRANSLATED",
  "REMOTE_IDENT",
  "REMOTE_USER",
];

/**
 * The executable regular file under `root` that a clean, decoded URL path
 * names, or null so the request falls through to static files or the 404.
 *
 * Like websocketd, the WHOLE path must name the file: there is no PATH_INFO
 * (`/env.cgi/extra` → null), and directories never match. Like websocketd
 * HEAD (its fix for an unauthenticated RCE), the file's real path, symlinks
 * resolved, must lie under the real root. Unlike websocketd, a file without
 * any execute bit is null (404) rather than a 500 from a failed exec: a data
 * file left in the CGI directory is not there to be run.
 *
 * @param root Absolute CGI root (`--cgidir`).
 * @param urlPath Decoded URL path, already clean (no `.`/`..` segments).
 * @returns The script path (root + URL path, symlinks not resolved), or null.
 *
 * @example
 * ```ts
 * cgiScriptFor("/srv/cgi-bin", "/sub/env.cgi"); // "/srv/cgi-bin/sub/env.cgi"
 * cgiScriptFor("/srv/cgi-bin", "/env.cgi/extra"); // null
 * ```
 */
export function cgiScriptFor(root: string, urlPath: string): string | null {
  if (!urlPath.startsWith("/") || urlPath.endsWith("/")) return null;
  // the path is clean already; refusing odd segments here keeps this function safe on its own
  const segments = urlPath.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return null;
  const base = root.replace(/\/+$/, "");
  const file = base + urlPath;
  try {
    const info = Deno.statSync(file); // follows symlinks: the target must be a regular file
    if (!info.isFile) return null;
    if (info.mode !== null && (info.mode & 0o111) === 0) return null;
    const realRoot = Deno.realPathSync(base || "/");
    const real = Deno.realPathSync(file);
    const inside = realRoot.endsWith("/") ? realRoot : realRoot + "/";
    if (!real.startsWith(inside)) return null;
  } catch {
    // missing, unreadable, or not allowed by --allow-read: not a script we may run
    return null;
  }
  return file;
}

/**
 * The RFC 3875 environment of one CGI run, built from nothing: the server
 * software, the --passenv variables, then the request's meta-variables
 * (which always win over a passed variable of the same name).
 *
 * Differences from the WebSocket programs' environment (lib/env.ts): HTTP_HOST
 * is present, CONTENT_LENGTH/CONTENT_TYPE describe the request body, the
 * script paths are set, and a `Proxy` request header never becomes
 * HTTP_PROXY (the "httpoxy" hole; Go's CGI host drops it too).
 */
export function cgiEnvironment(run: CgiRun): Record<string, string> {
  const f = run.facts;
  const env: Record<string, string> = {};
  env.SERVER_SOFTWARE = run.envBase.serverSoftware;
  for (const [k, v] of run.envBase.passed) env[k] = v;
  for (const name of REQUEST_ONLY) delete env[name];

  const host = headerValue(f.rawHeaders, "host");
  const [serverName, serverPort] = splitHost(host, f.tls);
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.SERVER_PROTOCOL = `HTTP/${f.httpVersion}`;
  env.SERVER_NAME = serverName;
  env.SERVER_PORT = serverPort;
  env.REQUEST_METHOD = f.method;
  env.REQUEST_URI = f.target;
  env.SCRIPT_NAME = f.path;
  env.PATH_INFO = "";
  env.SCRIPT_FILENAME = run.script;
  env.DOCUMENT_ROOT = run.config.cgiDir ?? dirname(run.script);
  env.QUERY_STRING = f.query;
  env.REMOTE_ADDR = f.remoteAddr;
  env.REMOTE_HOST = f.remoteHost;
  env.REMOTE_PORT = f.remotePort;
  env.UNIQUE_ID = f.uniqueId;
  if (f.tls) env.HTTPS = "on";

  // a chunked body has no length known in advance: like Go, leave CONTENT_LENGTH out then
  const length = headerValue(f.rawHeaders, "content-length")?.trim();
  const chunked = headerValue(f.rawHeaders, "transfer-encoding") !== undefined;
  if (!chunked && length && /^\d+$/.test(length) && Number(length) > 0) {
    env.CONTENT_LENGTH = String(Number(length));
  }
  const type = headerValue(f.rawHeaders, "content-type");
  if (type !== undefined && cleanHeaderValue(type) !== "") {
    env.CONTENT_TYPE = cleanHeaderValue(type);
  }

  const headers = headerVariables(f.rawHeaders);
  headers.delete("HTTP_PROXY");
  // RFC 6265 joins cookies with "; ", and so does Go's CGI host; a comma would merge two cookies
  const cookies = cookieValues(f.rawHeaders);
  if (cookies.length > 1) headers.set("HTTP_COOKIE", cookies.join("; "));
  for (const [k, v] of headers) env[k] = v;
  if (host !== undefined) env.HTTP_HOST = cleanHeaderValue(host);
  return env;
}

function cookieValues(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "cookie") out.push(cleanHeaderValue(rawHeaders[i + 1]!));
  }
  return out;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

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

/** Statuses whose responses never carry a body. */
const NULL_BODY = new Set([204, 205, 304]);

/** Runs still in progress, so a server shutdown can stop them. */
const active = new Set<CgiProcess>();

/**
 * Stops every CGI script still running (stop ladder, `--closems` of its
 * run) and resolves when all of them are reaped and their slots released.
 * For server shutdown: a script whose response has finished (HEAD, or one
 * that closed stdout but keeps running) is not tied to any connection.
 */
export async function stopCgiRuns(): Promise<void> {
  const runs = [...active];
  for (const r of runs) r.stop("server shutting down");
  await Promise.all(runs.map((r) => r.done));
}

/** One spawned script: its pipes, its reaping and its slot. */
class CgiProcess {
  /** Resolves when the script is reaped, its pipes are closed and its slot released. */
  readonly done: Promise<void>;
  #run: CgiRun;
  #prog: Program;
  #fields: Fields;
  #stdout: ReadableStreamDefaultReader<Uint8Array>;
  #stdoutOver: () => void;
  #stdoutOverP: Promise<void>;
  #stdoutEnded = false;

  constructor(run: CgiRun, prog: Program, body: ReadableStream<Uint8Array> | null) {
    this.#run = run;
    this.#prog = prog;
    this.#fields = { ...run.fields, pid: prog.pid };
    this.#stdout = prog.stdout.getReader();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#stdoutOverP = promise;
    this.#stdoutOver = resolve;
    const stderr = prog.stderr.getReader();
    const stderrPump = this.#pumpStderr(stderr);
    void this.#feed(body);
    this.done = this.#reap(stderr, stderrPump);
    active.add(this);
  }

  /** Log context (with the pid). */
  get fields(): Fields {
    return this.#fields;
  }

  /** Next stdout chunk, or null at EOF (or when reading failed or was cancelled). */
  async read(): Promise<Uint8Array | null> {
    if (this.#stdoutEnded) return null;
    try {
      const r = await this.#stdout.read();
      if (!r.done) return r.value;
    } catch {
      // a cancelled or broken pipe ends the output like EOF does
    }
    this.endStdout();
    return null;
  }

  /** We want no more output: stop reading stdout (the script sees EPIPE/SIGPIPE if it writes). */
  endStdout(): void {
    if (this.#stdoutEnded) return;
    this.#stdoutEnded = true;
    this.#stdout.cancel().catch(() => {});
    this.#stdoutOver();
  }

  /** Reads and discards the rest of stdout until EOF (HEAD, bodiless statuses). */
  async discardRest(): Promise<void> {
    while (await this.read() !== null) { /* discard */ }
  }

  /** Stops the script with the ladder. Idempotent; {@link done} tells when it is over. */
  stop(why: string): void {
    if (this.#prog.exited && this.#stdoutEnded) return;
    this.#run.log.debug("cgi", this.#fields, `Stopping CGI script: ${why}`);
    this.endStdout();
    void this.#prog.stop(this.#run.config.closeMs, (step) => this.#logStep(step));
  }

  #logStep(step: LadderStep): void {
    const { log } = this.#run;
    const pid = this.#prog.pid;
    if (step === "stuck") log.error("process", this.#fields, `SIGKILL did not terminate ${pid}!`);
    else log.debug("process", this.#fields, `Sending ${step} to process ${pid}`);
  }

  /** The single owner of the end: reaped and stdout done → pipes closed → slot released once. */
  async #reap(
    stderr: ReadableStreamDefaultReader<Uint8Array>,
    stderrPump: Promise<void>,
  ): Promise<void> {
    try {
      const status = await this.#prog.status;
      this.#run.log.debug("cgi", this.#fields, `CGI script ended (${describeStatus(status)})`);
      // stdin may still be held open by a grandchild: nobody will write to it now
      this.#prog.closeStdin();
      // the last stderr lines are usually still in the pipe; a grandchild may hold it open forever
      if (!(await waitFor(stderrPump, STDERR_GRACE_MS))) await stderr.cancel().catch(() => {});
      await stderrPump;
      // the client may still be reading what the script printed before it exited
      await this.#stdoutOverP;
    } finally {
      active.delete(this);
      this.#run.release();
    }
  }

  /** Streams the request body to stdin, then EOF. */
  async #feed(body: ReadableStream<Uint8Array> | null): Promise<void> {
    if (!body) {
      this.#prog.closeStdin();
      return;
    }
    const reader = body.getReader();
    let writable = true;
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        // a script that stops reading still gets its response sent: drain the rest of the
        // body so the connection stays usable instead of cancelling (destroying) the request
        if (!writable) continue;
        try {
          await this.#prog.write(value);
        } catch {
          writable = false;
        }
      }
    } catch {
      // the client went away during the upload; the response side notices on its own
    } finally {
      this.#prog.closeStdin();
      reader.releaseLock();
    }
  }

  async #pumpStderr(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const { log } = this.#run;
    const lines = new StderrLines((line) => log.error("stderr", this.#fields, line));
    const logging = log.enabled("error");
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        // keep draining even when the level is off, or a chatty script would block on a full pipe
        if (logging) lines.push(value);
      }
    } catch {
      // cancelled after the exit
    }
    lines.end();
  }
}

/**
 * Runs a CGI script for a request and resolves with its response as soon as
 * the script has printed its header block; the body then streams from the
 * script's stdout as it is produced. If the caller cancels the body (the
 * client went away), the script is stopped with the stop ladder. The
 * `--maxforks` slot (`run.release`) is given back exactly once, after the
 * script is reaped, whatever happens.
 *
 * Failures answer 500 with an empty body and an ERROR log line: the script
 * cannot be started, or its output is malformed (see {@link parseCgiHead}).
 *
 * @param req The request; its body (if any) becomes the script's stdin.
 * @param run What to run and for whom.
 */
export async function runCgi(req: Request, run: CgiRun): Promise<Response> {
  const { log } = run;
  let prog: Program;
  try {
    prog = Program.spawn(
      { command: run.script, args: [], env: cgiEnvironment(run), cwd: dirname(run.script) },
      Deno.permissions.querySync({ name: "run" }).state === "granted",
    );
  } catch (e) {
    run.release();
    // cancelling would destroy the connection before the 500 goes out: read it to the end
    if (req.body) void discard(req.body);
    const why = e instanceof Error ? e.message : String(e);
    log.error("process", run.fields, `Could not launch CGI script ${run.script} (${why})`);
    return new Response(null, { status: 500 });
  }
  const cgi = new CgiProcess(run, prog, req.body);

  let buf: Uint8Array = new Uint8Array(0);
  let parsed: CgiHeadResult = { kind: "more" };
  while (parsed.kind === "more") {
    const chunk = await cgi.read();
    if (chunk === null) {
      parsed = {
        kind: "bad",
        reason: buf.length ? "output ended inside the header block" : "no headers",
      };
      break;
    }
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    parsed = parseCgiHead(buf);
  }
  if (parsed.kind === "bad") {
    log.error("cgi", cgi.fields, `Malformed CGI output: ${parsed.reason}`);
    cgi.stop("malformed output");
    return new Response(null, { status: 500 });
  }

  const { head, bodyStart } = parsed;
  const init: ResponseInit = { status: head.status, headers: head.headers };
  if (head.statusText) init.statusText = head.statusText;
  if (req.method === "HEAD" || NULL_BODY.has(head.status)) {
    // no body goes out, but the script runs to its end as it would for GET
    void cgi.discardRest();
    return new Response(null, init);
  }
  return new Response(bodyStream(cgi, buf.subarray(bodyStart), head.contentLength, run), init);
}

/** Reads a stream to its end, keeping nothing. */
async function discard(body: ReadableStream<Uint8Array>): Promise<void> {
  try {
    for await (const _ of body) { /* discard */ }
  } catch {
    // the client went away: nothing left to read
  }
}

/**
 * The response body: the script's stdout, pulled only as fast as the client
 * takes it (so nothing is buffered beyond one chunk), held to a declared
 * Content-Length so node:http never sends more than it announced.
 */
function bodyStream(
  cgi: CgiProcess,
  first: Uint8Array,
  declared: number | null,
  run: CgiRun,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | null = first.length ? first : null;
  let sent = 0;
  let finished = false;
  const tooLong = () => {
    run.log.error("cgi", cgi.fields, "CGI script wrote more than its declared Content-Length");
    cgi.stop("output beyond Content-Length");
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (declared === sent && declared !== null) {
        // everything announced went out: anything more is an error, EOF is the happy end
        finished = true;
        controller.close();
        void cgi.read().then((extra) => extra === null ? undefined : tooLong());
        return;
      }
      const chunk = pending ?? await cgi.read();
      pending = null;
      if (finished) return; // cancelled while we waited
      if (chunk === null) {
        finished = true;
        if (declared !== null && sent < declared) {
          run.log.error("cgi", cgi.fields, "CGI output ended before its declared Content-Length");
          controller.error(new Error("CGI output shorter than its Content-Length"));
        } else controller.close();
        return;
      }
      if (declared !== null && sent + chunk.length > declared) {
        finished = true;
        controller.enqueue(chunk.subarray(0, declared - sent));
        controller.close();
        tooLong();
        return;
      }
      sent += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      finished = true;
      cgi.stop("client went away");
    },
  }, { highWaterMark: 0 });
}
