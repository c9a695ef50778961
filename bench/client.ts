/**
 * Runs the load client (the C `wsload`, or the Deno fallback `wsload.ts`
 * when no C compiler is available) as its own process, so its CPU time is
 * its own and easy to report, and reads its line protocol: `STEP {json}`
 * per session level, `READY` when sessions are held, one JSON line at the end.
 *
 * @module
 */

/** How to start the client: argv prefix before the mode. */
export interface ClientCommand {
  /** e.g. `["bench/out/bin/wsload"]` or `["deno", "run", "-A", "bench/wsload.ts"]`. */
  argv: string[];
  /** "c" or "deno", for the report. */
  kind: "c" | "deno";
}

/** A client result: whatever numbers the mode printed, plus the CPU fields every mode has. */
export interface ClientResult {
  /** Client CPU seconds (user + system) during the measured interval. */
  client_cpu_s: number;
  /** Measured interval, seconds. */
  wall_s: number;
  /** client_cpu_s / wall_s as a percentage of one core. */
  client_cpu_pct: number;
  /** Mode-specific figures. */
  [key: string]: number | string | undefined;
}

/** Hooks for the hold mode's progress lines. */
export interface ClientHooks {
  /** A `STEP {json}` line. */
  onStep?(step: Record<string, number>): void;
  /**
   * `READY`: every session is open; the client holds them until `release()`
   * is called (measure the server in between).
   */
  onReady?(release: () => void): void | Promise<void>;
}

/**
 * Runs one client invocation; rejects with the client's error text on failure.
 * @param timeoutS The client is killed (and the call rejects) after this long.
 */
export async function runClient(
  cmd: ClientCommand,
  mode: string,
  args: Record<string, string | number | boolean>,
  hooks: ClientHooks = {},
  timeoutS = 300,
): Promise<ClientResult> {
  const argv = [...cmd.argv.slice(1), mode];
  for (const [k, v] of Object.entries(args)) {
    if (v === true) argv.push(`--${k}`);
    else if (v !== false) argv.push(`--${k}=${v}`);
  }
  const child = new Deno.Command(cmd.argv[0]!, {
    args: argv,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // a client that hangs (a server that stops answering) must fail its figure, not the run
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutS * 1000);
  const stdin = child.stdin.getWriter();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    stdin.write(new TextEncoder().encode("go\n")).catch(() => {}).finally(() => {
      stdin.close().catch(() => {});
    });
  };
  const stderrText = new Response(child.stderr).text();
  let last = "";
  let carry = "";
  const ready: Promise<unknown>[] = [];
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    carry += chunk;
    let nl: number;
    while ((nl = carry.indexOf("\n")) >= 0) {
      const line = carry.slice(0, nl).trim();
      carry = carry.slice(nl + 1);
      if (line.startsWith("STEP ")) hooks.onStep?.(JSON.parse(line.slice(5)));
      else if (line === "READY") {
        if (hooks.onReady) {
          // a failing hook must still let the client go, and fail this call (not the process)
          const hook = Promise.resolve().then(() => hooks.onReady!(release));
          ready.push(hook.catch((e) => {
            release();
            return e instanceof Error ? e : new Error(String(e));
          }));
        } else release();
      } else if (line.startsWith("{")) last = line;
    }
  }
  const hookErrors = (await Promise.all(ready)).filter((x) => x instanceof Error);
  release();
  const status = await child.status;
  clearTimeout(watchdog);
  const err = await stderrText;
  if (timedOut) throw new Error(`client ${mode} killed after ${timeoutS} s`);
  if (hookErrors.length > 0) throw hookErrors[0];
  if (!last) throw new Error(`client ${mode} printed no result (exit ${status.code}): ${err}`);
  const result = JSON.parse(last);
  if (result.error) throw new Error(`client ${mode}: ${result.error}`);
  if (!status.success) throw new Error(`client ${mode} exited ${status.code}: ${err}`);
  return result as ClientResult;
}
