/**
 * The benchmark's scenarios: what program each server runs, which client
 * mode drives it, which figures come out, in which of our two modes
 * (`group`: unscoped `--allow-run`, programs in their own process group;
 * `pid`: a scoped `--allow-run=PROGRAM`, signals to the pid only) and the
 * target for each figure per mode (as a ratio to websocketd in the same run,
 * or an absolute bound). One table, so the report, the JSON and the commands
 * in RESULTS.md all come from the same facts.
 *
 * @module
 */

import { type ClientCommand, type ClientResult, runClient } from "./client.ts";
import {
  type CleanupReport,
  descendants,
  type OursMode,
  processCpuSeconds,
  processStat,
  rssKiB,
  type RunningServer,
  type ServerCommands,
  startServer,
  stopServer,
  treeCpuSeconds,
  type TreeMemory,
  treeMemory,
  type Variant,
} from "./servers.ts";

/** Sizes of one run; the quick mode shrinks them all. */
export interface Params {
  /** Seconds measured per connect figure. */
  connectSeconds: number;
  /** Seconds of connecting before the clock starts. */
  connectWarmup: number;
  /** Lines printed in the output scenarios. */
  outputLines: number;
  /** Bytes per line (newline excluded) in the fixed-size output scenario. */
  lineSize: number;
  /** Round trips timed in the echo scenario. */
  echoCount: number;
  /** Round trips before timing starts. */
  echoWarmup: number;
  /** Messages in the pipelined echo scenario. */
  pipelineCount: number;
  /** Messages in flight in the pipelined echo scenario. */
  window: number;
  /** Messages sent in the input scenario. */
  inputCount: number;
  /** Bytes per message in echo, pipeline and input. */
  messageSize: number;
  /** Idle sessions for the memory figure. */
  memorySessions: number;
  /** How long the memory figure waits after the last session opened before reading RSS, ms. */
  memorySettleMs: number;
  /** Idle `cat` sessions held open beside the measured one in "echo with idle sessions". */
  idleSessions: number;
  /** Handshakes sent at once in the burst scenario. */
  burstSize: number;
  /** Bursts per burst run (their echo samples are pooled). */
  bursts: number;
  /** The live session's echo interval during a burst, µs. */
  burstIntervalUs: number;
  /** Session levels of the capacity ramp. */
  sessionLevels: number[];
  /** Each level's new sessions must open within base + per-session × count seconds. */
  levelBudgetBase: number;
  /** See {@link Params.levelBudgetBase}. */
  levelBudgetPerSession: number;
  /** Fan-out: clients in all, the stopped one included (capped by the descriptor limit). */
  fanoutClients: number;
  /** Fan-out: bytes per line (newline excluded); lines carry their sequence number and stamp. */
  fanoutLineSize: number;
  /** Fan-out: the writer's rate (lines/s) for the latency figures, one both servers keep up with. */
  fanoutLatencyRate: number;
  /** Fan-out: seconds written at that rate. */
  fanoutLatencySeconds: number;
  /** Fan-out: the writer's rate (lines/s) for the delivered rate, meant to load both servers. */
  fanoutRate: number;
  /** Fan-out: the delivered rate's window, s (after {@link Params.fanoutWarmup}). */
  fanoutSeconds: number;
  /**
   * Fan-out: the window with one stopped client, s. Long enough for ours to close it: the
   * kernel's send buffer (up to net.ipv4.tcp_wmem's max, 4 MiB by default) fills before our
   * queue (--broadcast-queue, 1 MiB) starts to grow.
   */
  fanoutStallSeconds: number;
  /** Fan-out: seconds of the stream before each window opens. */
  fanoutWarmup: number;
  /** Fan-out: how long after every client is connected and idle memory is read, ms. */
  fanoutSettleMs: number;
}

/** Full run: figures comparable with the reference numbers. */
export const FULL: Params = {
  connectSeconds: 5,
  // at 50 concurrent a slow server needs ~1 s before completions reach a steady rate
  connectWarmup: 2,
  outputLines: 1_000_000,
  lineSize: 64,
  echoCount: 20_000,
  echoWarmup: 1_000,
  pipelineCount: 300_000,
  window: 100,
  inputCount: 1_000_000,
  messageSize: 16,
  memorySessions: 1_000,
  memorySettleMs: 2_000,
  idleSessions: 1_000,
  burstSize: 200,
  bursts: 3,
  burstIntervalUs: 1_000,
  // steps of 1,000 up to 5,000: a machine whose descriptor limit caps the servers
  // (4 per session) still gets a figure with useful resolution
  sessionLevels: [1_000, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000],
  levelBudgetBase: 30,
  levelBudgetPerSession: 0.04,
  fanoutClients: 1_000,
  // a typical log line; 2,000 of them a second fill a stopped client's 4 MiB kernel buffer
  // and our 1 MiB queue in about 15 s
  fanoutLineSize: 150,
  fanoutLatencyRate: 50,
  fanoutLatencySeconds: 4,
  fanoutRate: 2_000,
  fanoutSeconds: 5,
  fanoutStallSeconds: 20,
  fanoutWarmup: 1,
  fanoutSettleMs: 2_000,
};

