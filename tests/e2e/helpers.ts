/**
 * Shared pieces of the end-to-end tests that run websocketd behind a real
 * Apache or nginx and drive a real Chromium: tool discovery with the
 * SKIP/REQUIRE_E2E policy, config templates read out of docs/deploy/*.md,
 * daemon processes with owned lifetimes, and a browser that loads the
 * example pages. Certificates come from ../helpers/certs.ts.
 *
 * Every daemon runs from its own generated config in a temp dir on loopback;
 * the system's Apache and nginx configuration is never read or written.
 *
 * @module
 */

import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";
import { freePort, ROOT, sleep, startServer } from "../../testing/server.ts";
import type { TestServer } from "../../testing/server.ts";

/** Where the example programs and pages live. */
export const EXAMPLES = `${ROOT}/examples`;
/** Where the deployment guides (and so the tested configs) live. */
export const DEPLOY_DOCS = `${ROOT}/docs/deploy`;

const dec = new TextDecoder();

// ---------------------------------------------------------------------------
// Skipping, or failing when CI demands the full suite

/**
 * Reports that a test cannot run here. Prints `SKIP: <reason>` and returns
 * normally, unless `REQUIRE_E2E=1` (set by CI), where a missing tool is a
 * broken environment and so a failure.
 */
export function skipOrFail(reason: string): void {
  if (Deno.env.get("REQUIRE_E2E") === "1") {
    throw new Error(`REQUIRE_E2E=1 but ${reason}`);
  }
  console.log(`SKIP: ${reason}`);
}

/** The first of `candidates` that is an executable file, or null. */
async function firstExecutable(candidates: string[]): Promise<string | null> {
  for (const path of candidates) {
    try {
      const st = await Deno.stat(path);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return path;
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

/**
 * Finds a program by an override variable, then PATH, then the sbin
 * directories (Debian keeps apache2 and nginx there, outside a user's PATH).
 */
export function findTool(name: string, override?: string): Promise<string | null> {
  const fromEnv = override ? Deno.env.get(override) : undefined;
  if (fromEnv) return firstExecutable([fromEnv]);
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean),
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
  ];
  return firstExecutable(dirs.map((d) => `${d}/${name}`));
}

/** Tools one test needs; `missing` lists what could not be found, for the skip reason. */
export interface Tools {
  /** Absolute paths by tool name. */
  paths: Record<string, string>;
  /** Human-readable descriptions of what is missing (empty when all were found). */
  missing: string[];
}

/**
 * Looks up the tools a test needs. Known names: `apache2` (with its module
 * directory, `APACHE_MODULES` overrides), `nginx`, `haproxy`, `chromium`
 * (`CHROMIUM_PATH` overrides), `openssl`.
 */
export async function findTools(names: string[]): Promise<Tools> {
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    let path: string | null;
    if (name === "chromium") {
      const override = Deno.env.get("CHROMIUM_PATH");
      path = await firstExecutable(
        override ? [override] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"],
      );
    } else {
      path = await findTool(name, name === "apache2" ? "APACHE2" : undefined);
    }
    if (!path) {
      missing.push(`${name} not found`);
      continue;
    }
    paths[name] = path;
    if (name === "apache2") {
      const modules = apacheModulesDir();
      if (!(await exists(`${modules}/mod_proxy_wstunnel.so`))) {
        missing.push(`apache2 modules not found in ${modules} (set APACHE_MODULES)`);
      }
    }
  }
  return { paths, missing };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Apache's module directory: Debian's unless `APACHE_MODULES` says otherwise. */
export function apacheModulesDir(): string {
  return Deno.env.get("APACHE_MODULES") ?? "/usr/lib/apache2/modules";
}

// ---------------------------------------------------------------------------
// Config templates that live in the docs

/**
 * Returns the fenced code block that follows `<!-- e2e:NAME -->` in a
 * deployment guide. Tests run exactly this text (after filling its
 * placeholders), so the guide cannot drift from what is tested.
 */
export async function docBlock(file: string, name: string): Promise<string> {
  const text = await Deno.readTextFile(`${DEPLOY_DOCS}/${file}`);
  const marker = `<!-- e2e:${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${file}: no block marked ${marker}`);
  if (text.indexOf(marker, at + marker.length) >= 0) {
    throw new Error(`${file}: ${marker} appears twice`);
  }
  const m = /^\s*```[^\n]*\n([\s\S]*?)^```\s*$/m.exec(text.slice(at + marker.length));
  if (!m || m.index > 4) throw new Error(`${file}: ${marker} is not followed by a fenced block`);
  return m[1]!;
}

