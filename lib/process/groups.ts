/**
 * Process groups: whether we may signal them, how programs get one of their
 * own (setsid(1)), and which groups still have live members (/proc).
 *
 * @module
 */

/**
 * Whether we may signal process groups. `Deno.kill(-pgid)` needs unscoped
 * `--allow-run`; with a scoped grant we can only signal the child itself.
 */
export function canSignalGroups(): boolean {
  return Deno.permissions.querySync({ name: "run" }).state === "granted";
}

/** Where setsid(1) may live; group mode needs read permission on these to find it. */
export const SETSID_PATHS = ["/usr/bin/setsid", "/bin/setsid"];

let setsid: string | null | undefined;

/** The setsid(1) path, or null when it cannot be found (or read). Looked up once. */
export function setsidPath(): string | null {
  if (setsid === undefined) {
    setsid = null;
    for (const p of SETSID_PATHS) {
      try {
        if (Deno.statSync(p).isFile) {
          setsid = p;
          break;
        }
      } catch { /* not here, or not allowed to look */ }
    }
  }
  return setsid;
}

/** How group mode starts programs: the setsid(1) path, or "detached" (Deno's slower fork). */
export function groupSpawnMethod(): string {
  return setsidPath() ?? "detached";
}

/** What {@link assertRunnable} found for a path, valid while the file's stat is unchanged. */
const runnable = new Map<string, string>();

/**
 * Fails like a direct spawn would when the program cannot run, so a missing
 * or non-executable program started through setsid(1) is reported as such
 * rather than as setsid's exit status. One stat per start: the rest (the
 * `#!` line, its interpreter) is remembered while the file is unchanged.
 */
export function assertRunnable(command: string, cwd?: string): void {
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
  const seen = `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}`;
  if (runnable.get(path) === seen) return;
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
  if (runnable.size > 1000) runnable.clear();
  runnable.set(path, seen);
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

let liveGroups: { at: number; groups: Set<number> } | null = null;

/**
 * Process groups that have a member that is not a zombie, from /proc (one
 * scan shared by every stopping program, at most every 20 ms). Where /proc
 * cannot be read, every group counts as live.
 */
export function groupsWithLiveMembers(): { has(pgid: number): boolean } {
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
