/**
 * Starting, measuring and stopping the two servers under test, and proving
 * afterwards that nothing we started is still running.
 *
 * Each server runs as `sh -c 'ulimit -n …; exec SERVER …'`, so the shell
 * becomes the server (same pid) with a file limit high enough for 10,000
 * sessions. Logs go to a file, not a pipe: neither server ever waits on us,
 * and reading them costs the benchmark nothing.
 *
 * @module
 */

/** Which implementation a run measures. */
export type ServerKind = "ours" | "websocketd";

/**
 * How ours is run: `group` with unscoped `--allow-run` (programs start through
 * setsid(1) in their own process group, signals reach the group), `pid` with
 * a grant scoped to the program (signals reach its pid only, as websocketd's).
 */
export type OursMode = "group" | "pid";

/** One column of the report: ours in one of its modes, or websocketd. */
export type Variant = OursMode | "websocketd";

/** Every variant, in the order a round runs them (A B: ours, then websocketd). */
export const VARIANTS: Variant[] = ["group", "pid", "websocketd"];

/** The line each mode of ours logs at startup, which proves the mode was the one asked for. */
export const MODE_LOG: Record<OursMode, RegExp> = {
  group: /Programs get their own process group through \/(usr\/)?bin\/setsid/,
  pid: /Signals reach each program's pid only/,
};

/** How to start each server. */
export interface ServerCommands {
  /**
   * argv prefix for ours (`deno run PERMISSIONS …/main.ts`), given the program
   * it will run (path resolved), its port and the mode.
   */
  ours: (program: string[], port: number | string, mode: OursMode) => string[];
  /** argv prefix for the Go original, or null when it is not installed. */
  websocketd: string[] | null;
}

/** A running server. */
export interface RunningServer {
  /** Which one. */
  kind: ServerKind;
  /** Which column of the report. */
  variant: Variant;
  /** The server's pid (the shell exec'd into it). */
  pid: number;
  /** Its TCP port on 127.0.0.1. */
  port: number;
  /** The full command line, for the report. */
  argv: string[];
  /** Where its log goes. */
  logPath: string;
  /** Resolves when it has exited. */
  status: Promise<Deno.CommandStatus>;
}

/** File-descriptor limit given to servers: 10,000 sessions need ~40,000 descriptors. */
export const SERVER_NOFILE = 200000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Finds a free TCP port on 127.0.0.1 (closed again before use; a race we accept). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts a server for `program` and waits until it accepts connections.
 * websocketd prints its "Starting" line before it listens, so we also
 * poll-connect the port.
 */
