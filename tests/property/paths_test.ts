/**
 * Request-target properties (tests/property/paths.ts) with a fixed seed.
 * `deno task fuzz` runs the same ones with random seeds.
 */

import { registerProperties } from "./harness.ts";
import { pathProperties } from "./paths.ts";

registerProperties("tests/property/paths_test.ts", pathProperties);
