/**
 * CGI header block properties (tests/property/cgi_head.ts) with a fixed seed.
 * `deno task fuzz` runs the same ones with random seeds.
 */

import { cgiHeadProperties } from "../../testing/property/cgi_head.ts";
import { registerProperties } from "../../testing/property/harness.ts";

registerProperties("tests/property/cgi_head_test.ts", cgiHeadProperties);
