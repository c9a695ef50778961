/**
 * The process endpoint: spawning one program with piped stdio and stopping
 * it with websocketd's signal ladder, sent to the whole process group when
 * our permissions allow it.
 *
 * @module
 */

/** What to run. */
export interface ProgramSpec {
  /** Executable path (already resolved). */
  command: string;
  /** Arguments after argv[0]. */
  args: string[];
  /** The complete environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Working directory; default: ours. */
  cwd?: string;
}

/**
 * Whether we may signal process groups. `Deno.kill(-pgid)` needs unscoped
 * `--allow-run`; with a scoped grant we can only signal the child itself.
 */
export function canSignalGroups(): boolean {
  return Deno.permissions.querySync({ name: "run" }).state === "granted";
}

let setsid: string | null | undefined;

let liveGroups: { at: number; groups: Set<number> } | null = null;

/**
 * Process groups that have a member that is not a zombie, from /proc (one
 * scan shared by every stopping program, at most every 20 ms). Where /proc
 * cannot be read, every group counts as live.
 */
function groupsWithLiveMembers(): { has(pgid: number): boolean } {
  const now = performance.now();
  if (liveGroups && now - liveGroups.at < 20) return liveGroups.groups;
  const groups = new Set<number>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      let stat: string;
      try {
        stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      } catch {
        continue; // exited while we looked
      }
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z") groups.add(Number(fields[2]));
    }
  } catch {
    return { has: () => true };
  }
  liveGroups = { at: now, groups };
  return groups;
}

/** Where setsid(1) may live; group mode needs read permission on these to find it. */
export const SETSID_PATHS = ["/usr/bin/setsid", "/bin/setsid"];

/** How group mode starts programs: the setsid(1) path, or "detached" (Deno's slower fork). */
export function groupSpawnMethod(): string {
  setsid ??= findSetsid();
  return setsid ?? "detached";
}

function findSetsid(): string | null {
  for (const p of SETSID_PATHS) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* not here, or not allowed to look */ }
  }
  return null;
}

/**
 * Fails like a direct spawn would when the program cannot run, so a missing
 * or non-executable program is reported as such rather than as setsid's exit.
 */
function assertRunnable(command: string, cwd?: string): void {
  const path = command.startsWith("/") || !cwd ? command : `${cwd}/${command}`;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Failed to spawn '${command}': No such file or directory`);
    }
    return; // not allowed to look: the exec will tell
  }
  if (!info.isFile || ((info.mode ?? 0o755) & 0o111) === 0) {
    throw new Deno.errors.PermissionDenied(`Failed to spawn '${command}': Permission denied`);
  }
  // a script whose #! interpreter is missing fails in exec, which happens inside setsid
  const interpreter = shebang(path);
  if (interpreter) {
    try {
      Deno.statSync(interpreter);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `Failed to spawn '${command}': bad interpreter ${interpreter}: No such file or directory`,
        );
      }
    }
  }
}

/** The interpreter named on a script's `#!` line, if any (null when unreadable). */
function shebang(path: string): string | null {
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path);
    const head = new Uint8Array(256);
    const n = file.readSync(head) ?? 0;
    if (n < 3 || head[0] !== 0x23 || head[1] !== 0x21) return null;
    const line = new TextDecoder().decode(head.subarray(2, n)).split("\n")[0]!;
    return line.trim().split(/[ \t]/)[0] || null;
  } catch {
    return null;
  } finally {
    file?.close();
  }
}

