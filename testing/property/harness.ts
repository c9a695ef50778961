/**
 * One definition per property, two ways to run it: `deno task test` runs
 * each with a fixed seed and a small run count (a few seconds), `deno task
 * fuzz` (`scripts/fuzz.ts`) runs the same definitions with random seeds for
 * minutes. A failure prints the seed and the shrink path; set `FUZZ_SEED`
 * and `FUZZ_PATH` to replay exactly that counterexample in the quick test.
 *
 * Environment read by the quick tests:
 * - `FUZZ_SEED`: seed to run with (default {@link FIXED_SEED}).
 * - `FUZZ_PATH`: replay the counterexample at this path (with `FUZZ_SEED`).
 * - `FUZZ_RUNS`: run count for every property (default: each one's own).
 *
 * @module
 */

import fc from "fast-check";

/** The seed of `deno task test`: every CI run checks the same cases. */
export const FIXED_SEED = 6455;

/** How one property is run. */
export interface RunOptions {
  /** Seed of the random generator. */
  seed: number;
  /** Cases to try. */
  numRuns: number;
  /** Replay only the counterexample at this shrink path. */
  path?: string;
  /** Stop starting new cases after this many ms (the fuzz runner's time slices). */
  interruptAfterTimeLimit?: number;
}

/** What one run found. */
export interface Outcome {
  /** Whether a counterexample was found. */
  failed: boolean;
  /** Cases tried. */
  numRuns: number;
  /** The seed used. */
  seed: number;
  /** Shrink path of the minimal counterexample, when failed. */
  path?: string;
  /** fast-check's report: the minimal counterexample and the error. */
  report: string;
}

/** A property: a name, the run count of the quick test, and how to run it. */
export interface PropertyCase {
  /** Test name (also what `--filter` matches). */
  name: string;
  /** Run count under `deno task test`, chosen to stay well under 3 s. */
  runs: number;
  /** Checks the property under these options (setup and cleanup included). */
  run(opts: RunOptions): Promise<Outcome>;
}

function fcParams(o: RunOptions) {
  return {
    seed: o.seed,
    numRuns: o.numRuns,
    // a path replays that counterexample (and shrinks on from it, if it can)
    ...(o.path ? { path: o.path } : {}),
    ...(o.interruptAfterTimeLimit ? { interruptAfterTimeLimit: o.interruptAfterTimeLimit } : {}),
  };
}

function outcome<T>(d: fc.RunDetails<T>): Outcome {
  return {
    failed: d.failed,
    numRuns: d.numRuns,
    seed: d.seed,
    path: d.counterexamplePath ?? undefined,
    report: d.failed
      ? `${fc.defaultReportMessage(d) ?? "failed"}\n${errorText(d.errorInstance)}`
      : "",
  };
}

/** The error the predicate threw: its message and where (the first frames of its stack). */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return `Got error: ${String(e)}`;
  const frames = (e.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).slice(0, 4);
  return `Got error: ${e.message}\n${frames.join("\n")}`;
}

/** A synchronous property: `check` throws (an assertion) when it does not hold. */
export function property<T>(
  name: string,
  runs: number,
  arb: fc.Arbitrary<T>,
  check: (value: T) => void,
): PropertyCase {
  return {
    name,
    runs,
    run: (o) => {
      const p = fc.property(arb, (v) => {
        check(v);
      });
      return Promise.resolve(outcome(fc.check(p, fcParams(o))));
    },
  };
}

/**
 * An asynchronous property with a fixture built once per run (a temporary
 * directory tree, say) and always cleaned up.
 */
export function asyncProperty<T, C>(
  name: string,
  runs: number,
  arb: fc.Arbitrary<T>,
  fixture: { setup(): Promise<C>; cleanup(ctx: C): Promise<void> },
  check: (ctx: C, value: T) => Promise<void>,
): PropertyCase {
  return {
    name,
    runs,
    run: async (o) => {
      const ctx = await fixture.setup();
      try {
        const p = fc.asyncProperty(arb, async (v) => {
          await check(ctx, v);
        });
        return outcome(await fc.check(p, fcParams(o)));
      } finally {
        await fixture.cleanup(ctx);
      }
    },
  };
}

/** The command that replays a failure of `name` in its quick test file. */
export function replayCommand(testFile: string, name: string, o: Outcome): string {
  return `FUZZ_SEED=${o.seed} FUZZ_PATH=${o.path ?? ""} deno test --allow-all ${testFile} ` +
    `--filter ${JSON.stringify(name)}`;
}

/**
 * Registers one Deno test per property, run with the fixed seed (or the
 * `FUZZ_*` environment, to replay a fuzz failure).
 * @param testFile The test file's path from the project root, for the replay hint.
 */
export function registerProperties(testFile: string, cases: readonly PropertyCase[]): void {
  const seed = Deno.env.get("FUZZ_SEED");
  const path = Deno.env.get("FUZZ_PATH") || undefined;
  const runs = Deno.env.get("FUZZ_RUNS");
  for (const c of cases) {
    Deno.test(`property: ${c.name}`, async () => {
      const o = await c.run({
        seed: seed ? Number(seed) : FIXED_SEED,
        numRuns: runs ? Number(runs) : c.runs,
        path,
      });
      if (o.failed) {
        throw new Error(`${o.report}\n\nreplay: ${replayCommand(testFile, c.name, o)}`);
      }
    });
  }
}