/**
 * Fills `{{NAME}}` placeholders. Fails on a placeholder without a value, so
 * a new placeholder in the docs cannot silently reach a daemon unfilled.
 */
export function render(template: string, values: Record<string, string | number>): string {
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`no value for placeholder ${whole}`);
    return String(v);
  });
  const odd = /\{\{[^}]*\}\}/.exec(out);
  if (odd) throw new Error(`malformed placeholder ${odd[0]}`);
  return out;
}

// ---------------------------------------------------------------------------
// Temp dirs (certificates: ../helpers/certs.ts)

/**
 * A temp directory tree for one daemon run. World-traversable because the
 * tests may run as root, and then Apache's and nginx's workers drop to an
 * unprivileged user that must still read the document root.
 */
export async function makeRunDir(prefix: string): Promise<{ dir: string; www: string }> {
  const dir = await Deno.makeTempDir({ prefix: `wsd-e2e-${prefix}-` });
  const www = `${dir}/www`;
  await Deno.mkdir(www);
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(www, 0o755);
  return { dir, www };
}

/** Copies example pages into a document root, readable by any worker user. */
export async function publishPages(www: string, pages: string[]): Promise<void> {
  for (const page of pages) {
    await Deno.copyFile(`${EXAMPLES}/${page}`, `${www}/${page}`);
    await Deno.chmod(`${www}/${page}`, 0o644);
  }
}

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${dec.decode(out.stdout)}${
        dec.decode(out.stderr)
      }`,
    );
  }
}

// ---------------------------------------------------------------------------
// The count program

/**
 * Compiles examples/count.c into `dir`. Without a C compiler, falls back to
 * examples/count.sh (same output and timing) and says so, so a missing
 * compiler never hides the proxy behaviour under test.
 */
export async function countProgram(dir: string): Promise<string> {
  const out = await compileExample(dir, "count");
  if (!out) {
    console.log("NOTE: no C compiler (cc/gcc): serving examples/count.sh instead of count.c");
    return `${EXAMPLES}/count.sh`;
  }
  return out;
}

/**
 * Compiles examples/NAME.c to `dir`/NAME with the C compiler (`CC`, cc or
 * gcc); null when there is none.
 */
export async function compileExample(dir: string, name: string): Promise<string | null> {
  const cc = (await findTool("cc", "CC")) ?? (await findTool("gcc"));
  if (!cc) return null;
  const out = `${dir}/${name}`;
  await run(cc, ["-O2", "-o", out, `${EXAMPLES}/${name}.c`]);
  return out;
}

// ---------------------------------------------------------------------------
// Daemons (apache2, nginx) run in the foreground, owned by the test

/** A foreground web server started by a test. */
export class Daemon {
  /** What it is, for messages. */
  readonly name: string;
  /** Its run directory (config, logs, pid file). */
  readonly dir: string;
  #child: Deno.ChildProcess;
  #output = "";
  #pumps: Promise<void>[];
  #status: Promise<Deno.CommandStatus>;
  #exited = false;
  #logs: string[];

  /** Wraps a spawned child; use {@link startDaemon}. */
  constructor(name: string, dir: string, child: Deno.ChildProcess, logs: string[]) {
    this.name = name;
    this.dir = dir;
    this.#child = child;
    this.#logs = logs;
    this.#status = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#pumps = [this.#pump(child.stdout), this.#pump(child.stderr)];
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) this.#output += text;
  }

  /** Its process id (the master's, for a forking server). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Everything it wrote to stdout and stderr so far (HAProxy logs there). */
  get output(): string {
    return this.#output;
  }

  /** stdout+stderr so far and the daemon's own log files: what to show when something fails. */
  async diagnostics(): Promise<string> {
    let text = `--- ${this.name} stdout/stderr ---\n${this.#output}`;
    for (const log of this.#logs) {
      try {
        text += `\n--- ${log} ---\n${await Deno.readTextFile(log)}`;
      } catch {
        // a log that was never written says nothing
      }
    }
    return text;
  }

  /**
   * Stops the server with SIGTERM (what `apachectl -k stop` and a fast
   * nginx stop send to the master) and waits for it and its output.
   */
  async stop(): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // it exited between the check and the signal
      }
    }
    const timer = setTimeout(() => {
      if (!this.#exited) this.#child.kill("SIGKILL");
    }, 15000);
    try {
      const status = await this.#status;
      await Promise.all(this.#pumps);
      // E2E_VERBOSE=1 shows what the proxy logged even when everything passed
      if (Deno.env.get("E2E_VERBOSE") === "1") console.log(await this.diagnostics());
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the daemon to exit (used when it fails to start). */
  async exitedStatus(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await Promise.all(this.#pumps);
    return status;
  }
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** What {@link startDaemon} needs for one attempt. */
export interface DaemonSpec {
  /** The program and its arguments. */
  command: string;
  args: string[];
  /** Ports that must accept connections before the daemon counts as ready. */
  ports: number[];
  /** Log files to show on failure. */
  logs: string[];
}

/**
 * Starts a foreground daemon and waits until all its ports accept. `attempt`
 * builds the config for fresh ports each time: a port found free can be
 * taken by someone else before the daemon binds it, and then we retry.
 */
export async function startDaemon(
  name: string,
  dir: string,
  attempt: () => Promise<DaemonSpec>,
): Promise<Daemon> {
  for (let tries = 1;; tries++) {
    const spec = await attempt();
    const child = new Deno.Command(spec.command, {
      args: spec.args,
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const daemon = new Daemon(name, dir, child, spec.logs);
    const deadline = Date.now() + 20000;
    while (!daemon.exited && Date.now() < deadline) {
      const up = await Promise.all(spec.ports.map(accepts));
      if (up.every(Boolean)) return daemon;
      await sleep(100);
    }
    const status = daemon.exited ? await daemon.exitedStatus() : await daemon.stop();
    const why = await daemon.diagnostics();
    if (/in use|could not bind/i.test(why) && tries < 3) continue;
    throw new Error(`${name} did not start (exit ${status.code}):\n${why}`);
  }
}

/**
 * Starts a foreground Apache whose config is `templates` (blocks of the
 * deploy guides) rendered with `values` plus what every run needs: the run
 * directory, document root, module directory, worker account and a fresh
 * port under `portKey`. Resolves with the daemon and that port.
 */
export async function startApache(
  name: string,
  apache2: string,
  run: { dir: string; www: string },
  templates: string[],
  values: Record<string, string | number>,
  portKey = "HTTP_PORT",
): Promise<{ apache: Daemon; port: number }> {
  const account = await workerAccount();
  let port = 0;
  const apache = await startDaemon(name, run.dir, async () => {
    port = freePorts(1)[0]!;
    const all = {
      RUN_DIR: run.dir,
      DOC_ROOT: run.www,
      MODULES: apacheModulesDir(),
      RUN_USER: account.user,
      RUN_GROUP: account.group,
      [portKey]: port,
      ...values,
    };
    const conf = `${run.dir}/apache2.conf`;
    await Deno.writeTextFile(conf, templates.map((t) => render(t, all)).join("\n"));
    return {
      command: apache2,
      args: ["-f", conf, "-DFOREGROUND"],
      ports: [port],
      logs: [`${run.dir}/error.log`],
    };
  });
  return { apache, port };
}

/**
 * Starts a foreground nginx from the guides' main block and a site block
 * (written to `site.conf`, which the main block includes), rendered with
 * `values` plus the run directory and a fresh port under `portKey`.
 */
export async function startNginx(
  name: string,
  nginx: string,
  dir: string,
  blocks: { main: string; site: string },
  values: Record<string, string | number>,
  portKey: "HTTP_PORT" | "HTTPS_PORT",
): Promise<{ nginx: Daemon; port: number }> {
  let port = 0;
  const daemon = await startDaemon(name, dir, async () => {
    port = freePorts(1)[0]!;
    const all = { RUN_DIR: dir, [portKey]: port, ...values };
    await Deno.writeTextFile(`${dir}/site.conf`, render(blocks.site, all));
    await Deno.writeTextFile(`${dir}/nginx.conf`, render(blocks.main, all));
    return {
      command: nginx,
      args: ["-c", `${dir}/nginx.conf`, "-p", dir, "-e", `${dir}/error.log`, "-g", "daemon off;"],
      ports: [port],
      logs: [`${dir}/error.log`],
    };
  });
  return { nginx: daemon, port };
}

/**
 * Starts a foreground HAProxy (`-db`) from the guide's global/defaults block
 * and a frontend/backend block, rendered with `values` plus the run
 * directory and a fresh port under `HTTP_PORT`. HAProxy reads both files in
 * order, as it reads Debian's /etc/haproxy/haproxy.cfg.
 */
export async function startHaproxy(
  name: string,
  haproxy: string,
  dir: string,
  blocks: { main: string; site: string },
  values: Record<string, string | number>,
): Promise<{ haproxy: Daemon; port: number }> {
  let port = 0;
  const daemon = await startDaemon(name, dir, async () => {
    port = freePorts(1)[0]!;
    const all = { RUN_DIR: dir, HTTP_PORT: port, ...values };
    await Deno.writeTextFile(`${dir}/main.cfg`, render(blocks.main, all));
    await Deno.writeTextFile(`${dir}/site.cfg`, render(blocks.site, all));
    return {
      command: haproxy,
      args: ["-db", "-f", `${dir}/main.cfg`, "-f", `${dir}/site.cfg`],
      ports: [port],
      logs: [],
    };
  });
  return { haproxy: daemon, port };
}

/** Picks `n` distinct free loopback ports. */
export function freePorts(n: number): number[] {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(freePort());
  return [...ports];
}

/**
 * The unprivileged account Apache's and nginx's workers switch to when the
 * tests run as root (mod_unixd refuses to serve as root). Ignored otherwise.
 */
export async function workerAccount(): Promise<{ user: string; group: string }> {
  const out = await new Deno.Command("id", { args: ["-gn", "nobody"], stderr: "null" })
    .output().catch(() => null);
  const group = out?.success ? dec.decode(out.stdout).trim() : "#65534";
  return { user: "nobody", group: group || "#65534" };
}

// ---------------------------------------------------------------------------
// The browser

/** Launches headless Chromium the way every e2e test does. */
export function launchBrowser(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      // the throwaway CA is not in the browser's store
      "--ignore-certificate-errors",
    ],
  });
}

/** One console line from a page, with when the page logged it. */
export interface ConsoleLine {
  /** The logged text. */
  text: string;
  /** The page's Date.now() at the console.log call. */
  at: number;
}

/** What a count page showed. */
export interface PageRun {
  /** console.log lines in order, timestamped in the page. */
  console: ConsoleLine[];
  /** The lines the page appended to its body. */
  body: string[];
  /** Date.now() when navigation started. */
  started: number;
}

/**
 * Opens `url` (one of the example pages) in a fresh browser context and
 * waits until the page reports that its WebSocket closed.
 */
export async function runPage(browser: Browser, url: string, timeoutMs = 30000): Promise<PageRun> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    // Timestamp each console.log inside the page: the moment onmessage ran is
    // what shows buffering, and a busy test process would blur it if the
    // time were taken when the console event reached us.
    await context.addInitScript(() => {
      const log = console.log.bind(console);
      const times: [string, number][] = [];
      Object.defineProperty(globalThis, "__consoleTimes", { value: times });
      console.log = (...args: unknown[]) => {
        times.push([args.map(String).join(" "), Date.now()]);
        log(...args);
      };
    });
    const page = await context.newPage();
    const texts: string[] = [];
    const { promise: closed, resolve } = Promise.withResolvers<void>();
    page.on("console", (msg) => {
      texts.push(msg.text());
      if (msg.text().startsWith("Closed: ")) resolve();
    });
    const started = Date.now();
    await page.goto(url, { timeout: timeoutMs });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    });
    const result = await Promise.race([closed.then(() => "closed" as const), timedOut]);
    clearTimeout(timer);
    if (result === "timeout") {
      throw new Error(
        `${url}: no "Closed:" line within ${timeoutMs} ms; console so far:\n${texts.join("\n")}`,
      );
    }
    const times = await page.evaluate(() =>
      (globalThis as unknown as { __consoleTimes: [string, number][] }).__consoleTimes
    );
    const body = (await page.locator("body").innerText()).split("\n").map((l) => l.trim())
      .filter(Boolean);
    return { console: times.map(([text, at]) => ({ text, at })), body, started };
  } finally {
    await context.close();
  }
}

