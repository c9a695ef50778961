/**
 * The soak: the hostile suite's load guarantees at sizes too long for CI,
 * printed as the figures docs/SECURITY.md quotes.
 *
 * ```sh
 * deno task soak                      # 100,000 sessions of churn and the rest
 * deno task soak --sessions=10000     # a shorter churn
 * deno task soak --quick              # a smoke run of every phase (about a minute)
 * ```
 *
 * Phases, each against a fresh server started as `deno run main.ts` with the
 * hard fd limit:
 * 1. churn: N echo sessions (50 at a time); the server's RSS and open fds are
 *    sampled every 1,000 sessions; afterwards no program may be left, fds must
 *    be back at the baseline, RSS is reported against the baseline;
 * 2. maxforks: 20 bursts of 200 handshakes at --maxforks=50: exactly 50 served;
 * 3. shutdown: SIGTERM with 500 live sessions, each with a grandchild and every
 *    fifth ignoring SIGINT/SIGTERM: time to exit, processes left, exit status;
 * 4. no loss: 1,000 sessions × 1,000 numbered lines (2,000 without --quick);
 * 5. slowloris: 50 header trickles while a canary echoes: when they are dropped,
 *    the canary's slowest round trip;
 * 6. a 100 MB line: delivered bytes and the server's RSS peak above its start.
 *
 * Exit status 1 when a guarantee broke (the line says which), else 0.
 *
 * @module
 */

import {
  Canary,
  descendants,
  leanSession,
  openFds,
  pool,
  removeScriptDir,
  rssKiB,
  settle,
  startServerUlimit,
  stubbornFleet,
  tempScript,
  upgradeRequest,
} from "../testing/load.ts";
import { writeAll } from "../testing/wire.ts";

const enc = new TextEncoder();

interface Options {
  sessions: number;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { sessions: 100_000, quick: false };
  for (const a of argv) {
    if (a === "--quick") {
      opts.quick = true;
      opts.sessions = 2_000;
    } else if (a.startsWith("--sessions=")) opts.sessions = Number(a.slice(11));
    else throw new Error(`unknown argument ${a} (use --sessions=N or --quick)`);
  }
  if (!Number.isInteger(opts.sessions) || opts.sessions < 100) {
    throw new Error("--sessions must be a whole number of at least 100");
  }
  return opts;
}

/** One reported figure. */
interface Figure {
  phase: string;
  what: string;
  value: string;
  ok: boolean;
}

const figures: Figure[] = [];

