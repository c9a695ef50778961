/**
 * The process endpoint: one program with piped stdio, stopped with
 * websocketd's signal ladder, sent to the whole process group when our
 * permissions allow it.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import { sleep, waitFor } from "../util/async.ts";
import { assertRunnable, groupsWithLiveMembers, setsidPath } from "./groups.ts";
import { type ByteReader, PipeReader } from "./pipe_reader.ts";

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

/** How a program is run and stopped. */
export interface ProgramOptions {
  /** Put it in its own process group so signals reach its descendants. */
  group: boolean;
  /** `--closems`: added to every wait of the stop ladder. */
  closeMs: number;
  /** Told about each escalation of the ladder (for the log). */
  onStep?: (step: LadderStep, pid: number) => void;
}

/** Steps of the stop ladder, for logs and tests. */
export type LadderStep = "eof" | "SIGINT" | "SIGTERM" | "SIGKILL" | "stuck";

/**
 * websocketd's stop ladder as data: close stdin and wait, then each signal
 * and its wait (`--closems` is added to every wait). SIGKILL's wait is for
 * the reap only: it cannot be ignored.
 */
export const LADDER: readonly { step: LadderStep; waitMs: number }[] = [
  { step: "eof", waitMs: 100 },
  { step: "SIGINT", waitMs: 250 },
  { step: "SIGTERM", waitMs: 500 },
  { step: "SIGKILL", waitMs: 1000 },
];

/**
 * Readies this process for starting programs. node:child_process copies
 * NODE_V8_COVERAGE from our environment into every child's: reading it needs
 * env permission, and passing it on would break the cleared environment
 * programs are promised, so it is removed from ours.
 * @returns Why programs cannot be started, or null.
 */
export function prepareSpawning(): string | null {
  const { state } = Deno.permissions.querySync({ name: "env", variable: "NODE_V8_COVERAGE" });
  if (state !== "granted") {
    return "programs are started through node:child_process, which reads NODE_V8_COVERAGE: " +
      "add it to --allow-env (for example --allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE)";
  }
  Deno.env.delete("NODE_V8_COVERAGE");
  return null;
}

/** How a program ended. */
export interface ExitStatus {
  /** Exit code (128+n for a signal, as Deno reports it). */
  code: number;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
}

/** Describes an exit status for humans and close reasons: `exit 3`, `signal SIGKILL`. */
export function describeStatus(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `exit ${s.code}`;
}

/**
 * A running program. Whoever spawns it owns it: they must call
 * {@link Program.stop} or await {@link Program.status}.
 */
export class Program {
  /** Process id (and process-group id in group mode). */
  readonly pid: number;
  /** Resolves when the program has exited and been reaped. */
  readonly status: Promise<ExitStatus>;
  /** stdout bytes. */
  readonly stdout: ByteReader;
  /** stderr bytes. */
  readonly stderr: ByteReader;
  #stdin: Writable;
  #opts: ProgramOptions;
  #exited = false;
  #stdinClosed = false;
  #stopping: Promise<LadderStep> | null = null;

  private constructor(child: ChildProcess, opts: ProgramOptions) {
    this.#opts = opts;
    this.pid = child.pid!;
    this.stdout = new PipeReader(child.stdout!);
    this.stderr = new PipeReader(child.stderr!);
    this.#stdin = child.stdin!;
    // EPIPE (the program closed its stdin) reaches the write's callback; without a listener
    // the stream's error event would end the server
    this.#stdin.on("error", () => {});
    this.status = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exited = true;
        const sig = signal as Deno.Signal | null;
        resolve({
          code: code ?? 128 + (sig ? (constants.signals as Record<string, number>)[sig] ?? 0 : 0),
          signal: sig,
        });
      });
    });
  }

  /**
   * Starts a program with piped stdin, stdout and stderr and a cleared environment.
   * @throws Deno.errors.NotFound / PermissionDenied / NotCapable when it cannot start.
   */
  static async spawn(spec: ProgramSpec, opts: ProgramOptions): Promise<Program> {
    let command = spec.command;
    let args = spec.args;
    let detached = false;
    if (opts.group) {
      const setsid = setsidPath();
      if (setsid) {
        // setsid(1) makes the program a session and group leader without a fork, so its pid
        // is the group id. A detached spawn forks the whole runtime instead: 4-7x slower,
        // and the event loop waits for it.
        assertRunnable(spec.command, spec.cwd);
        command = setsid;
        args = [spec.command, ...spec.args];
      } else detached = true;
    }
    // node:child_process, not Deno.Command: the same posix_spawn underneath, but its pipes
    // are read with callbacks instead of Web Streams, which halves the echo's p99 and costs
    // less memory per idle session (bench/RESULTS.md, "Where the time goes")
    const child = spawn(command, args, {
      env: spec.env,
      cwd: spec.cwd,
      stdio: ["pipe", "pipe", "pipe"],
      detached,
    });
    if (child.pid === undefined) throw spawnError(spec.command, await once(child, "error"));
    return new Program(child, opts);
  }

  /** Whether the program has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Writes bytes to stdin; the promise settles when the pipe took them. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#stdin.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Closes stdin: the program gets EOF after every byte already queued, so
   * input the client sent before leaving is never lost. Idempotent.
   */
  closeInput(): void {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    this.#stdin.end();
  }

  /** Sends a signal to the program (and its group in group mode); false if nobody was there. */
  signal(sig: Deno.Signal): boolean {
    try {
      if (this.#opts.group) Deno.kill(-this.pid, sig);
      else if (!this.#exited) Deno.kill(this.pid, sig);
      else return false;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops the program with the {@link LADDER}. Safe to call many times;
   * every call gets the same outcome: the step that finished the program.
   */
  stop(): Promise<LadderStep> {
    this.#stopping ??= this.#ladder();
    return this.#stopping;
  }

  /** Whether anything of the program is still running (its group, in group mode). */
  #alive(): boolean {
    if (!this.#opts.group) return !this.#exited;
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

  async #ladder(): Promise<LadderStep> {
    const extra = this.#opts.closeMs;
    for (const { step, waitMs } of LADDER) {
      if (step === "eof") this.closeInput();
      else {
        this.#opts.onStep?.(step, this.pid);
        this.signal(step as Deno.Signal);
      }
      if (step !== "SIGKILL") {
        if (await this.#waitGone(waitMs + extra)) return step;
        continue;
      }
      // SIGKILL cannot be ignored: once the program itself is reaped, what is left of its
      // group is dying (zombies that init reaps in its own time); one more SIGKILL a moment
      // later catches a member that was being forked at the time
      if (await waitFor(this.status, waitMs)) {
        if (this.#opts.group) Deno.unrefTimer(setTimeout(() => this.signal("SIGKILL"), 1000));
        return step;
      }
    }
    this.#opts.onStep?.("stuck", this.pid);
    return "stuck";
  }
}

/** The error a failed start reports, as Deno.Command would have thrown it. */
function spawnError(command: string, [e]: unknown[]): Error {
  const code = (e as { code?: string })?.code;
  if (code === "ENOENT") {
    return new Deno.errors.NotFound(`Failed to spawn '${command}': No such file or directory`);
  }
  if (code === "EACCES") {
    return new Deno.errors.PermissionDenied(`Failed to spawn '${command}': Permission denied`);
  }
  return e instanceof Error ? e : new Error(String(e));
}
