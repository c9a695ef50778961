/**
 * Tools for the hostile and load tests and for the soak (`scripts/soak.ts`):
 * raw HTTP requests that nothing normalises, a lean WebSocket client cheap
 * enough for thousands of sessions, bounded-concurrency pools, `/proc`
 * readings of the server (RSS, open fds, descendants), a server started
 * with a raised fd limit, and a canary session that keeps proving the
 * server still echoes.
 *
 * @module
 */

import nodeAssert from "node:assert/strict";
import { ALL_PERMS, entry, freePort, ROOT, TestServer } from "./server.ts";
import { clientFrame, concat, concatAll, indexOf, writeAll } from "./wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A fixed, valid handshake key: the lean client never checks the accept value. */
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** What {@link rawRequest} saw. */
export interface RawAnswer {
  /** HTTP status, 0 when the server closed without a status line, -1 on timeout. */
  status: number;
  /** The header block as text (status line included). */
  head: string;
  /** Body bytes read (up to Content-Length, or until EOF). */
  body: Uint8Array;
  /** The body as text. */
  text: string;
  /** Whether the server ended the connection (EOF or reset) before the timeout. */
  closed: boolean;
  /** Milliseconds until the status line (or the end). */
  ms: number;
}

/**
 * Sends `request` exactly as given (no path normalisation, no header
 * checks) and reads one response. Never throws for server behaviour: a reset
 * or EOF before a status line is status 0, silence past `timeoutMs` is -1.
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 10000,
): Promise<RawAnswer> {
  const t0 = Date.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  }, timeoutMs);
  let buf = new Uint8Array(0);
  let closed = false;
  const chunk = new Uint8Array(64 * 1024);
  const fill = async (): Promise<boolean> => {
    let n: number | null = null;
    try {
      n = await conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      if (!timedOut) closed = true;
      return false;
    }
    buf = concat(buf, chunk.subarray(0, n));
    return true;
  };
  try {
    try {
      await writeAll(conn, typeof request === "string" ? enc.encode(request) : request);
    } catch {
      // the server may answer (413/431/400) and close before it read everything
    }
    let end: number;
    while ((end = indexOf(buf, CRLF2)) < 0) {
      if (!(await fill())) {
        return {
          status: timedOut ? -1 : 0,
          head: dec.decode(buf),
          body: new Uint8Array(0),
          text: "",
          closed,
          ms: Date.now() - t0,
        };
      }
    }
    const ms = Date.now() - t0;
    const head = dec.decode(buf.subarray(0, end));
    let body = buf.slice(end + 4);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (status !== 101) {
      if (len) {
        while (body.length < Number(len[1]) && await fill()) body = buf.slice(end + 4);
        body = buf.slice(end + 4, end + 4 + Number(len[1]));
      } else {
        while (await fill());
        body = buf.slice(end + 4);
      }
    }
    return { status, head, body, text: dec.decode(body), closed, ms };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** Header lines: `headers` replace the defaults of the same name (case-insensitive). */
function headerLines(defaults: [string, string][], headers: Record<string, string>): string {
  const given = new Set(Object.keys(headers).map((k) => k.toLowerCase()));
  let out = "";
  for (const [k, v] of defaults) if (!given.has(k.toLowerCase())) out += `${k}: ${v}\r\n`;
  for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
  return out;
}

/** A plain GET request line with Host and Connection: close. */
export function getRequest(target: string, headers: Record<string, string> = {}): string {
  const defaults: [string, string][] = [["Host", "127.0.0.1"], ["Connection", "close"]];
  return `GET ${target} HTTP/1.1\r\n${headerLines(defaults, headers)}\r\n`;
}

/** A WebSocket handshake request for `target` with the lean client's fixed key. */
export function upgradeRequest(target: string, headers: Record<string, string> = {}): string {
  const defaults: [string, string][] = [
    ["Host", "127.0.0.1"],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", KEY],
    ["Sec-WebSocket-Version", "13"],
  ];
  return `GET ${target} HTTP/1.1\r\n${headerLines(defaults, headers)}\r\n`;
}

