/**
 * The shared session cases (tests/session_cases.ts) against both socket
 * endpoints: the standalone server and the embedded handler. The memory and
 * timing bounds among them run alone, in tests/serial/session_cases_bounds_test.ts.
 */

import { ENDPOINTS } from "./helpers/embedded.ts";
import { CASES, runCase } from "./session_cases.ts";

for (const c of CASES.filter((c) => !c.serial)) {
  for (const kind of ENDPOINTS) {
    Deno.test(`[${kind}] ${c.name}`, () => runCase(c, kind));
  }
}
