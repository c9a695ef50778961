/**
 * Paths on the command line: COMMAND looked up as Go's exec.LookPath does,
 * directories made absolute.
 *
 * @module
 */

import { normalizeSegments } from "../util/path.ts";

/** Whether a path is an existing directory (false when unreadable). */
export function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Makes a path absolute against our working directory. */
export function absolute(path: string): string {
  return normalizeSegments(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
}

function isExecutableFile(path: string): boolean | undefined {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o755) & 0o111) !== 0;
  } catch (e) {
    // without read permission we cannot look; let the spawn decide
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    return false;
  }
}

/**
 * Finds COMMAND like Go's exec.LookPath: a name with `/` is used as given;
 * otherwise the first executable match on our PATH wins.
 */
export function lookPath(name: string): string | null {
  if (name.includes("/")) return isExecutableFile(name) === false ? null : name;
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    path = undefined;
  }
  for (const dir of (path ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}
