/**
 * The shared session cases that measure memory or time (backpressure, input
 * bounds), against both socket endpoints, one at a time.
 */

import { ENDPOINTS } from "../helpers/embedded.ts";
import { CASES, runCase } from "../session_cases.ts";

for (const c of CASES.filter((c) => c.serial)) {
  for (const kind of ENDPOINTS) {
    Deno.test(`[${kind}] ${c.name}`, () => runCase(c, kind));
  }
}