/**
 * Connects from inside a page on `pageUrl` to `wsUrl` and returns every
 * message until the server closes (for the dump-env program).
 */
export async function collectMessages(
  browser: Browser,
  pageUrl: string,
  wsUrl: string,
): Promise<{ messages: string[]; code: number }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(pageUrl);
    return await page.evaluate(
      (url: string) =>
        new Promise<{ messages: string[]; code: number }>((resolve) => {
          const messages: string[] = [];
          const ws = new WebSocket(url);
          ws.onmessage = (e) => messages.push(String(e.data));
          ws.onclose = (e) => resolve({ messages, code: e.code });
        }),
      wsUrl,
    );
  } finally {
    await context.close();
  }
}

/**
 * The assertions every proxy case shares: `Count is: 1` … `Count is: 10` in
 * order on the console and on the page, spread over time (nothing buffered
 * the stream), then a clean close with 1000.
 */
export function checkCountRun(run: PageRun, what: string): string[] {
  const problems: string[] = [];
  const expected = Array.from({ length: 10 }, (_, i) => `Count is: ${i + 1}`);
  const counts = run.console.filter((l) => l.text.startsWith("Count is: "));
  const texts = counts.map((l) => l.text);
  if (JSON.stringify(texts) !== JSON.stringify(expected)) {
    problems.push(`${what}: console counts ${JSON.stringify(texts)}`);
  }
  const closedLine = run.console.find((l) => l.text.startsWith("Closed: "));
  if (closedLine?.text !== "Closed: 1000") {
    problems.push(`${what}: expected "Closed: 1000", got ${JSON.stringify(closedLine?.text)}`);
  }
  if (counts.length >= 2) {
    // ten lines 500 ms apart span 4.5 s; under 3 s means they were held back and sent in bursts
    const spread = counts[counts.length - 1]!.at - counts[0]!.at;
    if (spread < 3000) problems.push(`${what}: first to last count took only ${spread} ms`);
  }
  if (JSON.stringify(run.body) !== JSON.stringify([...expected, "Closed: 1000"])) {
    problems.push(`${what}: page body ${JSON.stringify(run.body)}`);
  }
  return problems;
}

