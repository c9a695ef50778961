/**
 * Our server, unchanged, plus a memory probe for `bench.ts --profile`: on
 * SIGUSR2 it writes `Deno.memoryUsage()` to `$BENCH_PROBE` as JSON, once as
 * found and once after a full garbage collection (run with
 * `--v8-flags=--expose-gc`). The difference tells garbage from memory that
 * sessions really hold, and heap from native memory. Not used for the
 * figures themselves: those run `main.ts` directly.
 *
 * @module
 */

import v8 from "node:v8";
import { main } from "../main.ts";

const path = Deno.env.get("BENCH_PROBE");
if (path) {
  let n = 0;
  Deno.addSignalListener("SIGUSR2", () => {
    const found = Deno.memoryUsage();
    const gc = (globalThis as { gc?: () => void }).gc;
    // two passes: the first can only schedule finalizers for what the second frees
    gc?.();
    gc?.();
    const collected = Deno.memoryUsage();
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]),
    );
    // a snapshot per probe: diffing two says which objects a session keeps alive
    const heapSnapshot = v8.writeHeapSnapshot(`${path}.${++n}.heapsnapshot`);
    Deno.writeTextFileSync(
      path,
      JSON.stringify({ found, collected, spaces, heapSnapshot, gc: gc !== undefined }),
    );
  });
}

Deno.exit(await main(Deno.args));
