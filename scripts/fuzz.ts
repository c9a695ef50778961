/**
 * `deno task fuzz`: the properties of testing/property/ (which tests/property/ runs quickly) run long, with
 * random seeds. `deno task test` runs the same properties with one fixed
 * seed for a few seconds; this runs each in turns of `--slice` seconds with
 * a fresh seed per turn, for `--seconds` in all.
 *
 * A failure prints fast-check's minimal counterexample, the seed and the
 * shrink path, and the command that replays exactly that case:
 * `FUZZ_SEED=… FUZZ_PATH=… deno test --allow-all tests/property/X_test.ts --filter "…"`.
 *
 * ```sh
 * deno task fuzz                         # 120 s over every property
 * deno task fuzz --seconds=600 --filter=codec
 * FUZZ_SECONDS=30 deno task fuzz
 * ```
 *
 * Options (or the environment variable in brackets):
 * - `--seconds=N` [FUZZ_SECONDS]: total running time (default 120).
 * - `--slice=N` [FUZZ_SLICE]: seconds per property per turn (default 10).
 * - `--filter=TEXT` [FUZZ_FILTER]: only properties whose name contains TEXT.
 *
 * Exits 1 when a property failed.
 *
 * @module
 */

import { cgiHeadProperties } from "../testing/property/cgi_head.ts";
import { codecProperties } from "../testing/property/codec.ts";
import { headerProperties } from "../testing/property/headers.ts";
import { type PropertyCase, replayCommand } from "../testing/property/harness.ts";
import { pathProperties } from "../testing/property/paths.ts";
import { proxyProperties } from "../testing/property/proxy.ts";

const SUITES: [string, PropertyCase[]][] = [
  ["tests/property/codec_test.ts", codecProperties],
  ["tests/property/paths_test.ts", pathProperties],
  ["tests/property/proxy_test.ts", proxyProperties],
  ["tests/property/headers_test.ts", headerProperties],
  ["tests/property/cgi_head_test.ts", cgiHeadProperties],
];

function option(name: string, env: string, fallback: string): string {
  const flag = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return flag?.slice(name.length + 3) ?? Deno.env.get(env) ?? fallback;
}

const seconds = Number(option("seconds", "FUZZ_SECONDS", "120"));
const slice = Number(option("slice", "FUZZ_SLICE", "10"));
const filter = option("filter", "FUZZ_FILTER", "");
const unknown = Deno.args.filter((a) => !/^--(seconds|slice|filter)=/.test(a));
if (unknown.length || !(seconds > 0) || !(slice > 0)) {
  console.error(`usage: deno task fuzz [--seconds=N] [--slice=N] [--filter=TEXT]`);
  Deno.exit(2);
}

interface Tally {
  file: string;
  c: PropertyCase;
  runs: number;
  turns: number;
  failed: boolean;
}

const tallies: Tally[] = SUITES.flatMap(([file, cases]) =>
  cases.filter((c) => c.name.includes(filter)).map((c) => ({
    file,
    c,
    runs: 0,
    turns: 0,
    failed: false,
  }))
);
if (!tallies.length) {
  console.error(`no property matches --filter=${filter}`);
  Deno.exit(2);
}

const randomSeed = () => crypto.getRandomValues(new Int32Array(1))[0]!;
const start = Date.now();
const deadline = start + seconds * 1000;
console.log(`fuzzing ${tallies.length} properties for ${seconds} s, turns of ${slice} s`);

while (Date.now() < deadline && tallies.some((t) => !t.failed)) {
  for (const t of tallies) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (t.failed) continue;
    const seed = randomSeed();
    const o = await t.c.run({
      seed,
      numRuns: 1e9,
      interruptAfterTimeLimit: Math.min(slice * 1000, left),
    });
    t.runs += o.numRuns;
    t.turns++;
    if (!o.failed) continue;
    t.failed = true;
    // the time limit may have cut the shrinking short: shrink on from where it stopped
    const full = await t.c.run({ seed, numRuns: 1e9, path: o.path });
    const best = full.failed ? full : o;
    console.log(`\nFAILED: ${t.c.name}\n${best.report}`);
    console.log(`replay: ${replayCommand(t.file, t.c.name, best)}\n`);
  }
}

const elapsed = ((Date.now() - start) / 1000).toFixed(0);
console.log(`\n${"runs".padStart(10)}  ${"turns".padStart(5)}  result  property`);
for (const t of tallies) {
  console.log(
    `${String(t.runs).padStart(10)}  ${String(t.turns).padStart(5)}  ${
      t.failed ? "FAILED" : "ok    "
    }  ${t.c.name}`,
  );
}
const failed = tallies.filter((t) => t.failed).length;
console.log(`\n${failed} of ${tallies.length} properties failed in ${elapsed} s`);
if (failed) Deno.exit(1);
