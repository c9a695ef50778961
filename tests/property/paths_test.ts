/**
 * Request-target properties (tests/property/paths.ts) with a fixed seed.
 * `deno task fuzz` runs the same ones with random seeds.
 */

import { registerProperties } from "../../testing/property/harness.ts";
import { pathProperties } from "../../testing/property/paths.ts";

registerProperties("tests/property/paths_test.ts", pathProperties);