/** Parses dump-env output (`NAME=value` lines) into a map. */
export function parseEnv(lines: string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

// ---------------------------------------------------------------------------
// Our server as the backend, and teardown

/** How to start one backend websocketd. */
export interface BackendOptions {
  /** Serve TLS with these files (`--ssl --sslcert --sslkey`). */
  certs?: { certFile: string; keyFile: string };
  /**
   * Run with the narrow permissions docs/deploy/systemd.md recommends
   * instead of everything, so the documented flags are known to suffice.
   */
  scoped?: boolean;
  /** More flags for the server, before the program. */
  flags?: string[];
  /** Arguments for the program (after it on the command line). */
  args?: string[];
  /** Listen on this port instead of a free one (to restart an instance in place). */
  port?: number;
}

/** Starts our server on loopback running `program`, as the proxy's backend. */
export function startBackend(program: string, opts: BackendOptions = {}): Promise<TestServer> {
  const port = opts.port ?? freePort();
  const certs = opts.certs;
  const tls = certs ? ["--ssl", `--sslcert=${certs.certFile}`, `--sslkey=${certs.keyFile}`] : [];
  const perms = opts.scoped
    ? [
      `--allow-net=127.0.0.1:${port}`,
      `--allow-run=${program}`,
      ...(certs ? [`--allow-read=${certs.certFile},${certs.keyFile}`] : []),
      "--allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE",
    ]
    : undefined;
  return startServer([...tls, ...(opts.flags ?? []), program, ...(opts.args ?? [])], {
    port,
    perms,
  });
}

/**
 * Undo steps run in reverse order of registration, all of them even when
 * one fails, so a failing test still stops every process it started.
 */
export class Teardown {
  #steps: (() => Promise<unknown> | unknown)[] = [];

  /** Registers a step; returns `value` for chaining at the point of creation. */
  add<T>(value: T, step: (value: T) => Promise<unknown> | unknown): T {
    this.#steps.push(() => step(value));
    return value;
  }

  /** Runs every step, last first; rethrows the first error afterwards. */
  async run(): Promise<void> {
    let first: unknown = null;
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (e) {
        first ??= e;
      }
    }
    this.#steps = [];
    if (first) throw first;
  }
}

/**
 * One line for the test output: when the first count came (after the page
 * started loading), how long the counts took, and when the close came after
 * the last count.
 */
export function describeRun(run: PageRun): string {
  const counts = run.console.filter((l) => l.text.startsWith("Count is: "));
  const closed = run.console.find((l) => l.text.startsWith("Closed: "));
  if (!counts.length) return `no counts, then ${closed?.text ?? "no close"}`;
  const first = counts[0]!.at;
  const last = counts[counts.length - 1]!.at;
  const close = closed ? `${closed.text} ${closed.at - last} ms later` : "no close";
  return `first count after ${first - run.started} ms, ${counts.length} counts over ${
    last - first
  } ms, then ${close}`;
}

/**
 * Starts several backends at once and registers each that started with
 * `teardown`, so one failing to start never leaves the others running.
 */
export async function startBackends(
  teardown: Teardown,
  specs: [program: string, opts?: BackendOptions][],
): Promise<TestServer[]> {
  const results = await Promise.allSettled(specs.map(([p, o]) => startBackend(p, o)));
  for (const r of results) if (r.status === "fulfilled") teardown.add(r.value, (s) => s.stop());
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<TestServer>).value);
}
