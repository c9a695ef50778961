/**
 * Trusted-proxy properties (tests/property/proxy.ts) with a fixed seed.
 * `deno task fuzz` runs the same ones with random seeds.
 */

import nodeAssert from "node:assert/strict";
import { assert } from "../../testing/assert.ts";
import { TrustedProxies } from "../../lib/http/proxy.ts";
import { registerProperties } from "../../testing/property/harness.ts";
import { proxyProperties } from "../../testing/property/proxy.ts";

const assertThrows = (f: () => unknown, re: RegExp) => nodeAssert.throws(f, re);

registerProperties("tests/property/proxy_test.ts", proxyProperties);

Deno.test("proxy regression: an IPv4-mapped --trust-proxy entry trusts its own range only", () => {
  // found by the TrustedProxies property: the prefix of `::ffff:a.b.c.d` became negative
  const one = new TrustedProxies("::ffff:127.0.0.1");
  assert(one.has("127.0.0.1") && one.has("::ffff:127.0.0.1"));
  assert(!one.has("8.8.8.8") && !one.has("::ffff:8.8.8.8"));
  const range = new TrustedProxies("::ffff:10.0.0.0/104");
  assert(range.has("10.1.2.3") && !range.has("11.0.0.1"));
  // below /96 it would be more than IPv4: refused, like any bad prefix
  assertThrows(() => new TrustedProxies("::ffff:10.0.0.0/8"), /bad prefix length/);
});
