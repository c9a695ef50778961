/**
 * Starts the real server as a subprocess for behaviour tests (and the soak)
 * and collects its log. `WSD_TARGET=bundle` runs the bundled
 * `dist/websocketd.js` instead of `main.ts`, so the same tests cover the
 * shipped artifact.
 *
 * ```ts
 * await using server = await startServer([TESTPROG, m, "echo"]);
 * // ... at the end of the scope: SIGTERM, and exit status 0 is asserted
 * ```
 *
 * @module
 */

import nodeAssert from "node:assert/strict";

export const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const FIXTURES = `${ROOT}/tests/fixtures`;
/** The multi-mode test program. */
export const TESTPROG = `${FIXTURES}/testprog.sh`;

/** Options for {@link startServer}. */
export interface StartOptions {
  /** Deno permission flags; default: everything the server may need. */
  perms?: string[];
  /** Environment for the server (added to ours unless `clearEnv`). */
  env?: Record<string, string>;
  /** Start with only `env` (plus PATH). */
  clearEnv?: boolean;
  /** Working directory. */
  cwd?: string;
  /** Log line that means "ready". */
  ready?: RegExp;
  /** Do not add --address/--port. */
  noListenFlags?: boolean;
  /** Extra arguments before the program's own (e.g. a TLS flag set). */
  port?: number;
}

/** Default permission flags used by tests. */
export const ALL_PERMS = [
  "--allow-net",
  "--allow-run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
];

/** A free TCP port on 127.0.0.1 (best effort: it is released before use). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The entry point under test. */
export function entry(): string {
  return Deno.env.get("WSD_TARGET") === "bundle" ? `${ROOT}/dist/websocketd.js` : `${ROOT}/main.ts`;
}

