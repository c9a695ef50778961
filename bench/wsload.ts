/**
 * The fallback load client, for machines without a C compiler: the same
 * modes, options and output lines as `wsload.c` (see there), written with
 * raw `Deno.connect` sockets. It batches like the C client (one write per
 * window refill, large reads), but it is an interpreter with a garbage
 * collector, so its CPU column deserves a look before trusting a figure.
 *
 * ```sh
 * deno run --allow-all bench/wsload.ts echo --port=8080 --count=1000
 * ```
 *
 * @module
 */

import { clientFrame, writeClientFrame } from "../testing/wire.ts";

const enc = new TextEncoder();

/** Options, named as in wsload.c. */
interface Opts {
  host: string;
  port: number;
  conc: number;
  seconds: number;
  warmupSeconds: number;
  count: number;
  warmup: number;
  expect: number;
  size: number;
  window: number;
  serverPid: number;
  child: string;
  levels: number[];
  wait: boolean;
  timeout: number;
  timeoutPerSession: number;
  idle: number;
  idleConc: number;
  burst: number;
  bursts: number;
  intervalUs: number;
}

function parseOpts(args: string[]): Opts {
  const o: Opts = {
    host: "127.0.0.1",
    port: 0,
    conc: 1,
    seconds: 5,
    warmupSeconds: 0.5,
    count: 10000,
    warmup: 100,
    expect: -1,
    size: 16,
    window: 100,
    serverPid: 0,
    child: "wc",
    levels: [1000],
    wait: false,
    timeout: 60,
    timeoutPerSession: 0.04,
    idle: 0,
    idleConc: 32,
    burst: 200,
    bursts: 3,
    intervalUs: 1000,
  };
  for (const a of args) {
    if (a === "--wait") {
      o.wait = true;
      continue;
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`unknown option ${a}`);
    const [, k, v] = m as unknown as [string, string, string];
    const n = Number(v);
    switch (k) {
      case "host":
        o.host = v;
        break;
      case "child":
        o.child = v;
        break;
      case "levels":
        o.levels = v.split(",").map(Number);
        break;
      case "port":
      case "conc":
      case "seconds":
      case "count":
      case "warmup":
      case "expect":
      case "size":
      case "window":
      case "timeout":
        o[k] = n;
        break;
      case "warmup-seconds":
        o.warmupSeconds = n;
        break;
      case "server-pid":
        o.serverPid = n;
        break;
      case "timeout-per-session":
        o.timeoutPerSession = n;
        break;
      case "idle":
      case "burst":
      case "bursts":
        o[k] = n;
        break;
      case "idle-conc":
        o.idleConc = n;
        break;
      case "interval-us":
        o.intervalUs = n;
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  if (!o.port) throw new Error("--port is required");
  return o;
}

/** This process's CPU seconds (user + system) from /proc/self/stat. */
function cpuSeconds(): number {
  const s = Deno.readTextFileSync("/proc/self/stat");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A server's own CPU seconds and its reaped children's, from /proc/PID/stat; null if gone. */
function serverCpu(pid: number): { self: number; children: number } | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
    return { self: (f[11]! + f[12]!) / 100, children: (f[13]! + f[14]!) / 100 };
  } catch {
    return null;
  }
}

/** The p-quantile of sorted values, picked as wsload.c picks it. */
function quantile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  return sorted[Math.min(n - 1, Math.max(0, Math.round(p * (n - 1))))]!;
}

const now = () => performance.now() / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let rng = 0x9e3779b9;
/** Per-frame mask (RFC 6455 §5.3); xorshift is enough for a load client. */
function nextMask(): number {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
}

/** Writes one masked client frame into `out` at `at`; returns the new offset. */
function putFrame(out: Uint8Array, at: number, op: number, payload: Uint8Array): number {
  return writeClientFrame(out, at, op, payload, { mask: nextMask() });
}

function frame(op: number, payload: Uint8Array): Uint8Array {
  return clientFrame(op, payload, { mask: nextMask() });
}