function report(phase: string, what: string, value: string | number, ok = true): void {
  figures.push({ phase, what, value: String(value), ok });
  console.log(`${ok ? "  " : "✗ "}${phase.padEnd(10)} ${what.padEnd(44)} ${value}`);
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

async function churn(n: number): Promise<void> {
  const prog = await tempScript("soak-churn", "exec cat");
  const server = await startServerUlimit(["--loglevel=error", "--maxforks=0", prog]);
  try {
    const once = async (i: number) => {
      const want = `hello ${i}`;
      const r = await leanSession(server.port, {
        send: [want],
        closeAfter: 1,
        onText: (t) => (t === want ? undefined : "wrong echo"),
        timeoutMs: 30000,
      });
      return r.status === 101 && r.messages === 1 && r.closeCode === 1000 && !r.error;
    };
    await pool(200, 50, once); // warm-up
    await settle(() => descendants(server.pid), (d) => d.length === 0, 5000);
    const fds0 = openFds(server.pid);
    const rss0 = rssKiB(server.pid);
    let peak = rss0;
    let failed = 0;
    const t0 = Date.now();
    for (let done = 0; done < n; done += 1000) {
      const batch = Math.min(1000, n - done);
      const ok = await pool(batch, 50, (i) => once(done + i));
      failed += ok.filter((x) => !x).length;
      const rss = rssKiB(server.pid);
      peak = Math.max(peak, rss);
      if ((done + batch) % 10_000 === 0 || done + batch === n) {
        console.log(
          `    ${done + batch} sessions, ${
            Math.round((done + batch) / ((Date.now() - t0) / 1000))
          }/s, ` +
            `RSS ${mib(rss)}, fds ${openFds(server.pid)}`,
        );
      }
    }
    const secs = (Date.now() - t0) / 1000;
    const left = await settle(() => descendants(server.pid), (d) => d.length === 0, 10000);
    const fds = await settle(() => openFds(server.pid), (f) => f <= fds0 + 2, 10000);
    const rss = rssKiB(server.pid);
    // V8 returns memory lazily: also report RSS after the server idled a while
    const idle = await settle(() => rssKiB(server.pid), (r) => r - rss0 < 16 * 1024, 30000, 1000);
    report("churn", "sessions (each: echo one line, close 1000)", n);
    report("churn", "failed sessions", failed, failed === 0);
    report("churn", "rate", `${Math.round(n / secs)} sessions/s (${secs.toFixed(0)} s)`);
    report("churn", "programs left afterwards", left.length, left.length === 0);
    report("churn", "open fds: baseline → after", `${fds0} → ${fds}`, fds <= fds0 + 2);
    report(
      "churn",
      "RSS: baseline → at the end (peak)",
      `${mib(rss0)} → ${mib(rss)} (${mib(peak)})`,
    );
    report(
      "churn",
      "RSS after ≤ 30 s idle (bound: baseline + 64 MiB)",
      mib(idle),
      idle - rss0 < 64 * 1024,
    );
  } finally {
    await server.stop();
    await removeScriptDir(prog);
  }
}

async function maxforks(): Promise<void> {
  const prog = await tempScript("soak-maxforks", "exec cat");
  const server = await startServerUlimit(["--loglevel=error", "--maxforks=50", prog]);
  try {
    let exact = 0;
    const rounds = 20;
    for (let round = 0; round < rounds; round++) {
      const held: Deno.Conn[] = [];
      const statuses = await Promise.all(Array.from({ length: 200 }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        await writeAll(conn, enc.encode(upgradeRequest("/")));
        const buf = new Uint8Array(1024);
        const n = await conn.read(buf);
        const status = Number(new TextDecoder().decode(buf.subarray(9, 12)));
        if (status === 101 && n !== null) held.push(conn);
        else conn.close();
        return status;
      }));
      const served = statuses.filter((s) => s === 101).length;
      const refused = statuses.filter((s) => s === 429).length;
      if (served === 50 && refused === 150) exact++;
      for (const c of held) c.close();
      await settle(() => descendants(server.pid), (d) => d.length === 0, 8000);
    }
    report(
      "maxforks",
      `bursts of 200 at --maxforks=50 with exactly 50 served`,
      `${exact}/${rounds}`,
      exact === rounds,
    );
  } finally {
    await server.stop();
    await removeScriptDir(prog);
  }
}

async function shutdown(): Promise<void> {
  const tag = `soakstop${crypto.randomUUID().slice(0, 6)}`;
  const { server, prog, conns } = await stubbornFleet(tag, 500);
  try {
    const before = descendants(server.pid).length;
    const t0 = Date.now();
    const status = await server.stop("SIGTERM", 60000);
    const ms = Date.now() - t0;
    const left = await settle(() => aliveWith(tag), (l) => l.length === 0, 3000);
    report("shutdown", "processes of 500 live sessions", before);
    report("shutdown", "SIGTERM → exit", `${ms} ms, status ${status.code}`, status.code === 0);
    report("shutdown", "processes left after exit", left.length, left.length === 0);
  } finally {
    for (const c of conns) c.close();
    await removeScriptDir(prog);
  }
}

async function noLoss(sessions: number): Promise<void> {
  const server = await startServerUlimit(["--loglevel=error", "--maxforks=0", "seq", "1", "1000"]);
  try {
    const t0 = Date.now();
    const results = await pool(sessions, 100, () =>
      leanSession(server.port, {
        onText: (t, i) => (t === String(i + 1) ? undefined : "out of order"),
        timeoutMs: 120000,
      }));
    const secs = (Date.now() - t0) / 1000;
    const lines = results.reduce((n, r) => n + r.messages, 0);
    const bad = results.filter((r) =>
      r.error || r.messages !== 1000 || r.closeCode !== 1000 || r.closeReason !== "exit 0"
    ).length;
    report("no loss", `sessions × 1,000 numbered lines`, sessions);
    report(
      "no loss",
      "lines received, in order",
      `${lines} of ${sessions * 1000}`,
      lines === sessions * 1000,
    );
    report("no loss", "sessions missing a line or the close 1000", bad, bad === 0);
    report("no loss", "rate", `${Math.round(lines / secs)} lines/s`);
  } finally {
    await server.stop();
  }
}

