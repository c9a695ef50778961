/**
 * The rolling-restart scenario the balancer guides promise, run the same way
 * behind HAProxy (active health checks) and nginx (passive checks only):
 *
 * 1. two instances, A and B, each running examples/ticker.c per session
 *    (one numbered line every {@link PERIOD_MS} ms, tagged with the instance);
 * 2. {@link SESSIONS} live sessions through the balancer, spread over both;
 * 3. a new connection every {@link PROBE_EVERY_MS} for the whole scenario,
 *    each of which must get its 101 and first line;
 * 4. SIGTERM to A (`--drain-ms`): its sessions run on until the drain ends,
 *    then close with 1001 and reconnect through the balancer, onto B;
 * 5. A restarted on the same port, until new connections reach it again.
 *
 * Meanwhile every message's arrival is timed, so the longest silence of each
 * stream (and any lost line, by its number) is known.
 *
 * The client is Deno's own WebSocket: its frames are parsed in Rust, so
 * thousands of messages a second cost this process little, and its own
 * event loop's lag is recorded next to the gaps, so a gap it reports is a
 * gap on the wire, not this process falling behind.
 *
 * @module
 */

import type { TestServer } from "../../testing/server.ts";
import { sleep } from "../../testing/server.ts";
import { startBackend, type Teardown } from "./helpers.ts";

/**
 * The program's line period, 40 ms (`WSD_TICK_MS` overrides it to
 * experiment). A stall of S ms shows as a gap between S and S + period, so
 * the 100 ms bound catches every stall of 100 ms and some from 60 ms; the
 * steady gap is the period plus scheduling jitter (about 55 ms on the 2-core
 * CI machine). At 20 ms the traffic alone is the problem: 200 sessions are
 * 10,000 single-line messages a second on B once A's sessions have moved,
 * and with a new connection every 20 ms on top, one instance on a 2-core
 * machine already shows 120-420 ms gaps with no restart at all (25 ms: up to
 * 390 ms; 33 and 40 ms: at most 60 ms), so every figure would measure the
 * overload, not the restart.
 */
export const PERIOD_MS = Number(Deno.env.get("WSD_TICK_MS") ?? 40);
/**
 * A session whose connection the server closed reconnects after a random
 * delay of RECONNECT_MIN_MS plus up to RECONNECT_SPREAD_MS, as reconnecting
 * clients do: reconnecting-websocket's defaults are 1 s + up to 4 s. Both 0
 * reconnect at once (`WSD_RECONNECT=MIN,SPREAD` overrides them).
 */
export const [RECONNECT_MIN_MS, RECONNECT_SPREAD_MS] =
  (Deno.env.get("WSD_RECONNECT") ?? "1000,4000")
    .split(",").map(Number) as [number, number];
/** Live sessions held through the restart. */
export const SESSIONS = 200;
/** A new connection this often, for the whole scenario. */
export const PROBE_EVERY_MS = 20;
/** --drain-ms of both instances. */
export const DRAIN_MS = 3000;
/** The limit on any silence in a stream on the instance that keeps running. */
export const MAX_GAP_MS = 100;

/** The phases the scenario moves through; gaps are kept per phase. */
type Phase = "setup" | "steady" | "restart" | "done";

/** One WebSocket connection of a live session (a session reconnects after 1001). */
export interface Leg {
  /** Which instance's program answered (the tag on its lines), once known. */
  instance: string | null;
  /** When the connection was started (performance.now()). */
  opened: number;
  /** When its first message came. */
  first: number | null;
  /** When its last message came. */
  last: number | null;
  /** The number on the last line. */
  lastN: number;
  /** Lines whose numbers were skipped (lost in transit). */
  lost: number;
  /** Lines tagged with another instance than the first (never expected). */
  foreign: number;
  /** Longest silence between two messages, per phase of the second one. */
  maxGap: Record<Phase, number>;
  /** The close code, once closed. */
  code: number | null;
  /** When it closed. */
  closed: number | null;
  /** The error event's message, if any (a refused handshake). */
  error: string | null;
}

