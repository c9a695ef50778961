/**
 * The frame parser's properties (tests/property/codec.ts) with a fixed seed.
 * `deno task fuzz` runs the same ones with random seeds.
 */

import { codecProperties } from "../../testing/property/codec.ts";
import { registerProperties } from "../../testing/property/harness.ts";

registerProperties("tests/property/codec_test.ts", codecProperties);
