/**
 * `--trust-proxy` parsing and believing (lib/http/proxy.ts) in process: IP
 * literals, ranges, the header list, nodes, and which hop is the client.
 * Behind real proxies: tests/e2e/trust_proxy_test.ts.
 */

import {
  forwardedClient,
  parseIp,
  parseNode,
  parseProxyHeaders,
  type ProxyHeader,
  type ProxyTrust,
  TrustedProxies,
} from "../../lib/http/proxy.ts";
import { assert, assertEquals } from "../../testing/assert.ts";
import nodeAssert from "node:assert/strict";

Deno.test("parseIp: IPv4 and IPv6 literals (brackets, ::, embedded IPv4); anything else is null", () => {
  assertEquals(parseIp("10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assertEquals(parseIp("::1"), new Uint8Array([...Array(15).fill(0), 1]));
  assertEquals(parseIp("[::1]"), parseIp("::1"));
  assertEquals(
    parseIp("2001:db8::"),
    new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...Array(12).fill(0)]),
  );
  assertEquals(
    parseIp("::ffff:1.2.3.4"),
    new Uint8Array([...Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]),
  );
  assertEquals(parseIp("1:2:3:4:5:6:7:8")?.length, 16);
  for (
    const bad of [
      "",
      "256.1.1.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4.5",
      "::1%eth0",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "localhost",
      "::ffff:1.2.3",
      "1:2:3:4:5:6:7::8",
    ]
  ) {
    assertEquals(parseIp(bad), null, bad);
  }
});

Deno.test("TrustedProxies: addresses and CIDR ranges; IPv4-mapped IPv6 is the IPv4 address", () => {
  const t = new TrustedProxies("10.0.0.0/8, 192.168.1.5 ,::1,2001:db8::/32,::ffff:172.16.0.0/108");
  for (
    const yes of [
      "10.255.0.1",
      "192.168.1.5",
      "::1",
      "[::1]",
      "2001:db8:ffff::1",
      "::ffff:10.0.0.1",
      "172.16.3.4",
    ]
  ) {
    assert(t.has(yes), yes);
  }
  for (const no of ["11.0.0.1", "192.168.1.6", "::2", "2001:db9::1", "172.32.0.1", "garbage", ""]) {
    assert(!t.has(no), no);
  }
  assert(new TrustedProxies("0.0.0.0/0").has("8.8.8.8"));
  assert(!new TrustedProxies("0.0.0.0/0").has("::2"), "an IPv4 range never covers IPv6");
  assert(!new TrustedProxies("").has("127.0.0.1"), "an empty list trusts nobody");
});

Deno.test("TrustedProxies: an IPv4-mapped entry is that IPv4 address or range, not every IPv4 peer", () => {
  // regression: the prefix was checked against 32 bits and then shifted by 96, so a single
  // mapped address trusted everybody and a mapped range (/104) was refused
  const one = new TrustedProxies("::ffff:10.0.0.1");
  assert(one.has("10.0.0.1") && one.has("::ffff:10.0.0.1"));
  assert(!one.has("8.8.8.8") && !one.has("::ffff:8.8.8.8") && !one.has("10.0.0.2"));
  const range = new TrustedProxies("::ffff:10.0.0.0/104");
  assert(range.has("10.200.0.1") && !range.has("11.0.0.1"));
  nodeAssert.throws(() => new TrustedProxies("::ffff:10.0.0.1/129"), /bad prefix length/);
});

Deno.test("TrustedProxies: a bad entry or prefix is refused with the entry named", () => {
  for (
    const [list, why] of [
      ["10.0.0.0/33", /'10\.0\.0\.0\/33' has a bad prefix length/],
      ["10.0.0.0/", /bad prefix length/],
      ["10.0.0.0/x", /bad prefix length/],
      ["::1/129", /bad prefix length/],
      ["example.com", /'example\.com' is not an IP address or CIDR range/],
    ] as const
  ) {
    nodeAssert.throws(() => new TrustedProxies(list), why, list);
  }
});

Deno.test("parseProxyHeaders: known names only, forwarded alone, and a client address header required", () => {
  assertEquals([...parseProxyHeaders("X-Forwarded-For, x-forwarded-proto")], [
    "x-forwarded-for",
    "x-forwarded-proto",
  ]);
  assertEquals([...parseProxyHeaders("Forwarded")], ["forwarded"]);
  nodeAssert.throws(() => parseProxyHeaders("x-real-ip"), /'x-real-ip' is not one of/);
  nodeAssert.throws(() => parseProxyHeaders("forwarded,x-forwarded-for"), /cannot be combined/);
  nodeAssert.throws(
    () => parseProxyHeaders("x-forwarded-proto"),
    /name x-forwarded-for or forwarded/,
  );
  nodeAssert.throws(() => parseProxyHeaders(""), /name x-forwarded-for or forwarded/);
});