/** A running server under test. */
export class TestServer {
  /** TCP port. */
  readonly port: number;
  /** Every log line so far. */
  readonly lines: string[] = [];
  /** stderr text so far. */
  stderr = "";
  #child: Deno.ChildProcess;
  #waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  #pumps: Promise<void>[];
  #status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(child: Deno.ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    this.#status = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#pumps = [this.#pump(child.stdout, true), this.#pump(child.stderr, false)];
  }

  /** The server's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  async #pump(stream: ReadableStream<Uint8Array>, isLog: boolean): Promise<void> {
    let carry = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      if (!isLog) {
        this.stderr += text;
        continue;
      }
      carry += text;
      let nl;
      while ((nl = carry.indexOf("\n")) >= 0) {
        const line = carry.slice(0, nl);
        carry = carry.slice(nl + 1);
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    }
  }

  /** ws:// URL for a path. */
  url(path = "/"): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** http:// URL for a path. */
  http(path = "/"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The server's label-less Prometheus figures by name (served with `--metrics=/metrics`). */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(this.http("/metrics"))).text();
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      const m = /^(websocketd_\w+) (\S+)$/.exec(line);
      if (m) out.set(m[1]!, Number(m[2]));
    }
    return out;
  }

  /** One figure of {@link metrics}; NaN when the server does not report it. */
  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? NaN;
  }

  /** Resolves with the first log line (past or future) matching `re`. */
  waitLog(re: RegExp, timeoutMs = 10000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.re !== re);
        reject(
          new Error(
            `no log line matching ${re} within ${timeoutMs}ms:\n${
              this.lines.join("\n")
            }\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  /** Log lines matching `re`. */
  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  /** Sends a signal to the server. */
  kill(sig: Deno.Signal = "SIGTERM"): void {
    if (!this.#exited) this.#child.kill(sig);
  }

  /**
   * Stops the server with `sig` and returns its exit status; everything is
   * released. A server still running `withinMs` later hangs in shutdown: it
   * is killed (SIGKILL) so the run goes on, and the hang is an error.
   */
  async stop(sig: Deno.Signal = "SIGTERM", withinMs = 15_000): Promise<Deno.CommandStatus> {
    this.kill(sig);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), withinMs)));
    const status = await Promise.race([this.#status, late]);
    clearTimeout(timer);
    if (!status) {
      const programs = await childCount(this.pid);
      this.kill("SIGKILL");
      await this.exited();
      throw new Error(
        `server did not exit within ${withinMs} ms of ${sig} (${programs} programs left):\n${
          this.lines.slice(-20).join("\n")
        }`,
      );
    }
    await Promise.all(this.#pumps);
    return status;
  }

  /**
   * For `await using server = await startServer([...])`: when the scope
   * ends, the server is stopped with SIGTERM and must exit with status 0
   * (a clean shutdown is part of every test that starts one).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const { code } = await this.stop();
    nodeAssert.equal(
      code,
      0,
      `the server exited with status ${code} on SIGTERM:\n${this.lines.slice(-20).join("\n")}\n${
        this.stderr.slice(-2000)
      }`,
    );
  }

  /** Waits for the server to exit on its own. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await Promise.all(this.#pumps);
    return status;
  }
}

/** One server process to start on a free port of 127.0.0.1 (see {@link launch}). */
export interface Launch {
  /** The `deno` arguments (run, permissions, script, flags) and environment for a port. */
  command(port: number): { args: string[]; env?: Record<string, string> };
  /** Start with only `env` from {@link command} (plus PATH). */
  clearEnv?: boolean;
  /** Working directory; default: the repository. */
  cwd?: string;
  /** Ready when this line is logged, or when this check says so (within 15 s). */
  ready: RegExp | ((server: TestServer) => Promise<boolean>);
  /** A fixed port: no new attempt on another port when it is taken. */
  port?: number;
  /** What it is, for the error when it does not start. */
  what: string;
}

/**
 * Starts a server process and waits until it is ready. A port taken between
 * {@link freePort} and listen (exit status 3, or AddrInUse on stderr) gets
 * up to three more attempts on other ports.
 */
export async function launch(l: Launch): Promise<TestServer> {
  for (let attempt = 0;; attempt++) {
    const port = l.port ?? freePort();
    const { args, env } = l.command(port);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: l.cwd ?? ROOT,
      env: l.clearEnv ? { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env } : env,
      clearEnv: l.clearEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new TestServer(child, port);
    const ready = l.ready instanceof RegExp
      ? server.waitLog(l.ready, 15000).then(() => true, () => false)
      : l.ready(server);
    const result = await Promise.race([
      ready.then((ok) => (ok ? "ready" as const : "timeout" as const)),
      server.exited().then(() => "exited" as const),
    ]);
    if (result === "ready") return server;
    const status = await server.stop();
    const taken = status.code === 3 || /AddrInUse|address already in use/i.test(server.stderr);
    if (taken && attempt < 3 && l.port === undefined) continue;
    throw new Error(
      `${l.what} did not start (${result}, exit ${status.code}):\n${
        server.lines.join("\n")
      }\n${server.stderr}`,
    );
  }
}

/** Starts `main.ts` (or the bundle) with `args` and waits until it serves. */
export function startServer(args: string[], opts: StartOptions = {}): Promise<TestServer> {
  return launch({
    command: (port) => ({
      args: [
        "run",
        "--quiet",
        ...(opts.perms ?? ALL_PERMS),
        entry(),
        ...(opts.noListenFlags ? [] : ["--address=127.0.0.1", `--port=${port}`]),
        ...args,
      ],
      env: opts.env,
    }),
    clearEnv: opts.clearEnv,
    cwd: opts.cwd,
    ready: opts.ready ?? /Starting WebSocket server|Serving CGI or static files|Developer console/,
    port: opts.port,
    what: "server",
  });
}

/** Runs the CLI to completion (for flag and exit-status tests). */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; perms?: string[]; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...(opts.perms ?? ALL_PERMS), entry(), ...args],
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    stdin: "null",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** How many child processes `pid` has (for a report; -1 when pgrep fails). */
async function childCount(pid: number): Promise<number> {
  try {
    const out = await new Deno.Command("pgrep", { args: ["-P", String(pid)], stdout: "piped" })
      .output();
    return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).length;
  } catch {
    return -1;
  }
}

/** Pids of live processes (other than servers under test) whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-a", "-f", marker], stdout: "piped" })
    .output();
  const deno = Deno.execPath();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)
    .filter((line) => !line.split(" ")[1]!.startsWith(deno))
    .map((line) => Number(line.split(" ")[0]))
    .filter((pid) => pid !== Deno.pid);
}

/** Waits until no process mentions `marker` (or the timeout passes); returns the survivors. */
export async function waitNoProcesses(marker: string, timeoutMs = 5000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = await processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A unique token to tag the processes of one test. */
export function marker(): string {
  return `wsdtest-${crypto.randomUUID().slice(0, 8)}`;
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