/** What one probe (a short-lived new connection) saw. */
export interface Probe {
  /** When it started. */
  at: number;
  /** The instance whose program sent its first line; null if it failed. */
  instance: string | null;
  /** Why it failed (close code, error, timeout). */
  failure: string | null;
  /** Handshake plus first line, in ms. */
  ms: number;
}

/** Everything the scenario measured. */
export interface RollingResult {
  /** Sessions per instance after the initial spread. */
  spread: Record<string, number>;
  /** Live sessions, each as its sequence of legs. */
  sessions: Leg[][];
  /** Every probe. */
  probes: Probe[];
  /** SIGTERM to A, on the performance.now() clock. */
  sigterm: number;
  /** When A exited, and its exit code. */
  aExited: number;
  aCode: number;
  /** When A (restarted) logged that it listens again. */
  aRestarted: number;
  /** Handshakes the draining A refused with 503 (last value its /metrics showed). */
  refusedByA: number;
  /** Events seen in the balancer's log, with when they were first seen. */
  events: { at: number; line: string }[];
  /** The restarted instance. */
  newA: TestServer;
  /** Per 100 ms from SIGTERM: longest gap on B, our own event loop's lag. */
  timeline: Bucket[];
  /** Over-limit gaps on B during the restart, and the 10 ms samples to explain them. */
  stalls: { from: number; to: number }[];
  samples: Sample[];
  /** Every 100 ms: run-queue waits of the other processes on B's path (see {@link PathSample}). */
  pathSamples: PathSample[];
  /** The machine's 1-minute load average at SIGTERM and at the end, and its CPUs. */
  load: { before: string; after: string; cpus: number };
}

/** What the scenario needs from one balancer. */
export interface Balancer {
  /** Where clients connect, e.g. ws://127.0.0.1:PORT/ws/. */
  url: string;
  /** Balancer log lines worth timing (e.g. HAProxy's "is DOWN"/"is UP"); optional. */
  watch?: { output: () => string; pattern: RegExp };
  /** Its (master) process: it and its children carry every message to the clients. */
  pid?: number;
}

/** The two instances, started by {@link startInstances}. */
export interface Instances {
  a: TestServer;
  b: TestServer;
  /** How to start A again on its port. */
  restartA: () => Promise<TestServer>;
}

/**
 * Starts A and B, each `--health=/healthz --drain-ms=DRAIN_MS` running
 * `ticker TAG PERIOD_MS`, registered with `teardown`.
 */
export async function startInstances(teardown: Teardown, ticker: string): Promise<Instances> {
  const flags = ["--health=/healthz", `--drain-ms=${DRAIN_MS}`, "--metrics=/metrics"];
  const opts = (tag: string, port?: number) => ({
    scoped: true,
    flags,
    args: [tag, String(PERIOD_MS)],
    port,
  });
  const [a, b] = await Promise.all([
    startBackend(ticker, opts("A")).then((s) => teardown.add(s, (x) => x.stop())),
    startBackend(ticker, opts("B")).then((s) => teardown.add(s, (x) => x.stop())),
  ]);
  return {
    a,
    b,
    restartA: async () => {
      const s = await startBackend(ticker, opts("A", a.port));
      return teardown.add(s, (x) => x.stop());
    },
  };
}

const newLeg = (): Leg => ({
  instance: null,
  opened: performance.now(),
  first: null,
  last: null,
  lastN: 0,
  lost: 0,
  foreign: 0,
  maxGap: { setup: 0, steady: 0, restart: 0, done: 0 },
  code: null,
  closed: null,
  error: null,
});

/**
 * Live sessions and probes against one URL. Sessions reconnect as soon as
 * the server closes them, as a browser's reconnect logic would (at once: the
 * harshest case for the instance that takes them over).
 */