/** Quick mode: the same scenarios, small enough for CI (< 40 s in all). */
export const QUICK: Params = {
  connectSeconds: 0.7,
  connectWarmup: 0.3,
  outputLines: 100_000,
  lineSize: 64,
  echoCount: 1_000,
  echoWarmup: 100,
  pipelineCount: 30_000,
  window: 100,
  inputCount: 100_000,
  messageSize: 16,
  memorySessions: 30,
  memorySettleMs: 300,
  idleSessions: 30,
  burstSize: 20,
  bursts: 1,
  burstIntervalUs: 1_000,
  sessionLevels: [50],
  levelBudgetBase: 20,
  levelBudgetPerSession: 0.04,
  // too short for ours to close the stopped client: quick mode only proves the path works
  fanoutClients: 20,
  fanoutLineSize: 150,
  fanoutLatencyRate: 50,
  fanoutLatencySeconds: 0.5,
  fanoutRate: 500,
  fanoutSeconds: 0.5,
  fanoutStallSeconds: 0.5,
  fanoutWarmup: 0.2,
  fanoutSettleMs: 300,
};

/** What a figure must reach in one mode of ours. */
export interface Target {
  /** Ratio ours/websocketd (≥ for higher-better, ≤ for lower-better figures). */
  ratio?: number;
  /** Absolute bound on ours' median (≥ or ≤ as above). */
  absolute?: number;
  /** With `absolute`: judge the worst round instead of the median (the capacity figure). */
  everyRound?: boolean;
}

/** One number a scenario produces. */
export interface Figure {
  /** Stable id (JSON key). */
  id: string;
  /** Row label in the table; `{idle}` and `{burst}` stand for the run's sizes. */
  label: string;
  /** Unit shown after the number. */
  unit: string;
  /** Which direction is good. */
  better: "higher" | "lower";
  /** Targets per mode of ours; a mode without one is shown but not judged. */
  targets?: Partial<Record<OursMode, Target>>;
}

/** The same target in both modes. */
const both = (t: Target): Partial<Record<OursMode, Target>> => ({ group: t, pid: t });

/** Everything a scenario needs from the driver. */
export interface Context {
  /** Sizes. */
  params: Params;
  /** The load client. */
  client: ClientCommand;
  /** How to start the servers. */
  servers: ServerCommands;
  /** Paths of the helper programs. */
  bins: { oneline: string[]; lines: string[] };
  /** Directory for logs. */
  logDir: string;
  /** Directory for files the scenarios write (the fan-out's followed file). */
  workDir: string;
  /** Extra `deno run` flags for ours (profiling). */
  oursRunFlags: string[];
  /**
   * The program with its path resolved on PATH: both servers get the same
   * absolute path, and pid-only mode grants `--allow-run` on exactly it.
   */
  resolve(program: string[]): string[];
  /** Progress messages. */
  note(msg: string): void;
  /** Profile mode only: the server's JS memory breakdown (see probe_server.ts). */
  probe?(server: RunningServer): Promise<unknown>;
}

/** The result of one scenario against one server. */
export interface Sample {
  /** Figure id → value. */
  values: Record<string, number>;
  /** Figure id → client CPU % of one core during that figure's measurement. */
  clientCpu: Record<string, number>;
  /**
   * Figure id → server CPU % of one core (programs excluded) during that client run;
   * a figure may lack it when the client run does not match what the figure times.
   */
  serverCpu: Record<string, number>;
  /** Extra facts worth keeping in the JSON (per-level timings, RSS). */
  extra: Record<string, unknown>;
  /** What stopping the server found. */
  cleanup: CleanupReport;
}