/** Resolves after `ms`, or early when `until` settles; never leaves a timer behind. */
export function waitFor(until: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    until.then(() => {
      clearTimeout(t);
      resolve(true);
    }, () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

let spawnQueue: Promise<void> = Promise.resolve();

/**
 * Waits for this program start's turn. Starting a process blocks the event
 * loop for a few milliseconds, so a burst of handshakes would freeze every
 * live session; taking turns one timer tick apart lets their I/O run between
 * the starts.
 */
export function spawnTurn(): Promise<void> {
  const turn = spawnQueue.then(() => {});
  // the gap follows each start, so a lone handshake never waits for a timer
  spawnQueue = turn.then(() => new Promise<void>((r) => setTimeout(r, 0)));
  return turn;
}

/** Sleeps for `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Steps of the stop ladder, for logs and tests. */
export type LadderStep = "eof" | "SIGINT" | "SIGTERM" | "SIGKILL" | "stuck";

/** A running program. Its owner must call {@link Program.stop} or await {@link Program.status}. */
export class Program {
  /** Process id (and process-group id in group mode). */
  readonly pid: number;
  /** Resolves when the program has exited and been reaped. */
  readonly status: Promise<Deno.CommandStatus>;
  /** stdout bytes. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** stderr bytes. */
  readonly stderr: ReadableStream<Uint8Array>;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #group: boolean;
  #exited = false;
  #stdinClosed = false;
  #stopping: Promise<LadderStep> | null = null;

  private constructor(child: Deno.ChildProcess, group: boolean) {
    this.#child = child;
    this.#group = group;
    this.pid = child.pid;
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    this.#stdin = child.stdin.getWriter();
    this.status = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
  }

  /**
   * Starts a program with piped stdin, stdout and stderr and a cleared environment.
   * @param group Put it in its own process group so signals reach its descendants.
   * @throws Deno.errors.NotFound / PermissionDenied / NotCapable when it cannot start.
   */
  static spawn(spec: ProgramSpec, group: boolean): Program {
    let command = spec.command;
    let args = spec.args;
    let detached = false;
    if (group) {
      setsid ??= findSetsid();
      if (setsid) {
        // setsid(1) makes the program a session and group leader without a fork, so its pid
        // is the group id. Deno's own `detached` forks the whole runtime instead: 4-7x slower,
        // and the event loop waits for it.
        assertRunnable(spec.command, spec.cwd);
        command = setsid;
        args = [spec.command, ...spec.args];
      } else detached = true;
    }
    const child = new Deno.Command(command, {
      args,
      env: spec.env,
      clearEnv: true,
      cwd: spec.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      detached,
    }).spawn();
    return new Program(child, group);
  }

  /** Whether the program has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Writes bytes to stdin; the promise settles when the pipe took them. */
  write(bytes: Uint8Array): Promise<void> {
    return this.#stdin.write(bytes);
  }

  /**
   * Closes stdin: the program gets EOF after every byte already queued, so
   * input the client sent before leaving is never lost. Idempotent.
   */
  closeStdin(): void {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    this.#stdin.close().catch(() => {});
  }

  /** Sends a signal to the program (and its group in group mode); false if nobody was there. */
  signal(sig: Deno.Signal): boolean {
    try {
      if (this.#group) Deno.kill(-this.pid, sig);
      else if (!this.#exited) this.#child.kill(sig);
      else return false;
      return true;
    } catch {
      return false;
    }
  }

  /** Whether anything of the program is still running (its group, in group mode). */
  #alive(): boolean {
    if (!this.#group) return !this.#exited;
    // SIGCONT is harmless to running processes and fails with ESRCH on an empty group
    try {
      Deno.kill(-this.pid, "SIGCONT");
    } catch {
      return false;
    }
    // with the leader reaped, the group may hold only orphaned zombies that init reaps
    // slowly (seconds on some machines): they are dead, not survivors
    return !this.#exited || groupsWithLiveMembers().has(this.pid);
  }

  async #waitGone(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    if (!this.#exited && !(await waitFor(this.status, ms))) return false;
    while (this.#alive()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await sleep(Math.min(20, left));
    }
    return true;
  }

  /**
   * Stops the program with websocketd's ladder: stdin EOF, then SIGINT after
   * 100+extra ms, SIGTERM after 250+extra more, SIGKILL after 500+extra more.
   * Safe to call many times; every call gets the same outcome.
   *
   * @param extraMs `--closems`, added to each wait.
   * @param onStep Told about each escalation.
   * @returns The step that finished the program.
   */
  stop(extraMs: number, onStep?: (step: LadderStep) => void): Promise<LadderStep> {
    this.#stopping ??= this.#ladder(extraMs, onStep ?? (() => {}));
    return this.#stopping;
  }

  async #ladder(extra: number, onStep: (step: LadderStep) => void): Promise<LadderStep> {
    this.closeStdin();
    if (await this.#waitGone(100 + extra)) return "eof";
    const steps: [Deno.Signal, number][] = [
      ["SIGINT", 250 + extra],
      ["SIGTERM", 500 + extra],
    ];
    for (const [sig, wait] of steps) {
      onStep(sig as LadderStep);
      this.signal(sig);
      if (await this.#waitGone(wait)) return sig as LadderStep;
    }
    onStep("SIGKILL");
    this.signal("SIGKILL");
    // SIGKILL cannot be ignored: once the program itself is reaped, what is left of its group
    // is dying (zombies that init reaps in its own time); one more SIGKILL a moment later
    // catches a member that was being forked at the time
    if (await waitFor(this.status, 1000)) {
      if (this.#group) Deno.unrefTimer(setTimeout(() => this.signal("SIGKILL"), 1000));
      return "SIGKILL";
    }
    onStep("stuck");
    return "stuck";
  }
}

/** Describes an exit status for humans and close reasons: `exit 3`, `signal SIGKILL`. */
export function describeStatus(s: Deno.CommandStatus): string {
  return s.signal ? `signal ${s.signal}` : `exit ${s.code}`;
}

/** Smallest and largest read buffers of {@link PipeReader}. */
const MIN_READ = 1024;
const MAX_READ = 64 * 1024;

/**
 * Reads a pipe into a reused buffer that grows while the program writes a
 * lot and shrinks when it goes quiet. An idle session then holds 1 KiB per
 * pending read instead of the stream's default 64 KiB.
 */
export class PipeReader {
  #reader: ReadableStreamBYOBReader;
  #buf = new Uint8Array(MIN_READ);

  /** @param stream A byte stream (a child's stdout or stderr). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader({ mode: "byob" });
  }

  /** The next chunk, valid only until the next call; null at EOF. */
  async read(): Promise<Uint8Array | null> {
    const { value, done } = await this.#reader.read(this.#buf);
    if (done || !value) return null;
    const size = value.buffer.byteLength;
    const want = value.length === size
      ? Math.min(size * 2, MAX_READ)
      : value.length * 4 < size
      ? Math.max(size / 2, MIN_READ)
      : size;
    this.#buf = want === size ? new Uint8Array(value.buffer) : new Uint8Array(want);
    return value;
  }

  /** Stops reading (the pipe is closed). */
  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => {});
  }
}