Deno.test("parseNode: IP literals with optional port; IPv4 in dotted form; nothing else", () => {
  assertEquals(parseNode("1.2.3.4"), { addr: "1.2.3.4", port: "" });
  assertEquals(parseNode("1.2.3.4:80"), { addr: "1.2.3.4", port: "80" });
  assertEquals(parseNode("[2001:DB8::1]:443"), { addr: "2001:db8::1", port: "443" });
  assertEquals(parseNode("::1"), { addr: "::1", port: "" });
  assertEquals(parseNode("[::ffff:1.2.3.4]"), { addr: "1.2.3.4", port: "" });
  for (
    const bad of [
      "unknown",
      "_hidden",
      "1.2.3.4:0",
      "1.2.3.4:65536",
      "1.2.3.4:x",
      "[::1",
      "[::1]x",
      "[fe80::1%eth0]",
      "a.b:1",
    ]
  ) {
    assertEquals(parseNode(bad), null, bad);
  }
});

const trust = (list: string, ...headers: ProxyHeader[]): ProxyTrust => ({
  proxies: new TrustedProxies(list),
  headers: new Set<ProxyHeader>(headers.length ? headers : ["x-forwarded-for"]),
});

Deno.test("forwardedClient: only from a trusted peer; the client is the right-most untrusted hop", () => {
  const t = trust("10.0.0.0/8");
  const xff = (v: string) => ["X-Forwarded-For", v];
  assertEquals(forwardedClient(t, "8.8.8.8", xff("1.2.3.4")), null, "untrusted peer");
  assertEquals(forwardedClient(t, "10.0.0.1", []), null, "no header");
  assertEquals(forwardedClient(t, "10.0.0.1", xff("1.2.3.4")), { addr: "1.2.3.4", port: "" });
  // everything left of the first untrusted hop may be the client's own invention
  assertEquals(forwardedClient(t, "10.0.0.1", xff("6.6.6.6, 1.2.3.4, 10.0.0.2"))?.addr, "1.2.3.4");
  // repeated headers are one list
  assertEquals(
    forwardedClient(t, "10.0.0.1", [...xff("6.6.6.6"), ...xff("1.2.3.4:5678")]),
    { addr: "1.2.3.4", port: "5678" },
  );
  // all hops trusted: the left-most is as far as we can see
  assertEquals(forwardedClient(t, "10.0.0.1", xff("10.0.0.9, 10.0.0.2"))?.addr, "10.0.0.9");
  // an unusable right-most hop: believe nothing
  assertEquals(forwardedClient(t, "10.0.0.1", xff("1.2.3.4, unknown")), null);
  // the peer may arrive IPv4-mapped
  assertEquals(forwardedClient(t, "::ffff:10.0.0.1", xff("1.2.3.4"))?.addr, "1.2.3.4");
});

Deno.test("forwardedClient: scheme and host only from the headers the operator named", () => {
  const raw = [
    "X-Forwarded-For",
    "1.2.3.4",
    "X-Forwarded-Proto",
    "http, https",
    "X-Forwarded-Host",
    "evil.example, real.example:8443",
  ];
  assertEquals(forwardedClient(trust("10.0.0.1"), "10.0.0.1", raw), { addr: "1.2.3.4", port: "" });
  assertEquals(
    forwardedClient(
      trust("10.0.0.1", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"),
      "10.0.0.1",
      raw,
    ),
    { addr: "1.2.3.4", port: "", tls: true, host: "real.example:8443" },
  );
  // a host that is not a host name is dropped, the rest believed
  const bad = ["X-Forwarded-For", "1.2.3.4", "X-Forwarded-Host", "a b/c"];
  assertEquals(
    forwardedClient(trust("10.0.0.1", "x-forwarded-for", "x-forwarded-host"), "10.0.0.1", bad),
    { addr: "1.2.3.4", port: "" },
  );
});

Deno.test("forwardedClient: RFC 7239 Forwarded, each hop with its own proto and host", () => {
  const t = trust("10.0.0.0/8", "forwarded");
  const raw = [
    "Forwarded",
    'for=6.6.6.6;proto=http, for="[2001:db8::7]:4711";proto=HTTPS;host="chat.example"',
    "Forwarded",
    "for=10.0.0.2;proto=http",
    "X-Forwarded-For",
    "9.9.9.9",
  ];
  assertEquals(forwardedClient(t, "10.0.0.1", raw), {
    addr: "2001:db8::7",
    port: "4711",
    tls: true,
    host: "chat.example",
  });
  assertEquals(forwardedClient(t, "10.0.0.1", ["Forwarded", "for=unknown"]), null);
  assertEquals(forwardedClient(t, "10.0.0.1", ["Forwarded", "proto=https"]), null, "no for=");
});