/** What one lean session ended with. */
export interface LeanResult {
  /** Handshake status (101 for a session). */
  status: number;
  /** Data messages received. */
  messages: number;
  /** Payload bytes of data messages. */
  bytes: number;
  /** Close code from the server's close frame; null without one. */
  closeCode: number | null;
  /** Close reason. */
  closeReason: string;
  /** Whether the handshake timed out or the session outlived `timeoutMs`. */
  timedOut: boolean;
  /** First problem seen by `onText` (e.g. a line out of order), if any. */
  error: string | null;
}

/** Options for {@link leanSession}. */
export interface LeanOptions {
  /** Request target. Default `/`. */
  path?: string;
  /** The whole handshake request, sent as is instead of the default one. */
  request?: string | Uint8Array;
  /** Text messages to send right after the 101. */
  send?: string[];
  /** Send a close frame after this many data messages arrived. */
  closeAfter?: number;
  /** Drop TCP (no close frame) after this many data messages arrived. */
  dropAfter?: number;
  /**
   * Called for each complete text message; return a string to record a problem.
   * Without it text is not decoded (counting only, for speed).
   */
  onText?: (text: string, index: number) => string | void;
  /** Whole-session limit. Default 60 s. */
  timeoutMs?: number;
}

/**
 * One WebSocket session over a raw socket with as little work per byte as
 * possible: frames are parsed in place, payloads decoded only when asked.
 * Resolves when the server ends TCP (or after `timeoutMs`); never throws for
 * server behaviour.
 */