async function slowloris(): Promise<void> {
  const prog = await tempScript("soak-slow", "exec cat");
  const server = await startServerUlimit(["--loglevel=error", prog]);
  const canary = await Canary.open(server.port);
  try {
    canary.start(200);
    const hs = enc.encode(upgradeRequest("/"));
    const t0 = Date.now();
    const trickle = async (everyMs: number) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      let dropped = -1;
      const reader = conn.read(new Uint8Array(1024)).catch(() => null).then(() => {
        dropped = Date.now() - t0;
      });
      for (let i = 0; i < hs.length - 2 && dropped < 0 && Date.now() - t0 < 60000; i++) {
        await writeAll(conn, hs.subarray(i, i + 1)).catch(() => {});
        await new Promise((r) => setTimeout(r, everyMs));
      }
      while (dropped < 0 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 100));
      conn.close();
      await reader;
      return dropped;
    };
    const times = (await Promise.all(Array.from({ length: 50 }, (_, i) => trickle(300 + i * 10))))
      .sort((a, b) => a - b);
    const stats = await canary.stop();
    const never = times.filter((t) => t < 0).length;
    report("slowloris", "trickles dropped (of 50)", 50 - never, never === 0);
    // the documented header timeout is 10 s; allow 6 s of scheduling margin
    report(
      "slowloris",
      "dropped after: min / median / max (bound: 16 s)",
      `${(times[0]! / 1000).toFixed(1)} / ${(times[25]! / 1000).toFixed(1)} / ${
        (times[49]! / 1000).toFixed(1)
      } s`,
      times[49]! <= 16000,
    );
    report(
      "slowloris",
      "canary round trips ok / failed",
      `${stats.ok} / ${stats.failures.length}`,
      stats.failures.length === 0,
    );
    report("slowloris", "canary slowest round trip", `${stats.maxMs} ms`);
  } finally {
    canary.close();
    await server.stop();
    await removeScriptDir(prog);
  }
}

async function bigLine(): Promise<void> {
  const prog = await tempScript("soak-big", "head -c 100000000 /dev/zero | tr '\\0' x");
  const server = await startServerUlimit(["--loglevel=error", prog]);
  try {
    await leanSession(server.port, { timeoutMs: 60000 }); // warm-up
    const rss0 = rssKiB(server.pid);
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(server.pid))), 20);
    const r = await leanSession(server.port, { timeoutMs: 60000 });
    clearInterval(sampler);
    report(
      "big line",
      "100 MB line: messages, bytes, close",
      `${r.messages}, ${r.bytes}, ${r.closeCode}`,
      r.messages === 1 && r.bytes === 100_000_000 && r.closeCode === 1000,
    );
    report(
      "big line",
      "server RSS peak above its start",
      mib(peak - rss0),
      peak - rss0 < 64 * 1024,
    );
  } finally {
    await server.stop();
    await removeScriptDir(prog);
  }
}

/** Live (non-zombie) processes whose command line contains `tag`. */
function aliveWith(tag: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (!cmd.includes(tag)) continue;
      if (!/\) Z /.test(Deno.readTextFileSync(`/proc/${e.name}/stat`))) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

if (import.meta.main) {
  const opts = parseArgs(Deno.args);
  const cpus = Deno.readTextFileSync("/proc/cpuinfo").split("\n").filter((l) =>
    l.startsWith("processor")
  ).length;
  console.log(
    `soak: ${opts.sessions} sessions of churn; ${cpus} CPUs; deno ${Deno.version.deno}; ${
      new Date().toISOString()
    }`,
  );
  const t0 = Date.now();
  await churn(opts.sessions);
  await maxforks();
  await shutdown();
  await noLoss(opts.quick ? 1000 : 2000);
  await slowloris();
  await bigLine();
  const broken = figures.filter((f) => !f.ok);
  console.log(
    `\nsoak done in ${Math.round((Date.now() - t0) / 1000)} s; ${broken.length} guarantees broken`,
  );
  console.log("\n| phase | figure | value |\n| --- | --- | --- |");
  for (const f of figures) {
    console.log(`| ${f.phase} | ${f.what} | ${f.value}${f.ok ? "" : " ✗"} |`);
  }
  Deno.exit(broken.length ? 1 : 0);
}
