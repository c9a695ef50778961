/**
 * `--dir` routing: the URL path picks an executable under the root. Nothing
 * outside the root is ever run: the path is already clean, and every match
 * is checked again after resolving symlinks.
 *
 * @module
 */

/** A program found for a URL path. */
export interface ScriptMatch {
  /** Absolute file path to execute. */
  file: string;
  /** SCRIPT_NAME: the URL path up to and including the script. */
  scriptName: string;
  /** PATH_INFO: what follows, with its leading `/`, or "". */
  pathInfo: string;
}

/** Why no script matched. */
export type ScriptMiss = "not-found" | "not-executable" | "outside-root";

/** Resolves `--dir` URL paths against one root directory. */
export class ScriptDir {
  #root: string;
  #realRoot: string;

  /** @param root Absolute path of the script directory. */
  constructor(root: string) {
    this.#root = root.replace(/\/+$/, "");
    this.#realRoot = Deno.realPathSync(root).replace(/\/+$/, "");
  }

  /**
   * Finds the script for a clean, decoded URL path. Walking left to right,
   * directories are entered and the first regular file is the script.
   */
  resolve(path: string): ScriptMatch | ScriptMiss {
    const segments = path.split("/").slice(1);
    let rel = "";
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      if (seg === "") return "not-found";
      rel += "/" + seg;
      const full = this.#root + rel;
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(full);
      } catch {
        return "not-found";
      }
      if (info.isDirectory) continue;
      if (!info.isFile) return "not-found";
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