export async function leanSession(port: number, opts: LeanOptions = {}): Promise<LeanResult> {
  const result: LeanResult = {
    status: 0,
    messages: 0,
    bytes: 0,
    closeCode: null,
    closeReason: "",
    timedOut: false,
    error: null,
  };
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (e) {
    result.error = `connect: ${(e as Error).message}`;
    return result;
  }
  const timer = setTimeout(() => {
    result.timedOut = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  }, opts.timeoutMs ?? 60000);
  const chunk = new Uint8Array(256 * 1024);
  let buf = new Uint8Array(0);
  let off = 0;
  let closedByUs = false;
  const read = async (): Promise<boolean> => {
    let n: number | null = null;
    try {
      n = await conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) return false;
    const rest = buf.length - off;
    const next = new Uint8Array(rest + n);
    next.set(buf.subarray(off));
    next.set(chunk.subarray(0, n), rest);
    buf = next;
    off = 0;
    return true;
  };
  const send = async (bytes: Uint8Array) => {
    try {
      await writeAll(conn, bytes);
    } catch { /* the server may have closed: its close frame tells why */ }
  };
  try {
    const req = opts.request ?? upgradeRequest(opts.path ?? "/");
    await send(typeof req === "string" ? enc.encode(req) : req);
    let end: number;
    while ((end = indexOf(buf, CRLF2)) < 0) if (!(await read())) return result;
    result.status = Number(dec.decode(buf.subarray(9, 12)));
    off = end + 4;
    if (result.status !== 101) return result;
    for (const t of opts.send ?? []) await send(clientFrame(0x1, enc.encode(t)));
    let fragParts: Uint8Array[] = [];
    let fragText = false;
    while (true) {
      // parse every complete frame in the buffer
      while (buf.length - off >= 2) {
        const b0 = buf[off]!;
        let len = buf[off + 1]! & 0x7f;
        let at = off + 2;
        if (len === 126) {
          if (buf.length - off < 4) break;
          len = (buf[off + 2]! << 8) | buf[off + 3]!;
          at = off + 4;
        } else if (len === 127) {
          if (buf.length - off < 10) break;
          len = Number(new DataView(buf.buffer, buf.byteOffset + off + 2, 8).getBigUint64(0));
          at = off + 10;
        }
        if (buf.length < at + len) break;
        const op = b0 & 0x0f;
        const fin = (b0 & 0x80) !== 0;
        const payload = buf.subarray(at, at + len);
        off = at + len;
        if (op === 0x8) {
          result.closeCode = len >= 2 ? (payload[0]! << 8) | payload[1]! : null;
          result.closeReason = dec.decode(payload.subarray(2));
          if (!closedByUs) await send(clientFrame(0x8, payload.slice(0, 2)));
          closedByUs = true;
          continue;
        }
        if (op === 0x9) {
          await send(clientFrame(0xa, payload.slice()));
          continue;
        }
        if (op === 0xa) continue;
        result.bytes += len;
        if (opts.onText) {
          if (op !== 0) fragText = op === 0x1;
          fragParts.push(payload.slice());
        }
        if (!fin) continue;
        const index = result.messages++;
        if (opts.onText && fragText) {
          const whole = fragParts.length === 1 ? fragParts[0]! : concatAll(fragParts);
          const problem = opts.onText(dec.decode(whole), index);
          if (problem && result.error === null) result.error = problem;
        }
        fragParts = [];
        if (opts.closeAfter === result.messages && !closedByUs) {
          closedByUs = true;
          await send(clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
        }
        if (opts.dropAfter === result.messages) return result;
      }
      if (!(await read())) return result;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/**
 * Runs `task(i)` for i in [0, n) with at most `concurrency` at once; resolves
 * with every result in index order.
 */
export async function pool<T>(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

// ---- /proc readings ----

/** Resident set size of a process in KiB. */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/** Number of open file descriptors of a process. */
export function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Parent pid and process group of a live process, or null when it is gone. */
function statOf(pid: number): { ppid: number; pgrp: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the command name may contain spaces and parentheses: fields start after the last ')'
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

/** Pids of every live process. */
function allPids(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) if (/^\d+$/.test(e.name)) pids.push(Number(e.name));
  return pids;
}

/** Pids of every live descendant of `pid` (children, grandchildren…), zombies included. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const s = statOf(p);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(p);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Pids whose command line contains `needle` (any process, not only descendants). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const p of allPids()) {
    if (p === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${p}/cmdline`);
      if (cmd.includes(needle)) out.push(p);
    } catch { /* gone */ }
  }
  return out;
}

/** Polls `probe` until it returns a value accepted by `ok` or `timeoutMs` passes; returns the last. */
export async function settle<T>(
  probe: () => T | Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- servers ----

/** Options for {@link startServerUlimit}. */
export interface UlimitOptions {
  /** The server's open-file limit. Default: the hard limit (as high as we may go). */
  nofile?: number;
  /** Working directory. Default: the repository. */
  cwd?: string;
  /** V8 flags for the server's runtime (e.g. `--trace-gc`). */
  v8Flags?: string[];
}

/**
 * Starts the server like `startServer` in `server.ts`, but through
 * `sh -c 'ulimit -n N; exec deno …'` so that hundreds of sessions (each a
 * socket and three pipes) fit under its fd limit (the soft limit may be
 * lower than the hard one). `exec` keeps the pid, so `server.pid` is the
 * server itself.
 */
export async function startServerUlimit(
  args: string[],
  opts: UlimitOptions = {},
): Promise<TestServer> {
  for (let attempt = 0;; attempt++) {
    const port = freePort();
    const argv = [
      // V8 prints its traces through C stdio: line-buffer it so they arrive as they happen
      ...(opts.v8Flags?.length ? ["stdbuf", "-oL"] : []),
      Deno.execPath(),
      "run",
      "--quiet",
      ...(opts.v8Flags?.length ? [`--v8-flags=${opts.v8Flags.join(",")}`] : []),
      ...ALL_PERMS,
      entry(),
      "--address=127.0.0.1",
      `--port=${port}`,
      ...args,
    ];
    const child = new Deno.Command("sh", {
      args: ["-c", `ulimit -n ${opts.nofile ?? '"$(ulimit -Hn)"'} && exec "$@"`, "sh", ...argv],
      cwd: opts.cwd ?? ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new TestServer(child, port);
    // with --loglevel=error there is no startup line to wait for: wait until the port answers
    let exited = false;
    const exit = server.exited().then(() => (exited = true));
    let result: "ready" | "timeout" | "exited" = "timeout";
    for (const deadline = Date.now() + 15000; Date.now() < deadline;) {
      if (exited) {
        result = "exited";
        break;
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null);
      if (conn) {
        conn.close();
        result = "ready";
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    void exit;
    if (result === "ready") return server;
    const status = await server.stop();
    if (status.code === 3 && attempt < 3) continue;
    throw new Error(
      `server did not start (${result}):\n${server.lines.join("\n")}\n${server.stderr}`,
    );
  }
}

/**
 * Writes an executable shell script into a fresh temporary directory whose
 * name contains `tag`, so `pidsWithArg(tag)` finds every process running it.
 * Returns the script path; remove its directory with {@link removeScriptDir}.
 */
export async function tempScript(tag: string, body: string, name = "prog.sh"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `wsd-hostile-${tag}-` });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Removes the directory a {@link tempScript} made. */
export async function removeScriptDir(script: string): Promise<void> {
  await Deno.remove(script.slice(0, script.lastIndexOf("/")), { recursive: true });
}

// ---- the canary ----

/** Round-trip statistics of a {@link Canary}. */
export interface CanaryStats {
  /** Successful round trips. */
  ok: number;
  /** Failures (timeouts, wrong echo, closed session), with what happened. */
  failures: string[];
  /** Slowest round trip in ms. */
  maxMs: number;
}

/**
 * A long-lived echo session that sends a numbered message every `everyMs`
 * and expects it back, to prove the server keeps serving others while it is
 * attacked. The server's COMMAND (or `path` under --dir) must echo lines.
 */
export class Canary {
  #conn!: Deno.Conn;
  #seq = 0;
  #stats: CanaryStats = { ok: 0, failures: [], maxMs: 0 };
  #loop: Promise<void> | null = null;
  #running = false;
  #buf = new Uint8Array(0);
  #readChunk = new Uint8Array(4096);

  private constructor() {}

  /** Opens the session (the handshake must succeed). */
  static async open(
    port: number,
    path = "/",
    headers: Record<string, string> = {},
  ): Promise<Canary> {
    const c = new Canary();
    c.#conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(c.#conn, enc.encode(upgradeRequest(path, headers)));
    let end: number;
    while ((end = indexOf(c.#buf, CRLF2)) < 0) {
      if (!(await c.#fill())) {
        c.close();
        throw new Error("canary: no handshake response");
      }
    }
    const status = dec.decode(c.#buf.subarray(9, 12));
    if (status !== "101") {
      c.close();
      throw new Error(`canary: handshake answered ${status}`);
    }
    c.#buf = c.#buf.slice(end + 4);
    return c;
  }

  async #fill(): Promise<boolean> {
    const n = await this.#conn.read(this.#readChunk).catch(() => null);
    if (n === null) return false;
    this.#buf = concat(this.#buf, this.#readChunk.subarray(0, n));
    return true;
  }

  /** Reads one unfragmented server text frame (pings are skipped). */
  async #readText(): Promise<string | null> {
    while (true) {
      if (this.#buf.length >= 2) {
        const op = this.#buf[0]! & 0x0f;
        const len = this.#buf[1]! & 0x7f; // canary messages are short
        if (this.#buf.length >= 2 + len) {
          const payload = this.#buf.slice(2, 2 + len);
          this.#buf = this.#buf.slice(2 + len);
          if (op === 0x1) return dec.decode(payload);
          if (op === 0x8) return null;
          continue;
        }
      }
      if (!(await this.#fill())) return null;
    }
  }

  /** One round trip; records the outcome. Returns whether it succeeded. */
  async roundTrip(timeoutMs = 5000): Promise<boolean> {
    const text = `canary ${++this.#seq}`;
    const t0 = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
    try {
      await writeAll(this.#conn, clientFrame(0x1, enc.encode(text)));
      const got = await Promise.race([this.#readText(), timeout]);
      if (got !== text) {
        this.#stats.failures.push(`${text}: got ${JSON.stringify(got)}`);
        if (got === "timeout") this.#running = false; // a late reply would desynchronise
        return false;
      }
      this.#stats.ok++;
      this.#stats.maxMs = Math.max(this.#stats.maxMs, Date.now() - t0);
      return true;
    } catch (e) {
      this.#stats.failures.push(`${text}: ${(e as Error).message}`);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Statistics so far (live while the background loop runs). */
  get stats(): CanaryStats {
    return this.#stats;
  }

  /**
   * With the background loop running: waits until one more round trip has
   * succeeded; false when one failed or none succeeded within `timeoutMs`.
   */
  async progressed(timeoutMs = 5000): Promise<boolean> {
    const start = this.#stats.ok;
    const deadline = Date.now() + timeoutMs;
    while (this.#stats.ok <= start && this.#stats.failures.length === 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#stats.failures.length === 0;
  }

  /** Starts round trips every `everyMs` in the background. */
  start(everyMs = 200): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        if (!(await this.roundTrip())) break;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  /** Stops the background loop, does one last round trip, and returns the statistics. */
  async stop(): Promise<CanaryStats> {
    this.#running = false;
    await this.#loop;
    if (this.#stats.failures.length === 0) await this.roundTrip();
    return this.#stats;
  }

  /** Closes the session. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed already */ }
  }
}

// ---- bytes ----

const CRLF2 = enc.encode("\r\n\r\n");

/**
 * Runs `attacks` while a canary session on `server` (its program at `path`)
 * echoes in the background. `after(what)` checks that the attack's programs
 * are gone (only the canary's is left) and that the canary still echoes; at
 * the end the server must not have logged an uncaught error.
 */
export async function underAttack(
  server: TestServer,
  path: string,
  attacks: (after: (what: string) => Promise<void>) => Promise<void>,
): Promise<void> {
  const canary = await Canary.open(server.port, path);
  try {
    nodeAssert.ok(await canary.roundTrip(), "the canary does not echo to begin with");
    canary.start(100);
    await attacks(async (what) => {
      // exactly one program: the canary's (0 would mean the attack killed it)
      const left = await settle(() => descendants(server.pid), (d) => d.length === 1, 8000);
      nodeAssert.equal(left.length, 1, `${what}: programs left: ${left}`);
      nodeAssert.ok(
        await canary.progressed(5000),
        `${what}: the canary stopped echoing: ${canary.stats.failures}`,
      );
    });
    nodeAssert.deepStrictEqual(server.grep(/Uncaught|Unhandled|Session failed/), []);
  } finally {
    await canary.stop();
    canary.close();
  }
}

/** A server with `count` live sessions of stubborn programs, for shutdown tests. */
export interface StubbornFleet {
  /** The server (`--maxforks=0`). */
  server: TestServer;
  /** The program script (remove it with {@link removeScriptDir}). */
  prog: string;
  /** The clients' connections, each past its program's "ready" line. */
  conns: Deno.Conn[];
}

/**
 * Starts a server whose program starts a grandchild, says "ready" and
 * waits; every fifth program and its grandchild ignore SIGINT and SIGTERM
 * (ignored signals survive exec, so their sleeps are stubborn too; no busy
 * loops, which would be a fork storm on 2 cores). Every process's command
 * line carries `tag`. Opens `count` sessions, 50 at a time.
 */
export async function stubbornFleet(tag: string, count: number): Promise<StubbornFleet> {
  const prog = await tempScript(
    tag,
    `case "$UNIQUE_ID" in *[05]) trap '' INT TERM HUP;; esac
sh -c 'trap "" INT TERM HUP; exec sleep 300' sh-${tag} > /dev/null 2>&1 &
echo ready
cat
exec sleep 300`,
  );
  const server = await startServerUlimit(["--loglevel=error", "--maxforks=0", prog]);
  const conns: Deno.Conn[] = [];
  await pool(count, 50, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(conn);
    await writeAll(conn, enc.encode(upgradeRequest("/")));
    const buf = new Uint8Array(1024);
    let text = "";
    while (!text.includes("ready")) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed before ready");
      text += dec.decode(buf.subarray(0, n));
    }
  });
  return { server, prog, conns };
}