/** A scenario. */
export interface Scenario {
  /** Stable id (`--only` takes these). */
  id: string;
  /** Heading in the report. */
  title: string;
  /** Figures, in table order. */
  figures: Figure[];
  /** The modes of ours this scenario runs in (websocketd always runs once). */
  modes: OursMode[];
  /** The program the server runs. */
  program(ctx: Context): string[];
  /** Extra server flags (the same for both servers). */
  serverFlags: string[];
  /** Flags for ours only, after {@link Scenario.serverFlags} (a mode websocketd lacks). */
  oursFlags?: string[];
  /** Runs before each server starts (a fresh file to follow). */
  prepare?(ctx: Context): void;
  /** Client invocations, for the report's command list (PORT/PID are placeholders). */
  clientArgs(ctx: Context): { mode: string; args: Record<string, string | number | boolean> }[];
  /** Measures one server that is already running. */
  measure(ctx: Context, server: RunningServer): Promise<Omit<Sample, "cleanup">>;
}

/** Runs a client against a server and adds server CPU % for the run. */
async function timed(
  ctx: Context,
  server: RunningServer,
  mode: string,
  args: Record<string, string | number | boolean>,
): Promise<{ r: ClientResult; serverCpuPct: number }> {
  const c0 = processCpuSeconds(server.pid);
  const t0 = performance.now();
  const r = await runClient(ctx.client, mode, { port: server.port, ...args });
  const wall = (performance.now() - t0) / 1000;
  const serverCpuPct = round1(100 * (processCpuSeconds(server.pid) - c0) / wall);
  return { r, serverCpuPct };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Waits (up to 10 s) until the server has no child process left: all reaped. */
async function reaped(pid: number): Promise<void> {
  for (let i = 0; i < 100 && (await descendants(pid)).length > 0; i++) await sleep(100);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest a hold client may take: every level's budget and echo phase, plus slack. */
function holdTimeout(p: Params, levels: number[], scale: number): number {
  let prev = 0, total = 120;
  for (const l of levels) {
    total += scale * (2 * p.levelBudgetBase + p.levelBudgetPerSession * (l - prev));
    prev = l;
  }
  return total;
}

function single(
  id: string,
  r: { r: ClientResult; serverCpuPct: number },
  value: number,
  extra: Record<string, unknown> = {},
): Omit<Sample, "cleanup"> {
  return {
    values: { [id]: value },
    clientCpu: { [id]: r.r.client_cpu_pct },
    serverCpu: { [id]: r.serverCpuPct },
    extra,
  };
}

/** p50 / p99 / p99.9 of an echo run, with issue 15's targets in both modes. */
function echoFigures(prefix: string, suffix: string): Figure[] {
  return [
    ["p50", "p50", 0.8],
    ["p99", "p99", 1],
    ["p999", "p99.9", 1.5],
  ].map(([id, label, ratio]) => ({
    id: `${prefix}_${id}`,
    label: `echo ${label}${suffix}`,
    unit: "µs",
    better: "lower" as const,
    targets: both({ ratio: ratio as number }),
  }));
}

function echoSample(
  prefix: string,
  r: { r: ClientResult; serverCpuPct: number },
): Omit<Sample, "cleanup"> {
  const out: Omit<Sample, "cleanup"> = {
    values: {},
    clientCpu: {},
    serverCpu: {},
    extra: { mean_us: r.r.mean_us, max_us: r.r.max_us },
  };
  for (const p of ["p50", "p99", "p999"]) {
    const id = `${prefix}_${p}`;
    out.values[id] = r.r[`${p}_us`] as number;
    out.clientCpu[id] = r.r.client_cpu_pct;
    if (Number.isFinite(r.serverCpuPct)) out.serverCpu[id] = r.serverCpuPct;
  }
  return out;
}

/** The file the fan-out's writer appends to and every follower reads. */
function fanoutFile(ctx: Context): string {
  return `${ctx.workDir}fanout.log`;
}

/**
 * What a fan-out server's log says: when ours closed the stopped client (its JSON log line, in
 * seconds after the client joined), how many clients it closed with 1008, and how many of
 * websocketd's `tail`s found no inotify instance left and poll the file once a second instead.
 */
function serverLogFacts(
  path: string,
  joinedMs: number,
): { closedAfterS: number; closes1008: number; polling: number } {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    // no log
  }
  let closedAt = NaN, closes1008 = 0, polling = 0;
  for (const line of text.split("\n")) {
    if (line.includes("reverting to polling")) polling++;
    if (!line.startsWith("{")) continue;
    let o: { time?: string; msg?: string; close?: number };
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if (Number.isNaN(closedAt) && o.msg?.includes("bytes behind")) closedAt = Date.parse(o.time!);
    if (o.msg === "DISCONNECT" && o.close === 1008) closes1008++;
  }
  return { closedAfterS: round3((closedAt - joinedMs) / 1000), closes1008, polling };
}

/** Every scenario, in run order. */
export const SCENARIOS: Scenario[] = [
  {
    id: "connect",
    title: "Connect rate (oneline.c: prints one line, waits for EOF)",
    figures: [
      {
        id: "connect_seq",
        label: "connect, sequential",
        unit: "conn/s",
        better: "higher",
        targets: { group: { ratio: 0.85 }, pid: { ratio: 1 } },
      },
      {
        id: "connect_c50",
        label: "connect, 50 concurrent",
        unit: "conn/s",
        better: "higher",
        targets: { group: { ratio: 0.75 }, pid: { ratio: 1 } },
      },
      {
        id: "cpu_server",
        label: "CPU per connection at 50 concurrent: server",
        unit: "ms",
        better: "lower",
        targets: both({ ratio: 1 }),
      },
      {
        id: "cpu_programs",
        label: "CPU per connection at 50 concurrent: its programs",
        unit: "ms",
        better: "lower",
      },
      {
        id: "first_p50",
        label: "first message after connect p50",
        unit: "ms",
        better: "lower",
        targets: { group: { ratio: 1.3 }, pid: { ratio: 1 } },
      },
      { id: "first_p99", label: "first message after connect p99", unit: "ms", better: "lower" },
    ],
    modes: ["group", "pid"],
    program: (ctx) => ctx.bins.oneline,
    serverFlags: [],
    clientArgs: (ctx) =>
      [1, 50].map((conc) => ({
        mode: "connect",
        args: {
          conc,
          seconds: ctx.params.connectSeconds,
          "warmup-seconds": ctx.params.connectWarmup,
          "server-pid": "PID",
        },
      })),
    async measure(ctx, server) {
      const [seq, c50] = this.clientArgs(ctx);
      const pid = { "server-pid": server.pid };
      const a = await timed(ctx, server, seq!.mode, { ...seq!.args, ...pid });
      // let the first batch's programs finish exiting so both figures start clean
      await reaped(server.pid);
      // CPU per connection: the server's /proc/PID/stat before the 50-concurrent run and
      // after every program it started has been reaped, over the handshakes it answered
      // (each started one program). The client's own window (5 s, with up to 50
      // connections in flight at each edge) is kept in the JSON; it is noisier.
      const st0 = processStat(server.pid);
      const b = await timed(ctx, server, c50!.mode, { ...c50!.args, ...pid });
      await reaped(server.pid);
      const st1 = processStat(server.pid);
      const num = (x: unknown) => typeof x === "number" ? x : NaN;
      const upgrades = num(b.r.upgrades_total);
      const perConn = (x: (s: NonNullable<typeof st0>) => number) =>
        st0 && st1 && upgrades > 0 ? round3((x(st1) - x(st0)) * 1000 / upgrades) : NaN;
      const values = {
        connect_seq: num(a.r.rate),
        connect_c50: num(b.r.rate),
        cpu_server: perConn((s) => s.self),
        cpu_programs: perConn((s) => s.children),
        // the sequential run: one connection at a time, so no queueing behind others
        first_p50: num(a.r.first_p50_ms),
        first_p99: num(a.r.first_p99_ms),
      };
      const seqIds = ["connect_seq", "first_p50", "first_p99"];
      const of = (pick: (x: typeof a) => number) =>
        Object.fromEntries(
          Object.keys(values).map((id) => [id, pick(seqIds.includes(id) ? a : b)]),
        );
      return {
        values,
        clientCpu: of((x) => x.r.client_cpu_pct),
        serverCpu: of((x) => x.serverCpuPct),
        extra: {
          seq_mean_ms: a.r.mean_ms,
          c50_mean_ms: b.r.mean_ms,
          c50_upgrades: upgrades,
          c50_window_cpu: {
            server_ms_per_conn: b.r.server_ms_per_conn,
            programs_ms_per_conn: b.r.programs_ms_per_conn,
          },
          seq_window_cpu: {
            server_ms_per_conn: a.r.server_ms_per_conn,
            programs_ms_per_conn: a.r.programs_ms_per_conn,
          },
          c50_first: { p50_ms: b.r.first_p50_ms, p99_ms: b.r.first_p99_ms },
          failures: num(a.r.failures) + num(b.r.failures),
        },
      };
    },
  },
  {
    id: "output_seq",
    title: "Output throughput: `seq 1 N`, one session",
    figures: [{
      id: "output_seq",
      label: "output, seq lines",
      unit: "msg/s",
      better: "higher",
      targets: { group: { ratio: 3 } },
    }],
    modes: ["group"],
    program: (ctx) => ["seq", "1", String(ctx.params.outputLines)],
    serverFlags: [],
    clientArgs: (ctx) => [{ mode: "output", args: { expect: ctx.params.outputLines } }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const r = await timed(ctx, server, c!.mode, c!.args);
      return single("output_seq", r, r.r.rate as number, { mb_per_s: r.r.mb_per_s });
    },
  },
  {
    id: "output_64",
    title: "Output throughput: 64-byte lines (lines.c), one session",
    figures: [{
      id: "output_64",
      label: "output, 64-byte lines",
      unit: "msg/s",
      better: "higher",
      targets: { group: { ratio: 3 } },
    }],
    modes: ["group"],
    program: (ctx) => [
      ...ctx.bins.lines,
      String(ctx.params.outputLines),
      String(ctx.params.lineSize),
    ],
    serverFlags: [],
    clientArgs: (ctx) => [{ mode: "output", args: { expect: ctx.params.outputLines } }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const r = await timed(ctx, server, c!.mode, c!.args);
      return single("output_64", r, r.r.rate as number, { mb_per_s: r.r.mb_per_s });
    },
  },
  {
    id: "echo",
    title: "Echo round trip through `cat`, one message in flight",
    figures: echoFigures("echo", ""),
    modes: ["group", "pid"],
    program: () => ["cat"],
    serverFlags: [],
    clientArgs: (ctx) => [{
      mode: "echo",
      args: {
        count: ctx.params.echoCount,
        warmup: ctx.params.echoWarmup,
        size: ctx.params.messageSize,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      return echoSample("echo", await timed(ctx, server, c!.mode, c!.args));
    },
  },
  {
    id: "echo_idle",
    title: "Echo round trip through `cat` with 1,000 idle `cat` sessions open beside it",
    figures: echoFigures("echo_idle", ", {idle} idle beside"),
    modes: ["group", "pid"],
    program: () => ["cat"],
    serverFlags: ["--maxforks=0"],
    clientArgs: (ctx) => [{
      mode: "echo",
      args: {
        count: ctx.params.echoCount,
        warmup: ctx.params.echoWarmup,
        size: ctx.params.messageSize,
        idle: ctx.params.idleSessions,
        "idle-conc": 32,
        timeout: ctx.params.levelBudgetBase * 4,
        "timeout-per-session": ctx.params.levelBudgetPerSession * 4,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      // the client's run includes opening the idle sessions, so a server CPU % over it would
      // be mostly theirs: none is shown for these figures; the JSON keeps the CPU seconds
      const c0 = processCpuSeconds(server.pid);
      const r = await runClient(ctx.client, c!.mode, { port: server.port, ...c!.args });
      const cpu = processCpuSeconds(server.pid) - c0;
      const sample = echoSample("echo_idle", { r, serverCpuPct: NaN });
      sample.extra.idle_open_s = r.idle_open_s;
      sample.extra.server_cpu_s_whole_run = round1(cpu);
      if (r.idle !== ctx.params.idleSessions) {
        throw new Error(`echo_idle: ${r.idle} idle sessions, wanted ${ctx.params.idleSessions}`);
      }
      return sample;
    },
  },
  {
    id: "burst",
    title: "A live session's echo while 200 handshakes arrive at once",
    figures: [
      {
        id: "burst_p99",
        label: "echo p99 during a burst of {burst} handshakes",
        unit: "ms",
        better: "lower",
        targets: both({ absolute: 5 }),
      },
      {
        id: "burst_p50",
        label: "echo p50 during a burst of {burst} handshakes",
        unit: "ms",
        better: "lower",
      },
      {
        id: "burst_ms",
        label: "{burst} handshakes answered in",
        unit: "ms",
        better: "lower",
      },
    ],
    modes: ["group", "pid"],
    program: () => ["cat"],
    serverFlags: ["--maxforks=0"],
    clientArgs: (ctx) => [{
      mode: "burst",
      args: {
        burst: ctx.params.burstSize,
        bursts: ctx.params.bursts,
        "interval-us": ctx.params.burstIntervalUs,
        size: ctx.params.messageSize,
        warmup: ctx.params.echoWarmup,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const r = await timed(ctx, server, c!.mode, c!.args);
      const values = {
        burst_p99: r.r.p99_ms as number,
        burst_p50: r.r.p50_ms as number,
        burst_ms: r.r.burst_ms as number,
      };
      const ids = Object.keys(values);
      return {
        values,
        clientCpu: Object.fromEntries(ids.map((id) => [id, r.r.client_cpu_pct])),
        serverCpu: Object.fromEntries(ids.map((id) => [id, r.serverCpuPct])),
        extra: {
          samples: r.r.samples,
          max_ms: r.r.max_ms,
          burst_max_ms: r.r.burst_max_ms,
        },
      };
    },
  },
  {
    id: "pipeline",
    title: "Pipelined echo through `cat`, 100 messages in flight",
    figures: [{
      id: "pipeline",
      label: "pipelined echo (window 100)",
      unit: "msg/s",
      better: "higher",
      targets: { group: { ratio: 2 } },
    }],
    modes: ["group"],
    program: () => ["cat"],
    serverFlags: [],
    clientArgs: (ctx) => [{
      mode: "pipeline",
      args: {
        count: ctx.params.pipelineCount,
        window: ctx.params.window,
        size: ctx.params.messageSize,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const r = await timed(ctx, server, c!.mode, c!.args);
      return single("pipeline", r, r.r.rate as number);
    },
  },
  {
    id: "input",
    title: "Input throughput: messages into `wc -l` (done when wc has read every byte)",
    figures: [{
      id: "input",
      label: "input to wc -l",
      unit: "msg/s",
      better: "higher",
      targets: { group: { ratio: 2 } },
    }],
    modes: ["group"],
    program: () => ["wc", "-l"],
    serverFlags: [],
    clientArgs: (ctx) => [{
      mode: "input",
      args: {
        count: ctx.params.inputCount,
        size: ctx.params.messageSize,
        child: "wc",
        "server-pid": "PID",
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const r = await timed(ctx, server, c!.mode, { ...c!.args, "server-pid": server.pid });
      return single("input", r, r.r.rate as number, { send_s: r.r.send_s });
    },
  },
  {
    id: "memory",
    title: "Server memory per idle session (`cat`), server RSS only",
    figures: [{
      id: "memory",
      label: "memory per idle session",
      unit: "KiB",
      better: "lower",
      // judged as users run it: a scoped grant and the V8 flag of the README's run lines
      targets: { pid: { ratio: 1 } },
    }],
    modes: ["group", "pid"],
    program: () => ["cat"],
    // ours refuses sessions beyond 1024 programs by default; websocketd has no limit
    serverFlags: ["--maxforks=0"],
    clientArgs: (ctx) => [{
      mode: "hold",
      args: {
        levels: String(ctx.params.memorySessions),
        conc: 32,
        size: ctx.params.messageSize,
        wait: true,
        timeout: ctx.params.levelBudgetBase * 4,
        "timeout-per-session": ctx.params.levelBudgetPerSession * 4,
      },
    }],
    async measure(ctx, server) {
      // one short session first, so code paths every session uses are warm in both
      await runClient(ctx.client, "echo", {
        port: server.port,
        count: 20,
        warmup: 0,
        size: ctx.params.messageSize,
      });
      await sleep(500);
      const before = rssKiB(server.pid);
      const probeBefore = await ctx.probe?.(server);
      const [c] = this.clientArgs(ctx);
      let after = NaN;
      let probeAfter: unknown;
      let held = 0;
      const c0 = processCpuSeconds(server.pid);
      const t0 = performance.now();
      const r = await runClient(ctx.client, c!.mode, { port: server.port, ...c!.args }, {
        onStep: (s) => held = s.held ?? 0,
        async onReady(release) {
          // let both runtimes settle (GC, freed handshake buffers) before reading RSS
          await sleep(ctx.params.memorySettleMs);
          after = rssKiB(server.pid);
          if (ctx.probe) probeAfter = await ctx.probe(server);
          release();
        },
      }, holdTimeout(ctx.params, [ctx.params.memorySessions], 4));
      const serverCpuPct = round1(
        100 * (processCpuSeconds(server.pid) - c0) / ((performance.now() - t0) / 1000),
      );
      if (held !== ctx.params.memorySessions) {
        throw new Error(`memory: held ${held} of ${ctx.params.memorySessions} sessions`);
      }
      return {
        values: { memory: round1((after - before) / held) },
        clientCpu: { memory: r.client_cpu_pct },
        serverCpu: { memory: serverCpuPct },
        extra: {
          rss_before_kib: before,
          rss_after_kib: after,
          sessions: held,
          ...(ctx.probe ? { probe: { before: probeBefore, after: probeAfter } } : {}),
        },
      };
    },
  },
  {
    id: "sessions",
    title: "Most sessions held at once (`cat`), every session echoing",
    figures: [{
      id: "sessions",
      label: "sessions held, all echoing",
      unit: "sessions",
      better: "higher",
      targets: { group: { absolute: 10_000, everyRound: true } },
    }],
    modes: ["group"],
    program: () => ["cat"],
    serverFlags: ["--maxforks=0"],
    clientArgs: (ctx) => [{
      mode: "hold",
      args: {
        levels: ctx.params.sessionLevels.join(","),
        conc: 64,
        size: ctx.params.messageSize,
        timeout: ctx.params.levelBudgetBase,
        "timeout-per-session": ctx.params.levelBudgetPerSession,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      const steps: Record<string, number>[] = [];
      const c0 = processCpuSeconds(server.pid);
      const t0 = performance.now();
      const r = await runClient(ctx.client, c!.mode, { port: server.port, ...c!.args }, {
        onStep(s) {
          // the server's own footprint at each level, for the JSON
          steps.push({ ...s, server_rss_kib: rssKiB(server.pid) });
          ctx.note(`    ${s.held}/${s.level} sessions held (opened in ${s.open_s}s)`);
        },
      }, holdTimeout(ctx.params, ctx.params.sessionLevels, 1));
      const serverCpuPct = round1(
        100 * (processCpuSeconds(server.pid) - c0) / ((performance.now() - t0) / 1000),
      );
      return {
        values: { sessions: r.best as number },
        clientCpu: { sessions: r.client_cpu_pct },
        serverCpu: { sessions: serverCpuPct },
        extra: { steps },
      };
    },
  },
  {
    id: "fanout",
    title: "Fan-out: one file followed by every client (websocketd: a `tail` each; ours: one " +
      "`tail` under --broadcast)",
    figures: [
      {
        id: "fanout_mem",
        label: "fan-out to {fan}: memory per client, programs included (RSS)",
        unit: "KiB",
        better: "lower",
        targets: { group: { ratio: 0.2 } },
      },
      {
        id: "fanout_pss",
        label: "fan-out to {fan}: memory per client, programs included (PSS)",
        unit: "KiB",
        better: "lower",
      },
      {
        id: "fanout_p50",
        label: "fan-out, write → receive p50 at {fanlat} lines/s",
        unit: "ms",
        better: "lower",
      },
      {
        id: "fanout_p99",
        label: "fan-out, write → receive p99 at {fanlat} lines/s",
        unit: "ms",
        better: "lower",
        targets: { group: { ratio: 1 } },
      },
      {
        id: "fanout_rate",
        label: "fan-out, delivered to all clients, writer at {fanrate} lines/s",
        unit: "msg/s",
        better: "higher",
        targets: { group: { ratio: 1 } },
      },
      {
        id: "fanout_missing",
        label: "fan-out, deliveries still missing 2 s after the last line",
        unit: "%",
        better: "lower",
      },
      {
        id: "fanout_stall_keep",
        label: "fan-out, the others' rate while one client is stopped",
        unit: "% of before",
        better: "higher",
        targets: { group: { absolute: 90 } },
      },
      {
        id: "fanout_stall_p99",
        label: "fan-out, write → receive p99 while one client is stopped",
        unit: "ms",
        better: "lower",
      },
      {
        id: "fanout_stall_close",
        label: "fan-out, the stopped client closed with 1008 after",
        unit: "s",
        better: "lower",
      },
    ],
    modes: ["group"],
    program: (ctx) => ["tail", "-n0", "-F", fanoutFile(ctx)],
    // websocketd runs a tail per client: no cap on programs for either
    serverFlags: ["--maxforks=0"],
    // json: the slow-client line's time to the millisecond
    oursFlags: ["--broadcast", "--logformat=json"],
    prepare: (ctx) => Deno.writeTextFileSync(fanoutFile(ctx), ""),
    clientArgs: (ctx) => [{
      mode: "fanout",
      args: {
        conns: ctx.params.fanoutClients,
        stall: 1,
        file: fanoutFile(ctx),
        size: ctx.params.fanoutLineSize,
        "lat-rate": ctx.params.fanoutLatencyRate,
        "lat-seconds": ctx.params.fanoutLatencySeconds,
        rate: ctx.params.fanoutRate,
        seconds: ctx.params.fanoutSeconds,
        "stall-seconds": ctx.params.fanoutStallSeconds,
        "warmup-seconds": ctx.params.fanoutWarmup,
        conc: 32,
        wait: true,
        timeout: ctx.params.levelBudgetBase,
        "timeout-per-session": ctx.params.levelBudgetPerSession,
      },
    }],
    async measure(ctx, server) {
      const [c] = this.clientArgs(ctx);
      // no clients: the server alone (ours starts its program with the first client)
      const before = await treeMemory(server.pid);
      let after: TreeMemory | null = null;
      let cpu0 = NaN, t0 = 0;
      const r = await runClient(ctx.client, c!.mode, { port: server.port, ...c!.args }, {
        async onReady(release) {
          // every client connected, every follower live, nothing written for a moment
          await sleep(ctx.params.fanoutSettleMs);
          after = await treeMemory(server.pid);
          cpu0 = await treeCpuSeconds(server.pid);
          t0 = performance.now();
          release();
        },
      }, 600);
      const cpu = 100 * (await treeCpuSeconds(server.pid) - cpu0) /
        ((performance.now() - t0) / 1000);
      Deno.writeTextFileSync(fanoutFile(ctx), "");
      const o = (k: string) => (r[k] ?? {}) as unknown as Record<string, number | string | boolean>;
      const num = (x: unknown) => typeof x === "number" ? x : NaN;
      const lat = o("latency"), free = o("free"), stalled = o("stalled"), stream = o("stream");
      const stallClient = o("stall_client");
      const clients = num(r.clients);
      const mem = after as TreeMemory | null;
      if (!mem || !(clients > 0)) throw new Error("fanout: no memory reading");
      const log = serverLogFacts(server.logPath, num(stallClient.joined_ms));
      const values = {
        fanout_mem: round1((mem.rss - before.rss) / clients),
        fanout_pss: round1((mem.pss - before.pss) / clients),
        fanout_p50: num(lat.p50_ms),
        fanout_p99: num(lat.p99_ms),
        fanout_rate: num(free.rate),
        fanout_missing: round3(
          100 * num(stream.missing_pairs) / (num(stream.lines) * clients),
        ),
        fanout_stall_keep: round1(100 * num(stalled.rate) / num(free.rate)),
        fanout_stall_p99: num(stalled.p99_ms),
        fanout_stall_close: log.closedAfterS,
      };
      const clientCpu: Record<string, number> = {};
      const serverCpu: Record<string, number> = {};
      for (const id of Object.keys(values)) {
        const part = id.startsWith("fanout_stall") ? stalled : id === "fanout_rate" ? free : lat;
        clientCpu[id] = id.startsWith("fanout_mem") || id === "fanout_pss"
          ? num(r.client_cpu_pct)
          : num(part.client_cpu_pct);
        serverCpu[id] = round1(cpu);
      }
      return {
        values,
        clientCpu,
        serverCpu,
        extra: {
          clients,
          memory_kib: { before, after: mem },
          open_s: r.open_s,
          sync_s: r.sync_s,
          lost: r.lost,
          bad_lines: r.bad_lines,
          order_errors: r.order_errors,
          latency: lat,
          stream,
          free,
          stalled,
          stall_client: stallClient,
          slow_client_closes: log.closes1008,
          programs_polling: log.polling,
          server_and_programs_cpu_pct: round1(cpu),
        },
      };
    },
  },
];

/** Runs one scenario against one server: start, measure, stop, verify cleanup. */
export async function runScenario(
  ctx: Context,
  scenario: Scenario,
  variant: Variant,
  logPath: string,
): Promise<Sample> {
  scenario.prepare?.(ctx);
  const server = await startServer(
    variant,
    ctx.servers,
    ctx.resolve(scenario.program(ctx)),
    [...scenario.serverFlags, ...(variant === "websocketd" ? [] : scenario.oursFlags ?? [])],
    logPath,
    variant === "websocketd" ? [] : ctx.oursRunFlags,
  );
  let measured: Omit<Sample, "cleanup">;
  let cleanup: CleanupReport;
  try {
    measured = await scenario.measure(ctx, server);
  } finally {
    // stop and verify even when measuring failed: nothing may outlive a scenario
    cleanup = await stopServer(server);
    if (cleanup.killed > 0) {
      ctx.note(`    warning: ${cleanup.killed} process(es) outlived ${variant}; killed`);
    }
  }
  return { ...measured, cleanup };
}
