/**
 * `deno task compile`: builds one self-contained executable for one
 * deployment, with the websocketd flags and the narrowest Deno permissions
 * baked in. `deno compile` needs its `denort` runtime: it downloads it, or
 * uses `DENORT_BIN` / a cached copy when the network is closed.
 *
 * Usage:
 *   deno task compile [--output=FILE] [--target=TRIPLE] [--group-signals] [--fast] [--print] \
 *     -- [websocketd flags] COMMAND [args...]
 *
 * @module
 */

import { absolute, lookPath, readCommandLine } from "../lib/cli/config.ts";
import { FLAGS, parseFlags } from "../lib/cli/flags.ts";
import { permissionFlags } from "../lib/cli/permissions.ts";

const PATH_FLAGS = new Set([
  "dir",
  "staticdir",
  "cgidir",
  "sslcert",
  "sslkey",
  "sslca",
  "unixsocket",
  "basic-auth-file",
  "bearer-token-file",
]);

/**
 * Rewrites websocketd arguments so they mean the same thing from any working
 * directory: path flags and COMMAND become absolute.
 */
export function absoluteArgs(argv: string[]): string[] {
  const { values, positionals } = parseFlags(argv);
  const out: string[] = [];
  for (const spec of FLAGS) {
    const v = values.get(spec.name);
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      const text = String(one);
      out.push(`--${spec.name}=${PATH_FLAGS.has(spec.name) ? absolute(text) : text}`);
    }
  }
  if (positionals.length) {
    const found = lookPath(positionals[0]!);
    out.push("--", found ? absolute(found) : positionals[0]!, ...positionals.slice(1));
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const sep = argv.indexOf("--");
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const wsd = sep < 0 ? [] : argv.slice(sep + 1);
  let output = "dist/websocketd";
  let target: string | undefined;
  let group = false;
  // the default trades a little speed for memory (46-50 KiB per idle session instead of
  // 65-75; measured in bench/RESULTS.md): what users run is what the targets judge
  let lowMemory = true;
  let print = false;
  for (const a of own) {
    if (a.startsWith("--output=")) output = a.slice(9);
    else if (a.startsWith("--target=")) target = a.slice(9);
    else if (a === "--group-signals") group = true;
    else if (a === "--fast") lowMemory = false;
    else if (a === "--print") print = true;
    else {
      console.error(`compile: unknown option ${a}`);
      return 2;
    }
  }
  if (wsd.length === 0) {
    console.error(
      "usage: deno task compile [--output=FILE] [--target=T] [--group-signals] [--fast] [--print] -- [websocketd flags] COMMAND [args]",
    );
    return 2;
  }
  let args: string[];
  try {
    args = absoluteArgs(wsd);
  } catch (e) {
    console.error(`compile: ${(e as Error).message}`);
    return 2;
  }
  const startup = readCommandLine(args);
  if (startup.kind === "exit") {
    console.error(
      `compile: these websocketd flags do not start a server:\n${startup.stdout ?? ""}${
        startup.stderr ?? ""
      }`,
    );
    return startup.code || 1;
  }
  const perms = permissionFlags(startup.config, { groupSignals: group });
  // V8 reads its flags only at startup, so the trade of speed for memory is made here
  if (lowMemory) perms.push("--v8-flags=--optimize-for-size");
  const main = new URL("../main.ts", import.meta.url).pathname;
  if (print) {
    console.log(["deno", "run", ...perms, main, ...args].map(quote).join(" "));
    return 0;
  }
  const compileArgs = [
    "compile",
    "--no-check",
    ...perms,
    "--output",
    output,
    ...(target ? ["--target", target] : []),
    main,
    ...args,
  ];
  console.error(`deno ${compileArgs.map(quote).join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), { args: compileArgs }).spawn().status;
  if (!status.success) {
    console.error(
      "compile: deno compile failed. Without network access it needs its runtime: set DENORT_BIN=/path/to/denort, or put denort-<target>.zip in $DENO_DIR/dl/release/v" +
        Deno.version.deno + "/",
    );
  }
  return status.code;
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
