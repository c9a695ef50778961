/**
 * Which executable a URL path names under a root (`--dir`, `--cgidir`).
 * Nothing outside the root is ever run: the path is clean already (the
 * route redirects `..` away first), odd segments are refused again here,
 * and every match is checked once more after resolving symlinks.
 *
 * @module
 */

/** A program found for a URL path. */
export interface ScriptMatch {
  /** Absolute file path to execute (root + URL path, symlinks not resolved). */
  file: string;
  /** SCRIPT_NAME: the URL path up to and including the script. */
  scriptName: string;
  /** PATH_INFO: what follows, with its leading `/`, or "". */
  pathInfo: string;
}

/** Why no script matched. */
export type ScriptMiss = "not-found" | "not-executable" | "outside-root";

/** Resolves URL paths to executables under one root directory. */
export class ScriptRoot {
  /** The root as configured (absolute). */
  readonly root: string;
  #realRoot: string;

  /** @param root Absolute path of the directory. */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "");
    this.#realRoot = Deno.realPathSync(root).replace(/\/+$/, "");
  }

  /**
   * Finds the script for a clean, decoded URL path. Walking left to right,
   * directories are entered and the first regular file is the script.
   * With `pathInfo` (websocketd's `--dir`) what follows it is PATH_INFO;
   * without (CGI, as in websocketd) the whole path must name the file.
   */
  resolve(path: string, opts: { pathInfo: boolean }): ScriptMatch | ScriptMiss {
    if (!path.startsWith("/")) return "not-found";
    const segments = path.slice(1).split("/");
    let rel = "";
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      if (seg === "" || seg === "." || seg === "..") return "not-found";
      rel += "/" + seg;
      const full = this.root + rel;
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(full); // follows symlinks: the target is what would run
      } catch {
        return "not-found"; // missing, unreadable, or not allowed by --allow-read
      }
      if (info.isDirectory) continue;
      if (!info.isFile) return "not-found";
      if (!opts.pathInfo && i < segments.length - 1) return "not-found";
      let real: string;
      try {
        real = Deno.realPathSync(full);
      } catch {
        return "not-found";
      }
      if (!real.startsWith(this.#realRoot + "/")) return "outside-root";
      if (((info.mode ?? 0) & 0o111) === 0) return "not-executable";
      return { file: full, scriptName: rel, pathInfo: path.slice(rel.length) };
    }
    return "not-found";
  }
}
