/**
 * Path segment normalising, shared by file system paths (`--dir` and
 * friends made absolute) and URL paths (Go's path.Clean), so `.` and `..`
 * are resolved by one piece of code.
 *
 * @module
 */

/**
 * Resolves `.`, `..` and empty segments of a `/`-separated path into an
 * absolute path: `a/../b//c/.` → `/b/c`. `..` never climbs above `/`.
 */
export function normalizeSegments(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}