export async function startServer(
  variant: Variant,
  cmds: ServerCommands,
  program: string[],
  extraFlags: string[],
  logPath: string,
  extraRunFlags: string[] = [],
): Promise<RunningServer> {
  const port = freePort();
  const kind: ServerKind = variant === "websocketd" ? "websocketd" : "ours";
  const base = variant === "websocketd" ? cmds.websocketd : cmds.ours(program, port, variant);
  if (!base) throw new Error("websocketd is not installed");
  // deno's own flags (profiling) go before the script; server flags after it
  const prefix = kind === "ours" && extraRunFlags.length > 0
    ? [base[0]!, base[1]!, ...extraRunFlags, ...base.slice(2)]
    : base;
  const argv = [...prefix, "--address=127.0.0.1", `--port=${port}`, ...extraFlags, ...program];
  // as root the hard limit can rise; elsewhere fall back to whatever the hard limit is
  const script = `ulimit -n ${SERVER_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ` +
    `exec "$@" >"$BENCH_LOG" 2>&1`;
  const child = new Deno.Command("sh", {
    args: ["-c", script, "sh", ...argv],
    env: { BENCH_LOG: logPath },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const server: RunningServer = {
    kind,
    variant,
    pid: child.pid,
    port,
    argv,
    logPath,
    status: child.status,
  };
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 20000;
  let announced = false;
  while (Date.now() < deadline && !exited) {
    if (!announced) {
      try {
        announced = Deno.readTextFileSync(logPath).includes("Starting WebSocket server");
      } catch {
        // the log file appears once the shell has run
      }
    }
    if (announced && await canConnect(port)) {
      if (variant === "websocketd" || MODE_LOG[variant].test(Deno.readTextFileSync(logPath))) {
        return server;
      }
      // a figure of the wrong mode would be worse than none
      await stopServer(server);
      throw new Error(
        `ours did not log ${MODE_LOG[variant]} (mode ${variant}):\n` +
          Deno.readTextFileSync(logPath).slice(0, 2000),
      );
    }
    await sleep(20);
  }
  await stopServer(server);
  let log = "";
  try {
    log = Deno.readTextFileSync(logPath).slice(-2000);
  } catch {
    // no log at all
  }
  throw new Error(`${variant} did not start on port ${port}:\n${log}`);
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * The open-file limit a server actually got: `ulimit -n` above the hard
 * limit needs CAP_SYS_RESOURCE, which some containers and VMs do not grant.
 */
export async function effectiveNofile(): Promise<{ limit: number; raised: boolean }> {
  const r = await new Deno.Command("sh", {
    args: ["-c", `ulimit -n ${SERVER_NOFILE} 2>/dev/null && echo yes; ulimit -Hn`],
    stdout: "piped",
  }).output();
  const lines = new TextDecoder().decode(r.stdout).trim().split("\n");
  const raised = lines[0] === "yes";
  const last = lines[lines.length - 1]!;
  return { limit: last === "unlimited" ? Infinity : Number(last), raised };
}

/** utime + stime of one process in seconds (children excluded), or NaN when gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 of stat(5); f[0] is field 3
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of a process from /proc/PID/stat: its own (utime+stime, all
 * threads) and its reaped children's (cutime+cstime), or null when gone.
 */
export function processStat(pid: number): { self: number; children: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // fields 14 to 17 of stat(5); f[0] is field 3
    return { self: (f[11]! + f[12]!) / CLOCK_TICKS, children: (f[13]! + f[14]!) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this runs on (sysconf is not reachable from Deno). */
const CLOCK_TICKS = 100;

/** VmRSS of one process in KiB (its own pages only; children are separate processes). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

/** Memory of a process and every descendant (its programs), KiB. */
export interface TreeMemory {
  /** Sum of VmRSS: shared pages (libraries) count once per process. */
  rss: number;
  /** Sum of Pss: each shared page split among the processes that map it. */
  pss: number;
  /** Processes counted. */
  processes: number;
}

/** VmRSS and Pss of `pid` and all its descendants; processes gone meanwhile count zero. */
export async function treeMemory(pid: number): Promise<TreeMemory> {
  const out: TreeMemory = { rss: 0, pss: 0, processes: 0 };
  for (const p of [pid, ...(await descendants(pid))]) {
    try {
      const status = Deno.readTextFileSync(`/proc/${p}/status`);
      const rollup = Deno.readTextFileSync(`/proc/${p}/smaps_rollup`);
      out.rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      out.pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      out.processes++;
    } catch {
      // exited between the listing and the read
    }
  }
  return out;
}

/** utime + stime of `pid` and all its live descendants, seconds. */
export async function treeCpuSeconds(pid: number): Promise<number> {
  let sum = 0;
  for (const p of [pid, ...(await descendants(pid))]) {
    const s = processCpuSeconds(p);
    if (Number.isFinite(s)) sum += s;
  }
  return sum;
}

function startTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // a zombie is gone for our purposes: it holds no memory, pipes or sockets
    if (f[0] === "Z") return null;
    return f[19] ?? null;
  } catch {
    return null;
  }
}

/** A process we started, identified by pid and start time (pids get reused). */
interface Tracked {
  pid: number;
  start: string;
}

/**
 * Lists all descendants of `pid`. One `ps` call and a walk over the
 * parent links: with 10,000 sessions, a `pgrep -P` per process would take
 * longer than the scenario.
 */
export async function descendants(pid: number): Promise<number[]> {
  const r = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid="], stdout: "piped" })
    .output();
  const children = new Map<number, number[]>();
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const [c, p] = line.trim().split(/\s+/).map(Number);
    if (!c || p === undefined) continue;
    const list = children.get(p);
    if (list) list.push(c);
    else children.set(p, [c]);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** What cleanup found. */
export interface CleanupReport {
  /** Descendants alive just before the stop. */
  children: number;
  /** Processes that had to be SIGKILLed by the benchmark (should be 0). */
  killed: number;
  /** How long the server and its programs took to disappear, ms. */
  ms: number;
}

/**
 * Stops a server with SIGTERM (SIGKILL after 10 s) and waits until every
 * program it ran is gone too; anything left after 15 s is SIGKILLed and
 * counted, so a leak shows up in the results instead of on the machine.
 */
export async function stopServer(server: RunningServer): Promise<CleanupReport> {
  const t0 = Date.now();
  const kids: Tracked[] = [];
  for (const pid of await descendants(server.pid)) {
    const start = startTime(pid);
    if (start) kids.push({ pid, start });
  }
  try {
    Deno.kill(server.pid, "SIGTERM");
  } catch {
    // already gone
  }
  const timeout = new Promise<"timeout">((r) => {
    const t = setTimeout(() => r("timeout"), 10000);
    server.status.finally(() => clearTimeout(t));
  });
  if (await Promise.race([server.status.then(() => "exited" as const), timeout]) === "timeout") {
    try {
      Deno.kill(server.pid, "SIGKILL");
    } catch {
      // raced with its exit
    }
    await server.status;
  }
  let killed = 0;
  const deadline = Date.now() + 15000;
  let alive = kids.filter((k) => startTime(k.pid) === k.start);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter((k) => startTime(k.pid) === k.start);
  }
  for (const k of alive) {
    try {
      Deno.kill(k.pid, "SIGKILL");
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return { children: kids.length, killed, ms: Date.now() - t0 };
}

/**
 * `pgrep -f PATTERN`: pids of processes whose command line matches, minus our
 * own. Used after each scenario to prove no helper binary of ours survived.
 */
export async function pgrepFull(pattern: string): Promise<number[]> {
  const r = await new Deno.Command("pgrep", { args: ["-f", pattern], stdout: "piped" }).output();
  return new TextDecoder().decode(r.stdout).split("\n").filter((l) => l !== "").map(Number)
    .filter((p) => p !== Deno.pid);
}