const CLOSE = frame(0x8, new Uint8Array([0x03, 0xe8]));

function payloadOf(size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = 97 + i % 26;
  return p;
}

/** Counts server frames without keeping payloads; partial headers wait in `carry`. */
class Rx {
  msgs = 0;
  bytes = 0;
  closed = false;
  pong: Uint8Array | null = null;
  #skip = 0;
  #skipFin = false;
  #carry: Uint8Array | null = null;

  push(chunk: Uint8Array): void {
    let p = chunk;
    if (this.#carry) {
      p = new Uint8Array(this.#carry.length + chunk.length);
      p.set(this.#carry);
      p.set(chunk, this.#carry.length);
      this.#carry = null;
    }
    let off = 0;
    const n = p.length;
    while (true) {
      if (this.#skip > 0) {
        const take = Math.min(n - off, this.#skip);
        off += take;
        this.#skip -= take;
        this.bytes += take;
        if (this.#skip > 0) return;
        if (this.#skipFin) this.msgs++;
        continue;
      }
      if (n - off < 2) break;
      const b0 = p[off]!, b1 = p[off + 1]!;
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = (p[off + 2]! << 8) | p[off + 3]!;
        h = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = Number(new DataView(p.buffer, p.byteOffset + off + 2, 8).getBigUint64(0));
        h = 10;
      }
      if (b1 & 0x80) h += 4;
      if (n - off < h) break;
      const op = b0 & 0x0f;
      if (op >= 8) {
        if (n - off < h + len) break;
        if (op === 8) this.closed = true;
        else if (op === 9) this.pong = frame(0xa, p.slice(off + h, off + h + len));
        off += h + len;
        continue;
      }
      off += h;
      if (len === 0) {
        if (b0 & 0x80) this.msgs++;
        continue;
      }
      this.#skip = len;
      this.#skipFin = (b0 & 0x80) !== 0;
    }
    if (off < n) this.#carry = p.slice(off);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Handshakes answered with 101 since start, warm-up included: each started a program. */
let upgradesTotal = 0;

/** One client session over a raw socket. */
class Session {
  rx = new Rx();
  #buf = new Uint8Array(256 * 1024);
  #reading: Promise<void> | null = null;
  #waiters: { n: number; resolve: (ok: boolean) => void }[] = [];
  #ended = false;

  private constructor(readonly conn: Deno.Conn) {}

  /** Connects and completes the handshake. */
  static async open(o: Opts): Promise<Session> {
    const conn = await Deno.connect({ hostname: o.host, port: o.port });
    conn.setNoDelay(true);
    const s = new Session(conn);
    try {
      await writeAll(
        conn,
        enc.encode(
          `GET / HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\n` +
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
            "Sec-WebSocket-Version: 13\r\n\r\n",
        ),
      );
      let fill = 0;
      while (true) {
        const n = await conn.read(s.#buf.subarray(fill));
        if (n === null) throw new Error("handshake: connection closed");
        fill += n;
        const text = new TextDecoder().decode(s.#buf.subarray(0, fill));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) continue;
        if (!text.startsWith("HTTP/1.1 101")) throw new Error("handshake refused");
        upgradesTotal++;
        // the response is ASCII, so its string length is its byte length
        s.rx.push(s.#buf.slice(end + 4, fill));
        return s;
      }
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  /** Reads once into the counters; false at EOF. */
  async readOnce(): Promise<boolean> {
    const n = await this.conn.read(this.#buf);
    if (n === null) return false;
    this.rx.push(this.#buf.subarray(0, n));
    if (this.rx.pong) {
      const p = this.rx.pong;
      this.rx.pong = null;
      await writeAll(this.conn, p);
    }
    return true;
  }

  /** Resolves true once `n` messages have arrived, false if the session ends first. */
  until(n: number): Promise<boolean> {
    if (this.rx.msgs >= n) return Promise.resolve(true);
    if (this.#ended || this.rx.closed) return Promise.resolve(false);
    this.#reading ??= this.#loop();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  async #loop(): Promise<void> {
    try {
      while (!this.rx.closed && await this.readOnce()) {
        this.#waiters = this.#waiters.filter((w) => {
          if (this.rx.msgs < w.n) return true;
          w.resolve(true);
          return false;
        });
      }
    } catch {
      // reset or closed by us
    }
    this.#ended = true;
    for (const w of this.#waiters) w.resolve(false);
    this.#waiters = [];
  }

  /** Sends a close frame and closes the socket. */
  close(): void {
    this.conn.write(CLOSE).catch(() => {}).finally(() => {
      try {
        this.conn.close();
      } catch {
        // already closed
      }
    });
  }
}

function cpuFields(cpu: number, wall: number): string {
  return `"client_cpu_s":${cpu.toFixed(4)},"wall_s":${wall.toFixed(4)},` +
    `"client_cpu_pct":${(wall > 0 ? 100 * cpu / wall : 0).toFixed(1)}`;
}

async function modeOutput(o: Opts): Promise<string> {
  const t0 = now(), c0 = cpuSeconds();
  const s = await Session.open(o);
  let last = now(), first = 0, seen = s.rx.msgs;
  while (!s.rx.closed && await s.readOnce()) {
    if (s.rx.msgs !== seen) {
      last = now();
      if (seen === 0) first = last;
      seen = s.rx.msgs;
    }
  }
  const wall = last - t0, cpu = cpuSeconds() - c0;
  s.close();
  if (o.expect >= 0 && s.rx.msgs !== o.expect) {
    return `{"error":"expected ${o.expect} messages, got ${s.rx.msgs}"}`;
  }
  return `{"mode":"output","messages":${s.rx.msgs},"bytes":${s.rx.bytes},` +
    `"first_ms":${((first - t0) * 1e3).toFixed(2)},"rate":${(s.rx.msgs / wall).toFixed(1)},` +
    `"mb_per_s":${(s.rx.bytes / wall / 1e6).toFixed(2)},${cpuFields(cpu, wall)}}`;
}

/** Opens `n` sessions, `conc` at a time, each echoed once; they stay open until exit. */
async function openIdle(o: Opts, n: number, conc: number): Promise<Session[]> {
  const pl = payloadOf(o.size);
  const held: Session[] = [];
  const deadline = now() + o.timeout + o.timeoutPerSession * n;
  let opened = 0;
  const one = async () => {
    while (opened < n && now() < deadline) {
      opened++;
      try {
        const s = await Session.open(o);
        await writeAll(s.conn, frame(1, pl));
        if (await s.until(s.rx.msgs + 1)) held.push(s);
        else s.close();
      } catch {
        // counted by the caller: fewer sessions held than asked for
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, one));
  return held;
}

async function modeEcho(o: Opts): Promise<string> {
  const idleStart = now();
  const idle = o.idle > 0 ? await openIdle(o, o.idle, o.idleConc) : [];
  const idleOpenS = now() - idleStart;
  if (idle.length < o.idle) return `{"error":"echo: could not open every idle session"}`;
  const s = await Session.open(o);
  const pl = payloadOf(o.size);
  const lat = new Float64Array(o.count);
  let t0 = now(), c0 = cpuSeconds();
  for (let i = 0; i < o.warmup + o.count; i++) {
    if (i === o.warmup) {
      t0 = now();
      c0 = cpuSeconds();
    }
    const want = s.rx.msgs + 1;
    const f = frame(1, pl);
    const st = performance.now();
    await writeAll(s.conn, f);
    while (s.rx.msgs < want) {
      if (!await s.readOnce() || s.rx.closed) return `{"error":"echo: session ended"}`;
    }
    if (i >= o.warmup) lat[i - o.warmup] = (performance.now() - st) * 1000;
  }
  const wall = now() - t0, cpu = cpuSeconds() - c0;
  s.close();
  lat.sort();
  const pct = (p: number) => lat[Math.min(o.count - 1, Math.round(p * (o.count - 1)))]!;
  const mean = lat.reduce((a, b) => a + b, 0) / o.count;
  return `{"mode":"echo","count":${o.count},"p50_us":${pct(0.5).toFixed(1)},` +
    `"p99_us":${pct(0.99).toFixed(1)},"p999_us":${pct(0.999).toFixed(1)},` +
    `"min_us":${lat[0]!.toFixed(1)},"max_us":${lat[o.count - 1]!.toFixed(1)},` +
    `"mean_us":${mean.toFixed(1)},"idle":${idle.length},"idle_open_s":${idleOpenS.toFixed(3)},` +
    `${cpuFields(cpu, wall)}}`;
}

async function modePipeline(o: Opts): Promise<string> {
  const s = await Session.open(o);
  const pl = payloadOf(o.size);
  const out = new Uint8Array((o.size + 14) * o.window);
  // one round trip first, so the program is running before the clock starts;
  // read directly (not through until()): a second reader would steal bytes
  await writeAll(s.conn, frame(1, pl));
  while (s.rx.msgs < 1) {
    if (!await s.readOnce() || s.rx.closed) return `{"error":"pipeline: warmup"}`;
  }
  const base = s.rx.msgs;
  const t0 = now(), c0 = cpuSeconds();
  let sent = 0, got = 0;
  while (got < o.count) {
    const room = Math.min(o.window - (sent - got), o.count - sent);
    let at = 0;
    for (let i = 0; i < room; i++) at = putFrame(out, at, 1, pl);
    if (at > 0) await writeAll(s.conn, out.subarray(0, at));
    sent += room;
    if (!await s.readOnce() || s.rx.closed) return `{"error":"pipeline: session ended"}`;
    got = s.rx.msgs - base;
  }
  const wall = now() - t0, cpu = cpuSeconds() - c0;
  s.close();
  return `{"mode":"pipeline","count":${o.count},"window":${o.window},` +
    `"rate":${(o.count / wall).toFixed(1)},${cpuFields(cpu, wall)}}`;
}

function findChild(serverPid: number, comm: string): number {
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const ppid = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === serverPid && name === comm) return pid;
    } catch {
      // exited while we looked
    }
  }
  return -1;
}

function rchar(pid: number): number {
  const m = /^rchar: (\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/io`));
  return m ? Number(m[1]) : -1;
}

async function modeInput(o: Opts): Promise<string> {
  const s = await Session.open(o);
  let child = -1;
  for (let i = 0; i < 1000 && child < 0; i++) {
    child = findChild(o.serverPid, o.child);
    if (child < 0) await sleep(5);
  }
  if (child < 0) return `{"error":"input: program not found under the server"}`;
  let base = rchar(child), prev = -2;
  for (let i = 0; i < 200 && base !== prev; i++) {
    prev = base;
    await sleep(20);
    base = rchar(child);
  }
  const pl = payloadOf(o.size);
  const all = new Uint8Array((o.size + 14) * o.count);
  let total = 0;
  for (let i = 0; i < o.count; i++) total = putFrame(all, total, 1, pl);
  const want = base + o.count * (o.size + 1);
  const t0 = now(), c0 = cpuSeconds();
  for (let at = 0; at < total; at += 262144) {
    await writeAll(s.conn, all.subarray(at, Math.min(total, at + 262144)));
  }
  const sent = now();
  let rc = rchar(child);
  while (rc < want && now() - t0 < o.timeout) {
    await sleep(1);
    rc = rchar(child);
  }
  const wall = now() - t0, cpu = cpuSeconds() - c0;
  s.close();
  if (rc < want) return `{"error":"program read ${rc - base} of ${want - base} bytes"}`;
  return `{"mode":"input","count":${o.count},"size":${o.size},` +
    `"rate":${(o.count / wall).toFixed(1)},` +
    `"mb_per_s":${(o.count * (o.size + 1) / wall / 1e6).toFixed(2)},` +
    `"send_s":${(sent - t0).toFixed(4)},${cpuFields(cpu, wall)}}`;
}

async function modeConnect(o: Opts): Promise<string> {
  const start = now();
  const tMeas = start + o.warmupSeconds, tEnd = tMeas + o.seconds;
  let c0 = NaN, done = 0, failures = 0, latSum = 0;
  // set by the timer when the measured window opens
  const atStart: { server: ReturnType<typeof serverCpu> } = { server: null };
  const lats: number[] = [];
  const worker = async () => {
    while (now() < tEnd) {
      const st = now();
      try {
        const s = await Session.open(o);
        const ok = await s.until(1);
        if (now() >= tMeas) {
          if (ok) {
            done++;
            latSum += now() - st;
            lats.push((now() - st) * 1e3);
          } else failures++;
        }
        // the close handshake finishes in the background, as in wsload.c
        s.close();
      } catch {
        if (now() >= tMeas) failures++;
      }
    }
  };
  setTimeout(() => {
    c0 = cpuSeconds();
    if (o.serverPid > 0) atStart.server = serverCpu(o.serverPid);
  }, o.warmupSeconds * 1000);
  await Promise.all(Array.from({ length: Math.max(1, o.conc) }, worker));
  const wall = now() - tMeas, cpu = cpuSeconds() - c0;
  const s0 = atStart.server, s1 = o.serverPid > 0 ? serverCpu(o.serverPid) : null;
  lats.sort((a, b) => a - b);
  const first = done
    ? `"first_p50_ms":${quantile(lats, 0.5).toFixed(3)},` +
      `"first_p90_ms":${quantile(lats, 0.9).toFixed(3)},` +
      `"first_p99_ms":${quantile(lats, 0.99).toFixed(3)},` +
      `"first_max_ms":${lats[lats.length - 1]!.toFixed(3)},`
    : "";
  const server = s0 && s1 && done
    ? `"server_cpu_s":${(s1.self - s0.self).toFixed(2)},` +
      `"programs_cpu_s":${(s1.children - s0.children).toFixed(2)},` +
      `"server_ms_per_conn":${((s1.self - s0.self) * 1e3 / done).toFixed(3)},` +
      `"programs_ms_per_conn":${((s1.children - s0.children) * 1e3 / done).toFixed(3)},`
    : "";
  return `{"mode":"connect","conc":${o.conc},"connects":${done},"failures":${failures},` +
    `"rate":${(done / wall).toFixed(1)},"mean_ms":${
      (done ? latSum / done * 1e3 : 0).toFixed(3)
    },"upgrades_total":${upgradesTotal},${first}${server}${cpuFields(cpu, wall)}}`;
}

/**
 * A live session echoes one message every --interval-us while --burst
 * handshakes arrive at once (see wsload.c). Latency counts from the send, or
 * from when the message was due if the previous reply was late.
 */
async function modeBurst(o: Opts): Promise<string> {
  const live = await Session.open(o);
  const pl = payloadOf(o.size);
  for (let i = 0; i < o.warmup; i++) {
    await writeAll(live.conn, frame(1, pl));
    if (!await live.until(live.rx.msgs + 1)) return `{"error":"burst: live session ended"}`;
  }
  const lat: number[] = [];
  const burstMs: number[] = [];
  let failures = 0;
  const interval = o.intervalUs / 1e6;
  const t0 = now(), c0 = cpuSeconds();
  for (let b = 0; b < o.bursts; b++) {
    if (b > 0) await sleep(1000);
    const bs = now();
    let inWindow = true;
    const opened: Session[] = [];
    const handshakes = Promise.all(Array.from({ length: o.burst }, async () => {
      try {
        opened.push(await Session.open(o));
      } catch {
        failures++;
      }
    })).then(() => {
      inWindow = false;
      burstMs.push((now() - bs) * 1e3);
    });
    let due = bs;
    while (inWindow) {
      const wait = (due - now()) * 1000;
      if (wait > 0) await sleep(wait);
      if (!inWindow) break;
      const sent = now();
      const late = sent - due > interval;
      await writeAll(live.conn, frame(1, pl));
      if (!await live.until(live.rx.msgs + 1)) return `{"error":"burst: live session ended"}`;
      const back = now();
      lat.push((back - (late ? due : sent)) * 1e3);
      due += interval;
    }
    await handshakes;
    for (const s of opened) s.close();
  }
  const wall = now() - t0, cpu = cpuSeconds() - c0;
  live.close();
  if (lat.length === 0) return `{"error":"burst: no samples"}`;
  lat.sort((a, b) => a - b);
  burstMs.sort((a, b) => a - b);
  if (failures > 0) return `{"error":"burst: ${failures} handshakes failed"}`;
  return `{"mode":"burst","burst":${o.burst},"bursts":${o.bursts},"failures":${failures},` +
    `"samples":${lat.length},"p50_ms":${quantile(lat, 0.5).toFixed(3)},` +
    `"p99_ms":${quantile(lat, 0.99).toFixed(3)},"max_ms":${lat[lat.length - 1]!.toFixed(3)},` +
    `"burst_ms":${quantile(burstMs, 0.5).toFixed(1)},` +
    `"burst_max_ms":${burstMs[burstMs.length - 1]!.toFixed(1)},${cpuFields(cpu, wall)}}`;
}

async function modeHold(o: Opts): Promise<string> {
  const pl = payloadOf(o.size);
  const sessions: Session[] = [];
  let failures = 0, best = 0, held = 0, opened = 0;
  const t0 = now(), c0 = cpuSeconds();
  const echo = async (s: Session) => {
    const want = s.rx.msgs + 1;
    await writeAll(s.conn, frame(1, pl));
    return await s.until(want);
  };
  for (const level of o.levels) {
    const ls = now();
    const deadline = ls + o.timeout + o.timeoutPerSession * (level - opened);
    const openOne = async () => {
      while (opened < level && now() < deadline) {
        opened++;
        try {
          const s = await Session.open(o);
          if (await echo(s)) sessions.push(s);
          else {
            failures++;
            s.close();
          }
        } catch {
          failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: o.conc }, openOne));
    const openS = now() - ls;
    const vs = now();
    const timer = new Promise<false>((r) => setTimeout(() => r(false), o.timeout * 1000));
    const alive = await Promise.all(sessions.map((s) => Promise.race([echo(s), timer])));
    held = alive.filter((x) => x).length;
    console.log(
      `STEP {"level":${level},"held":${held},"open_s":${openS.toFixed(3)},` +
        `"echo_all_ms":${((now() - vs) * 1e3).toFixed(1)}}`,
    );
    if (held < level) break;
    best = level;
  }
  const wall = now() - t0, cpu = cpuSeconds() - c0;
  if (o.wait) {
    console.log("READY");
    // hold every session until the driver has taken its measurements
    await Deno.stdin.read(new Uint8Array(64));
  }
  for (const s of sessions) s.close();
  return `{"mode":"hold","best":${best},"held":${held},"failures":${failures},${
    cpuFields(cpu, wall)
  }}`;
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  let line: string;
  try {
    const o = parseOpts(rest);
    const modes: Record<string, (o: Opts) => Promise<string>> = {
      connect: modeConnect,
      output: modeOutput,
      echo: modeEcho,
      pipeline: modePipeline,
      input: modeInput,
      hold: modeHold,
      burst: modeBurst,
    };
    const fn = modes[mode ?? ""];
    if (!fn) throw new Error(`unknown mode ${mode}`);
    line = await fn(o);
  } catch (e) {
    line = JSON.stringify({ error: e instanceof Error ? e.message : String(e) });
  }
  console.log(line);
  // sockets closing in the background must not keep the client alive
  Deno.exit(0);
}
