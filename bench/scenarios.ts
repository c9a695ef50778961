/**
 * The benchmark's scenarios: what program each server runs, which client
 * mode drives it, which figures come out, and the target for each figure
 * (as a ratio to websocketd in the same run). One table, so the report, the
 * JSON and the commands in RESULTS.md all come from the same facts.
 *
 * @module
 */

import { type ClientCommand, type ClientResult, runClient } from "./client.ts";
import {
  type CleanupReport,
  processCpuSeconds,
  rssKiB,
  type RunningServer,
  type ServerCommands,
  type ServerKind,
  startServer,
  stopServer,
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
  /** Session levels of the capacity ramp. */
  sessionLevels: number[];
  /** Each level's new sessions must open within base + per-session × count seconds. */
  levelBudgetBase: number;
  /** See {@link Params.levelBudgetBase}. */
  levelBudgetPerSession: number;
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
  // steps of 1,000 up to 5,000: a machine whose descriptor limit caps the servers
  // (4 per session) still gets a figure with useful resolution
  sessionLevels: [1_000, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000],
  levelBudgetBase: 30,
  levelBudgetPerSession: 0.04,
};

/** Quick mode: the same scenarios, small enough for CI (< 60 s in all). */
export const QUICK: Params = {
  connectSeconds: 1.5,
  connectWarmup: 0.5,
  outputLines: 100_000,
  lineSize: 64,
  echoCount: 2_000,
  echoWarmup: 100,
  pipelineCount: 30_000,
  window: 100,
  inputCount: 100_000,
  messageSize: 16,
  memorySessions: 50,
  sessionLevels: [100],
  levelBudgetBase: 20,
  levelBudgetPerSession: 0.04,
};

/** One number a scenario produces. */
export interface Figure {
  /** Stable id (JSON key). */
  id: string;
  /** Row label in the table. */
  label: string;
  /** Unit shown after the number. */
  unit: string;
  /** Which direction is good. */
  better: "higher" | "lower";
  /** Target ratio ours/websocketd (≥ for higher-better, ≤ for lower-better). */
  targetRatio?: number;
  /** Target absolute value for ours (the capacity figure). */
  targetAbsolute?: number;
}

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
  /** Extra `deno run` flags for ours (profiling). */
  oursRunFlags: string[];
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
  /** Figure id → server CPU % of one core (programs excluded) during that client run. */
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
  /** The program the server runs. */
  program(ctx: Context): string[];
  /** Extra server flags (the same for both servers). */
  serverFlags: string[];
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
        targetRatio: 1.3,
      },
      {
        id: "connect_c50",
        label: "connect, 50 concurrent",
        unit: "conn/s",
        better: "higher",
        targetRatio: 1.3,
      },
    ],
    program: (ctx) => ctx.bins.oneline,
    serverFlags: [],
    clientArgs: (ctx) =>
      [1, 50].map((conc) => ({
        mode: "connect",
        args: {
          conc,
          seconds: ctx.params.connectSeconds,
          "warmup-seconds": ctx.params.connectWarmup,
        },
      })),
    async measure(ctx, server) {
      const [seq, c50] = this.clientArgs(ctx);
      const a = await timed(ctx, server, seq!.mode, seq!.args);
      // let the first batch's programs finish exiting so both figures start clean
      await sleep(300);
      const b = await timed(ctx, server, c50!.mode, c50!.args);
      return {
        values: { connect_seq: a.r.rate as number, connect_c50: b.r.rate as number },
        clientCpu: { connect_seq: a.r.client_cpu_pct, connect_c50: b.r.client_cpu_pct },
        serverCpu: { connect_seq: a.serverCpuPct, connect_c50: b.serverCpuPct },
        extra: {
          seq_mean_ms: a.r.mean_ms,
          c50_mean_ms: b.r.mean_ms,
          failures: (a.r.failures as number) + (b.r.failures as number),
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
      targetRatio: 3,
    }],
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
      targetRatio: 3,
    }],
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
    figures: [
      { id: "echo_p50", label: "echo p50", unit: "µs", better: "lower", targetRatio: 0.8 },
      { id: "echo_p99", label: "echo p99", unit: "µs", better: "lower" },
      { id: "echo_p999", label: "echo p99.9", unit: "µs", better: "lower" },
    ],
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
      const r = await timed(ctx, server, c!.mode, c!.args);
      const ids = ["echo_p50", "echo_p99", "echo_p999"];
      const keys = ["p50_us", "p99_us", "p999_us"];
      const out: Omit<Sample, "cleanup"> = {
        values: {},
        clientCpu: {},
        serverCpu: {},
        extra: { mean_us: r.r.mean_us, max_us: r.r.max_us },
      };
      ids.forEach((id, i) => {
        out.values[id] = r.r[keys[i]!] as number;
        out.clientCpu[id] = r.r.client_cpu_pct;
        out.serverCpu[id] = r.serverCpuPct;
      });
      return out;
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
      targetRatio: 2,
    }],
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
      targetRatio: 2,
    }],
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
      targetRatio: 1,
    }],
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
          await sleep(2000);
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
      targetAbsolute: 10_000,
    }],
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
];

/** Runs one scenario against one server: start, measure, stop, verify cleanup. */
export async function runScenario(
  ctx: Context,
  scenario: Scenario,
  kind: ServerKind,
  logPath: string,
): Promise<Sample> {
  const server = await startServer(
    kind,
    ctx.servers,
    scenario.program(ctx),
    scenario.serverFlags,
    logPath,
    kind === "ours" ? ctx.oursRunFlags : [],
  );
  let measured: Omit<Sample, "cleanup">;
  let cleanup: CleanupReport;
  try {
    measured = await scenario.measure(ctx, server);
  } finally {
    // stop and verify even when measuring failed: nothing may outlive a scenario
    cleanup = await stopServer(server);
    if (cleanup.killed > 0) {
      ctx.note(`    warning: ${cleanup.killed} process(es) outlived ${kind}; killed`);
    }
  }
  return { ...measured, cleanup };
}