class Clients {
  phase: Phase = "setup";
  readonly sessions: Leg[][] = [];
  readonly probes: Probe[] = [];
  #url: string;
  #open = new Set<WebSocket>();
  #closed = new Map<WebSocket, Promise<void>>();
  #stopping = false;
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  /** Gaps of at least MAX_GAP_MS on B during the restart: [last message, next message]. */
  readonly stalls: { from: number; to: number }[] = [];
  /** Every 10 ms: our timer's lateness, and B's main thread's total run-queue wait (ms). */
  readonly samples: Sample[] = [];
  /** Every 100 ms: the run-queue waits of B's programs and of the balancer's processes. */
  readonly pathSamples: PathSample[] = [];
  /** Start of the timeline (SIGTERM), on the performance.now() clock; 0 until then. */
  t0 = 0;
  /**
   * Per 100 ms after t0: the longest gap ending in it on any connection to B,
   * and how late this process's own 10 ms timer fired (our event loop's
   * stall, which would show as a gap on every connection at once).
   */
  readonly timeline: Bucket[] = [];
  #cpu: { idle: number; total: number } | null = null;
  #cpuAt = -1;
  #lagTimer: ReturnType<typeof setInterval> | undefined;
  #lagExpected = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(url: string) {
    this.#url = url;
  }

  /** Opens one connection for session `i`; resolves once its first line came (or it failed). */
  connect(i: number): Promise<void> {
    const legs = (this.sessions[i] ??= []);
    const leg = newLeg();
    legs.push(leg);
    const ws = new WebSocket(this.#url);
    this.#open.add(ws);
    const { promise: first, resolve: gotFirst } = Promise.withResolvers<void>();
    const { promise: closed, resolve: done } = Promise.withResolvers<void>();
    this.#closed.set(ws, closed);
    ws.onmessage = (e) => {
      const t = performance.now();
      const text = String(e.data);
      const space = text.indexOf(" ");
      const tag = text.slice(0, space);
      const n = Number(text.slice(space + 1));
      if (leg.instance === null) {
        leg.instance = tag;
        leg.first = t;
        gotFirst();
      } else if (tag !== leg.instance) leg.foreign++;
      if (leg.last !== null) {
        leg.maxGap[this.phase] = Math.max(leg.maxGap[this.phase], t - leg.last);
        if (this.t0 && tag === "B") {
          this.#bucket(t).gapB = Math.max(this.#bucket(t).gapB, t - leg.last);
          // only the silence after SIGTERM can be the restart's doing; a gap that began
          // before it counts from SIGTERM
          const from = Math.max(leg.last, this.t0);
          if (this.phase === "restart" && t - from >= MAX_GAP_MS) this.stalls.push({ from, to: t });
        }
        if (n > leg.lastN + 1) leg.lost += n - leg.lastN - 1;
      }
      leg.last = t;
      leg.lastN = n;
    };
    ws.onerror = (e) => {
      leg.error ??= (e as ErrorEvent).message;
    };
    ws.onclose = (e) => {
      leg.code = e.code;
      leg.closed = performance.now();
      this.#open.delete(ws);
      this.#closed.delete(ws);
      gotFirst();
      done();
      // a browser would back off after a failed attempt; here that session is
      // left dead, and the scenario's wait for A's sessions to come back says so
      if (this.#stopping || leg.first === null) return;
      if (!RECONNECT_MIN_MS && !RECONNECT_SPREAD_MS) return void this.connect(i);
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#stopping) this.connect(i);
      }, RECONNECT_MIN_MS + Math.random() * RECONNECT_SPREAD_MS);
      this.#timers.add(timer);
    };
    return first;
  }

  #bucket(t: number): Bucket {
    const i = Math.max(0, Math.floor((t - this.t0) / 100));
    while (this.timeline.length <= i) this.timeline.push({ gapB: 0, lag: 0, idle: null });
    return this.timeline[i]!;
  }

  /**
   * Starts watching, from the steady phase on: every 10 ms, how late this
   * process's timer fired and how long B's event loop (its main thread,
   * `bPid`) has waited in the kernel's run queue so far; every 100 ms, the
   * waits of the other processes on B's path. Samples from before SIGTERM
   * explain a gap that straddles it; the timeline starts at {@link t0},
   * which the scenario sets at SIGTERM.
   */
  startSampling(bPid: number, balancerPid?: number): void {
    this.#lagExpected = performance.now() + 10;
    let tick = 0;
    this.#lagTimer = setInterval(() => {
      const t = performance.now();
      const lag = t - this.#lagExpected;
      this.#lagExpected = t + 10;
      this.samples.push({ t, lag, bWait: runQueueWaitMs(bPid) });
      if (tick++ % 10 === 0) this.pathSamples.push({ t, waits: pathWaits(bPid, balancerPid) });
      if (!this.t0) return;
      const b = this.#bucket(t);
      b.lag = Math.max(b.lag, lag);
      const i = this.timeline.indexOf(b);
      if (i !== this.#cpuAt) {
        // a new slice: the machine's idle share over the slice(s) since the last sample
        const now = cpuTimes();
        if (now && this.#cpu && now.total > this.#cpu.total) {
          const idle = Math.round(
            (100 * (now.idle - this.#cpu.idle)) / (now.total - this.#cpu.total),
          );
          for (let j = Math.max(0, this.#cpuAt); j < i; j++) this.timeline[j]!.idle = idle;
        }
        this.#cpu = now;
        this.#cpuAt = i;
      }
    }, 10);
  }

  /** Stops the event-loop watch. */
  stopTimeline(): void {
    clearInterval(this.#lagTimer);
  }

  /** Starts a probe every PROBE_EVERY_MS. */
  startProbes(): void {
    this.#probeTimer = setInterval(() => this.#probe(), PROBE_EVERY_MS);
  }

  /** Stops starting probes (those in flight finish). */
  stopProbes(): void {
    clearInterval(this.#probeTimer);
  }

  #probe(): void {
    const probe: Probe = { at: performance.now(), instance: null, failure: null, ms: 0 };
    this.probes.push(probe);
    const ws = new WebSocket(this.#url);
    this.#open.add(ws);
    const { promise: closed, resolve: done } = Promise.withResolvers<void>();
    this.#closed.set(ws, closed);
    const timer = setTimeout(() => {
      probe.failure ??= "no first message within 5 s";
      ws.close();
    }, 5000);
    ws.onmessage = (e) => {
      if (probe.instance !== null) return;
      probe.instance = String(e.data).split(" ")[0]!;
      probe.ms = performance.now() - probe.at;
      clearTimeout(timer);
      ws.close(1000);
    };
    ws.onerror = (e) => {
      if (probe.instance === null) probe.failure ??= `error: ${(e as ErrorEvent).message}`;
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (probe.instance === null) probe.failure ??= `closed ${e.code} before a message`;
      this.#open.delete(ws);
      this.#closed.delete(ws);
      done();
    };
  }

  /** Closes everything and waits for every close event (the test's sanitizers want them). */
  async close(): Promise<void> {
    this.#stopping = true;
    this.stopProbes();
    clearInterval(this.#lagTimer);
    for (const t of this.#timers) clearTimeout(t);
    for (const ws of this.#open) {
      try {
        ws.close(1000);
      } catch {
        // still connecting: close() throws nothing in Deno, but be safe
      }
    }
    await Promise.all([...this.#closed.values()]);
  }
}

/** One 100 ms slice of the restart. */
export interface Bucket {
  /** The longest gap on any connection to B that ended in this slice. */
  gapB: number;
  /** How late this process's 10 ms timer fired (our own event loop's stall). */
  lag: number;
  /** The machine's idle CPU share (%) over this slice (Linux, /proc/stat), null if unknown. */
  idle: number | null;
}

/** One 10 ms sample of the restart. */
export interface Sample {
  /** When (performance.now()). */
  t: number;
  /** How late this process's 10 ms timer fired. */
  lag: number;
  /** B's main thread's run-queue wait since it started (ms), null if unknown. */
  bWait: number | null;
}

/**
 * How long a process's main thread (its event loop) has waited, runnable,
 * for a CPU since it started: the second field of
 * /proc/PID/task/PID/schedstat, in ms. Null off Linux.
 */
function runQueueWaitMs(pid: number): number | null {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/schedstat`).split(" ");
    return Number(f[1]) / 1e6;
  } catch {
    return null;
  }
}

/** One 100 ms sample of the waits of the processes between B and the clients. */
export interface PathSample {
  /** When (performance.now()). */
  t: number;
  /** Run-queue wait so far (ms) per process: B's programs, the balancer and its workers. */
  waits: Map<number, number>;
}

/** The direct children of a process (Linux), empty when unknown. */
function childrenOf(pid: number): number[] {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    return text ? text.split(" ").map(Number) : [];
  } catch {
    return [];
  }
}

/** Run-queue waits of B's programs and of the balancer's processes. */
function pathWaits(bPid: number, balancerPid?: number): Map<number, number> {
  const pids = [...childrenOf(bPid)];
  if (balancerPid !== undefined) pids.push(balancerPid, ...childrenOf(balancerPid));
  const waits = new Map<number, number>();
  for (const pid of pids) {
    const w = runQueueWaitMs(pid);
    if (w !== null) waits.set(pid, w);
  }
  return waits;
}

/** A gap on B, and how much of it the machine, not B's own work, explains. */
export interface Stall {
  /** When it began, relative to SIGTERM. */
  at: number;
  /** Its length. */
  gap: number;
  /** How long B's event loop was runnable but had no CPU within it. */
  bWait: number;
  /** The longest stall of this process's own event loop within it. */
  lag: number;
  /** gap − bWait − lag: the part left for B's own handling. */
  net: number;
  /**
   * The largest share of time any other process on the path (one of B's
   * programs, the balancer or one of its workers) spent waiting for a CPU,
   * over the 100 ms samples around the gap.
   */
  pathShare: number;
  /**
   * Whether the machine explains it: B's event loop waited for a CPU, or our
   * own loop was stalled, for at least {@link STARVED_SHARE} of the gap; or a
   * process that carries B's messages (its program, the balancer) waited for a
   * CPU for that share of the time around the gap.
   */
  starved: boolean;
}

/**
 * A gap on B counts as the machine's, not the server's, when for at least
 * this share of it B's event loop was runnable but had no CPU, or our own
 * client's loop was stalled; or when a process that carries B's lines (one of
 * B's programs, the balancer or one of its workers) spent this share of the
 * time around the gap runnable without a CPU. Run-queue waits grow only while
 * runnable tasks outnumber the CPUs, so on a machine with CPU to spare they
 * are near 0 and every gap counts. A server that blocks its own loop (a slow
 * synchronous call, a burst of process starts) is running or asleep during the
 * gap, not waiting, so it still fails: stopping B for 300 ms (SIGSTOP)
 * mid-restart is caught: B then waits 2–5% of that gap and the path's busiest process 5–7%
 * of the time around it (checked on 2026-12-06 behind HAProxy and nginx).
 */
export const STARVED_SHARE = 0.2;

/**
 * Splits each over-limit gap on B into what the machine explains (B's event
 * loop waiting for a CPU, our own loop stalled) and the rest.
 */
export function explainStalls(r: RollingResult): Stall[] {
  const s = r.samples;
  // the last sample at or before t, and the first at or after it
  const before = (t: number) => s.findLast((x) => x.t <= t) ?? s[0];
  const after = (t: number) => s.find((x) => x.t >= t) ?? s.at(-1);
  return r.stalls.map(({ from, to }) => {
    const a = before(from);
    const b = after(to);
    const bWait = a?.bWait != null && b?.bWait != null ? b.bWait - a.bWait : 0;
    const lag = Math.max(0, ...s.filter((x) => x.t >= from && x.t <= to + 10).map((x) => x.lag));
    const gap = to - from;
    const pathShare = pathWaitShare(r.pathSamples, from, to);
    return {
      at: from - r.sigterm,
      gap,
      bWait,
      lag,
      net: gap - bWait - lag,
      pathShare,
      starved: bWait + lag >= STARVED_SHARE * gap || pathShare >= STARVED_SHARE,
    };
  });
}

/**
 * The largest share of [from, to] (widened to the 100 ms samples around it)
 * that one process on B's path spent waiting for a CPU. Any of them delays
 * a message when it waits: each line goes program → B → balancer → client.
 */
function pathWaitShare(samples: PathSample[], from: number, to: number): number {
  const a = samples.findLast((x) => x.t <= from);
  const b = samples.find((x) => x.t >= to);
  if (!a || !b || b.t <= a.t) return 0;
  let most = 0;
  for (const [pid, end] of b.waits) {
    const start = a.waits.get(pid);
    if (start !== undefined) most = Math.max(most, end - start);
  }
  return most / (b.t - a.t);
}

/** Idle and total CPU time from /proc/stat (all CPUs), or null off Linux. */
function cpuTimes(): { idle: number; total: number } | null {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1)
      .map(Number);
    return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/** Reads `websocketd_rejections_total{status="503"}` from an instance, or null if it is gone. */
async function refused503(server: TestServer): Promise<number | null> {
  try {
    const res = await fetch(server.http("/metrics"));
    const text = await res.text();
    const m = /websocketd_rejections_total\{status="503"\}\s+(\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return null;
  }
}

/** The 1-minute load average (Linux), to tell an overloaded machine from a slow server. */
async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ")[0]!;
  } catch {
    return "?";
  }
}

/** Waits until `check()` is true, polling; false if `ms` passed first. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/**
 * Runs the scenario against `balancer` in front of `instances`. The clients
 * are closed through `teardown` too, so a failing step leaves nothing open.
 * `aBackWithinMs` bounds the wait for a new connection to reach the
 * restarted A.
 */
export async function rollingRestart(
  teardown: Teardown,
  instances: Instances,
  balancer: Balancer,
  aBackWithinMs: number,
): Promise<RollingResult> {
  const clients = teardown.add(new Clients(balancer.url), (c) => c.close());
  const events: { at: number; line: string }[] = [];
  let seen = 0;
  const watcher = setInterval(() => {
    if (!balancer.watch) return;
    const out = balancer.watch.output();
    const end = out.lastIndexOf("\n") + 1;
    for (const line of out.slice(seen, end).split("\n")) {
      if (balancer.watch.pattern.test(line)) events.push({ at: performance.now(), line });
    }
    seen = end;
  }, 10);
  teardown.add(watcher, clearInterval);

  // 1. the live sessions, 20 at a time
  for (let i = 0; i < SESSIONS; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, SESSIONS - i) }, (_, j) => clients.connect(i + j)),
    );
  }
  const spread: Record<string, number> = {};
  for (const legs of clients.sessions) {
    const tag = legs[0]!.instance ?? `failed ${legs[0]!.code}`;
    spread[tag] = (spread[tag] ?? 0) + 1;
  }

  // 2. probes from now on; a second of steady state as the baseline
  clients.phase = "steady";
  clients.startSampling(instances.b.pid, balancer.pid);
  clients.startProbes();
  await sleep(1000);

  // 3. SIGTERM to A; watch its refusals until it is gone
  const loadBefore = await loadAverage();
  clients.phase = "restart";
  const sigterm = performance.now();
  clients.t0 = sigterm;
  instances.a.kill("SIGTERM");
  let refusedByA = 0;
  const aGone = instances.a.exited().then((s) => ({ at: performance.now(), code: s.code }));
  let aDone = false;
  aGone.then(() => aDone = true);
  while (!aDone) {
    const n = await refused503(instances.a);
    if (n !== null) refusedByA = n;
    await sleep(100);
  }
  const { at: aExited, code: aCode } = await aGone;

  // 4. every session that was on A is back, on B
  const onA = clients.sessions.filter((legs) => legs[0]!.instance === "A");
  // (a reconnection that fails is not retried: the figures count it)
  await until(
    () =>
      onA.every((legs) => {
        const last = legs.at(-1)!;
        return legs.length > 1 && (last.first !== null || last.code !== null);
      }),
    RECONNECT_MIN_MS + RECONNECT_SPREAD_MS + 10000,
  );

  // 5. A again, on the same port, until a new connection reaches it
  const newA = await instances.restartA();
  const aRestarted = performance.now();
  await until(
    () => clients.probes.some((p) => p.at > aRestarted && p.instance === "A"),
    aBackWithinMs,
  );
  await sleep(500);
  clients.phase = "done";
  clients.stopProbes();
  clients.stopTimeline();
  // the probes in flight settle (5 s timeout each at most)
  await until(() => clients.probes.every((p) => p.instance !== null || p.failure !== null), 6000);

  return {
    spread,
    sessions: clients.sessions,
    probes: clients.probes,
    sigterm,
    aExited,
    aCode,
    aRestarted,
    refusedByA,
    events,
    newA,
    timeline: clients.timeline,
    stalls: clients.stalls,
    samples: clients.samples,
    pathSamples: clients.pathSamples,
    load: { before: loadBefore, after: await loadAverage(), cpus: navigator.hardwareConcurrency },
  };
}

/** The figures both tests print and assert. */
export interface Figures {
  failedProbes: Probe[];
  probes: number;
  /** Longest silence on the sessions that were on B from the start, during the restart. */
  gapB: number;
  /** The same during the steady second before it (the baseline). */
  gapBSteady: number;
  /** Longest silence on A's sessions after they reconnected to B. */
  gapMoved: number;
  /**
   * Every gap of MAX_GAP_MS or more on any connection to B during the
   * restart, split into what the machine explains and the rest, worst first.
   */
  stalls: Stall[];
  /** The longest gap on B during the restart that the machine does not explain. */
  gapBOwn: number;
  /** Lost or foreign lines anywhere. */
  lost: number;
  foreign: number;
  /** A's sessions, how many ended with 1001, how many then landed on B. */
  onA: number;
  closed1001: number;
  movedToB: number;
  /** Session connections (first or reconnection) that never got a line. */
  failedLegs: Leg[];
  /** SIGTERM to the first and the last 1001, and to A's exit. */
  drainFirst: number;
  drainLast: number;
  aExit: number;
  /** Restart of A to the first new connection that reached it. */
  aBack: number;
  /** Probes per instance: before SIGTERM, during the restart (until A is back), after. */
  probeSpread: string;
}

/** Works out {@link Figures} from a run. */
export function figures(r: RollingResult): Figures {
  const onB = r.sessions.filter((legs) => legs[0]!.instance === "B");
  const onA = r.sessions.filter((legs) => legs[0]!.instance === "A");
  const legs = r.sessions.flat();
  const moved = onA.map((l) => l.slice(1)).flat();
  const firstOnA = onA.map((l) => l[0]!);
  const ends1001 = firstOnA.filter((l) => l.code === 1001);
  const aBackProbe = r.probes.find((p) => p.at > r.aRestarted && p.instance === "A");
  const count = (ps: Probe[]) => {
    const by: Record<string, number> = {};
    for (const p of ps) by[p.instance ?? "failed"] = (by[p.instance ?? "failed"] ?? 0) + 1;
    return Object.entries(by).sort().map(([k, v]) => `${k}:${v}`).join(" ");
  };
  const back = aBackProbe?.at ?? Infinity;
  const stalls = explainStalls(r).sort((a, b) => b.gap - a.gap);
  return {
    failedProbes: r.probes.filter((p) => p.failure !== null),
    probes: r.probes.length,
    gapB: Math.max(0, ...onB.map((l) => l[0]!.maxGap.restart)),
    gapBSteady: Math.max(0, ...onB.map((l) => l[0]!.maxGap.steady)),
    gapMoved: Math.max(0, ...moved.map((l) => l.maxGap.restart)),
    stalls,
    gapBOwn: Math.max(
      0,
      ...stalls.filter((x) => !x.starved).map((x) => x.gap),
      ...onB.map((l) => Math.min(l[0]!.maxGap.restart, MAX_GAP_MS - 1)),
    ),
    lost: legs.reduce((s, l) => s + l.lost, 0),
    foreign: legs.reduce((s, l) => s + l.foreign, 0),
    onA: onA.length,
    closed1001: ends1001.length,
    movedToB: onA.filter((l) => l[1]?.instance === "B").length,
    failedLegs: legs.filter((l) => l.first === null),
    drainFirst: Math.min(...ends1001.map((l) => l.closed!)) - r.sigterm,
    drainLast: Math.max(...ends1001.map((l) => l.closed!)) - r.sigterm,
    aExit: r.aExited - r.sigterm,
    aBack: back - r.aRestarted,
    probeSpread: [
      count(r.probes.filter((p) => p.at < r.sigterm)),
      count(r.probes.filter((p) => p.at >= r.sigterm && p.at < back)),
      count(r.probes.filter((p) => p.at >= back)),
    ].join(" | "),
  };
}

/** One block of text with the figures, for the test output. */
export function describe(name: string, r: RollingResult, f: Figures): string {
  const ms = (x: number) => `${Math.round(x)} ms`;
  const events = r.events.map((e) => `  +${ms(e.at - r.sigterm)} ${e.line.trim()}`);
  return [
    `${name}: sessions per instance ${JSON.stringify(r.spread)}; line period ${PERIOD_MS} ms, ` +
    `reconnect delay ${RECONNECT_MIN_MS}-${
      RECONNECT_MIN_MS + RECONNECT_SPREAD_MS
    } ms; load average ${r.load.before} at SIGTERM, ` +
    `${r.load.after} at the end (${r.load.cpus} CPUs)`,
    `  failed new connections: ${f.failedProbes.length} of ${f.probes}` +
    (f.failedProbes.length
      ? ` (${f.failedProbes.slice(0, 5).map((p) => `+${ms(p.at - r.sigterm)} ${p.failure}`)})`
      : ""),
    `  new connections by instance, before SIGTERM | until A is back | after: ${f.probeSpread}`,
    `  longest gap on B's sessions: ${ms(f.gapB)} during the restart (${
      ms(f.gapBSteady)
    } in the steady second before); on the sessions moved to B: ${ms(f.gapMoved)}`,
    `  gaps of ${MAX_GAP_MS} ms or more on B: ${f.stalls.length}; the machine explains ` +
    `${f.stalls.filter((x) => x.starved).length} (B's loop waiting for a CPU, or ours stalled, ` +
    `for ${STARVED_SHARE * 100}% of the gap or more, or a program or balancer process on B's ` +
    `path waiting for a CPU that share of the time)` +
    (f.stalls.length
      ? `; longest: ${
        [...f.stalls.slice(0, 2), ...f.stalls.filter((x) => !x.starved).slice(0, 2)].map((x) =>
          `+${ms(x.at)}: ${ms(x.gap)} (B waiting for a CPU ${ms(x.bWait)}, our loop ${
            ms(x.lag)
          }, the path's busiest waiter ${Math.round(x.pathShare * 100)}% of the time)`
        ).join("; ")
      }`
      : ""),
    `  lines lost: ${f.lost}, lines from the wrong instance: ${f.foreign}`,
    `  drain: SIGTERM -> first 1001 ${ms(f.drainFirst)}, last 1001 ${ms(f.drainLast)}, A exited ${
      ms(f.aExit)
    } (code ${r.aCode})`,
    `  A's sessions: ${f.onA}, closed with 1001: ${f.closed1001}, reconnected to B: ${f.movedToB}`,
    `  handshakes the draining A refused with 503: ${r.refusedByA}`,
    `  session connections that failed: ${f.failedLegs.length}` +
    (f.failedLegs.length
      ? ` (${
        f.failedLegs.slice(0, 5).map((l) =>
          `+${ms(l.opened - r.sigterm)} ${l.code} ${l.error ?? ""}`
        )
      })`
      : ""),
    `  A restarted ${ms(r.aRestarted - r.sigterm)} after SIGTERM; first new connection on it ${
      ms(f.aBack)
    } later`,
    ...(events.length ? ["  balancer log:", ...events] : []),
    `  timeline from SIGTERM, per 100 ms where B's longest gap or our own loop's lag passed ${
      Math.round(PERIOD_MS * 1.5)
    } ms, with the machine's idle CPU in that slice:`,
    `    ${
      r.timeline.map((b, i) => ({ ...b, i })).filter((b) => b.gapB > PERIOD_MS * 1.5 || b.lag > 50)
        .map((b) =>
          `+${b.i * 100}: gap ${Math.round(b.gapB)} lag ${Math.round(b.lag)} idle ${b.idle ?? "?"}%`
        )
        .join(", ") || "none"
    }`,
  ].join("\n");
}
