/**
 * Properties of `--trust-proxy` (lib/http/proxy.ts): parseIp, parseNode,
 * TrustedProxies, parseProxyHeaders and forwardedClient, against header
 * values a client (or a careless proxy) may write: lists with junk, quotes,
 * zone ids, ports in and out of range, IPv6 with and without brackets,
 * IPv4-mapped forms, shell metacharacters, RFC 7239 elements with random
 * keys, case and quoting.
 *
 * @module
 */

import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import {
  forwardedClient,
  parseIp,
  parseNode,
  parseProxyHeaders,
  PROXY_HEADERS,
  type ProxyHeader,
  type ProxyTrust,
  TrustedProxies,
} from "../../lib/http/proxy.ts";
import { property, type PropertyCase } from "./harness.ts";

// ---------------------------------------------------------------------------
// generators

const v4Arb = fc.ipV4();
const v6Arb = fc.ipV6();
/** Addresses: plain, IPv4-mapped, with odd case, leading zeros (`010.0.0.1`). */
const addrArb = fc.oneof(
  { weight: 4, arbitrary: v4Arb },
  { weight: 3, arbitrary: v6Arb },
  { weight: 1, arbitrary: v4Arb.map((a) => `::ffff:${a}`) },
  { weight: 1, arbitrary: v6Arb.map((a) => a.toUpperCase()) },
  { weight: 1, arbitrary: fc.ipV4Extended() },
);
const portArb = fc.oneof(
  fc.integer({ min: 1, max: 65535 }).map(String),
  fc.constantFrom("0", "65536", "99999", "-1", "08080", "00080", "1e3", "", "80 ", "0x50", "٣"),
);
const junkArb = fc.oneof(
  fc.constantFrom(
    "unknown",
    "_hidden",
    "$(reboot)",
    "`id`",
    "a;b",
    "'1.2.3.4'",
    '"1.2.3.4"',
    '"[::1]:80"',
    "1.2.3.4\\",
    "1.2.3.4 5.6.7.8",
    "fe80::1%eth0",
    "[fe80::1%25eth0]:80",
    "::1%lo",
    "1.2.3.256",
    "1.2.3",
    "1.2.3.4.5",
    ":::1",
    "1::2::3",
    "[::1",
    "::1]",
    "[]",
    "[[::1]]",
    "\u0661.2.3.4",
    "1.2.3.4\u0000",
    "localhost",
    "example.com",
    "",
    " ",
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 8 }),
);
/** One node as written in X-Forwarded-For or `for=`. */
const nodeArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: addrArb },
  { weight: 2, arbitrary: fc.tuple(v4Arb, portArb).map(([a, p]) => `${a}:${p}`) },
  { weight: 2, arbitrary: fc.tuple(v6Arb, portArb).map(([a, p]) => `[${a}]:${p}`) },
  { weight: 1, arbitrary: v6Arb.map((a) => `[${a}]`) },
  { weight: 1, arbitrary: fc.tuple(v6Arb, portArb).map(([a, p]) => `${a}:${p}`) },
  { weight: 3, arbitrary: junkArb },
);

/** A value for X-Forwarded-For: nodes, commas, spaces, empty entries. */
const xffArb = fc.array(fc.tuple(nodeArb, fc.constantFrom(",", ", ", " ,", ",,", ", ,")), {
  maxLength: 5,
}).map((parts) => parts.map(([n, sep], i) => (i === 0 ? "" : sep) + n).join(""));

const quoteMaybe = (v: string, q: boolean) =>
  q ? `"${v.replace(/["\\]/g, (c) => (c === '"' ? '\\"' : "\\\\"))}"` : v;
const protoArb = fc.oneof(
  fc.constantFrom("http", "https", "ws", "wss", "HTTPS", "Ws", "ftp", "https ", "", "javascript"),
  fc.string({ maxLength: 6 }),
);
const hostArb = fc.oneof(
  fc.domain(),
  fc.tuple(fc.domain(), portArb).map(([d, p]) => `${d}:${p}`),
  v6Arb.map((a) => `[${a}]`),
  v4Arb,
  junkArb,
  fc.constantFrom("evil.com/x", "a b", "a\tb", "host:80:80", "[::1]:80", "-x", "x..y", "é.com"),
);
/** One RFC 7239 element: pairs in random order, keys in random case, values maybe quoted. */
const elementArb = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom("for", "For", "FOR", "proto", "Proto", "host", "HOST", "by", "x", ""),
      fc.string({ maxLength: 4 }),
    ),
    fc.oneof(nodeArb, protoArb, hostArb),
    fc.boolean(),
    fc.constantFrom(";", "; ", " ;"),
    fc.constantFrom("=", " = ", "="),
  ),
  { maxLength: 4 },
).map((pairs) =>
  pairs.map(([k, v, q, sep, eq], i) => (i === 0 ? "" : sep) + k + eq + quoteMaybe(v, q)).join("")
);
const forwardedArb = fc.array(elementArb, { maxLength: 4 }).map((els) => els.join(", "));

/** Raw header lines as node:http gives them: [name, value, name, value, …]. */
const rawHeadersArb: fc.Arbitrary<string[]> = fc.array(
  fc.oneof(
    fc.tuple(fc.constantFrom("X-Forwarded-For", "x-forwarded-for", "X-FORWARDED-FOR"), xffArb),
    fc.tuple(fc.constantFrom("X-Forwarded-Proto", "x-forwarded-proto"), protoArb),
    fc.tuple(fc.constantFrom("X-Forwarded-Host", "x-forwarded-host"), hostArb),
    fc.tuple(fc.constantFrom("Forwarded", "forwarded"), forwardedArb),
    fc.tuple(fc.constantFrom("Host", "X-Real-IP", "Via"), junkArb),
  ),
  { maxLength: 5 },
).map((pairs) => pairs.flat());

/** The header sets `--trust-proxy-headers` accepts. */
const headerSetArb: fc.Arbitrary<Set<ProxyHeader>> = fc.oneof(
  fc.constant(new Set<ProxyHeader>(["forwarded"])),
  fc.subarray(["x-forwarded-proto", "x-forwarded-host"] as ProxyHeader[]).map(
    (extra) => new Set<ProxyHeader>(["x-forwarded-for", ...extra]),
  ),
);

/** A CIDR entry for `--trust-proxy`. */
const rangeArb = fc.oneof(
  fc.tuple(v4Arb, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(v6Arb, fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
  v4Arb,
  v6Arb,
  fc.tuple(v4Arb, fc.integer({ min: 96, max: 128 })).map(([a, p]) => `::ffff:${a}/${p}`),
);

/**
 * A trust configuration, a peer, and headers whose nodes often come from the
 * trusted ranges (so walks through several trusted hops happen).
 */
const scenarioArb = fc.tuple(
  fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
  headerSetArb,
  fc.oneof(
    { weight: 8, arbitrary: addrArb },
    { weight: 1, arbitrary: junkArb },
    { weight: 1, arbitrary: fc.constant("unix-socket") },
  ),
  fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)),
  rawHeadersArb,
  fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean(), protoArb, hostArb), { maxLength: 4 }),
).map(([ranges, headers, peer, peerTrusted, raw, inserts]) => {
  const list = peerTrusted && parseIp(peer) ? [...ranges, peer] : ranges;
  const trust: ProxyTrust = { proxies: new TrustedProxies(list.join(",")), headers };
  // splice addresses of the trusted list into the header values
  const rawHeaders = [...raw];
  for (const [at, pick, forwarded, proto, host] of inserts) {
    const addr = list[pick % list.length]!.split("/")[0]!;
    const node = addr.includes(":") ? `"[${addr}]"` : addr;
    const [name, value] = forwarded
      ? ["Forwarded", `for=${node};proto=${proto};host=${quoteMaybe(host, true)}`]
      : ["X-Forwarded-For", addr];
    rawHeaders.splice(2 * (at % (rawHeaders.length / 2 + 1)), 0, name, value);
  }
  return { list, trust, peer, rawHeaders };
});

// ---------------------------------------------------------------------------
// checks

/** What every node that comes out must look like. */
function assertSafeNode(n: { addr: string; port: string }, from: string): void {
  const what = `${JSON.stringify(from)} → ${JSON.stringify(n)}`;
  assert(/^[0-9a-fA-F:.]+$/.test(n.addr), `${what}: addr has other characters`);
  assert(parseIp(n.addr) !== null, `${what}: addr is not an IP literal`);
  assert(
    n.port === "" || (/^\d{1,5}$/.test(n.port) && +n.port >= 1 && +n.port <= 65535),
    `${what}: bad port`,
  );
}

/** What one hop says: its node, and the scheme and host the client used, if said. */
interface HopView {
  node: string;
  proto?: string;
  host?: string;
}

/**
 * The hops as forwardedClient must read them, nearest proxy last: the
 * X-Forwarded-For nodes (scheme and host from the right-most
 * X-Forwarded-Proto/-Host value, when trusted), or the RFC 7239 elements.
 */
export function hopsOf(trust: ProxyTrust, raw: string[]): HopView[] {
  const list = (name: string) => {
    const values: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
    }
    return values.join(",").split(",").map((s) => s.trim()).filter(Boolean);
  };
  const unquote = (v: string) =>
    v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v;
  if (!trust.headers.has("forwarded")) {
    const proto = trust.headers.has("x-forwarded-proto")
      ? list("x-forwarded-proto").at(-1)?.toLowerCase()
      : undefined;
    const host = trust.headers.has("x-forwarded-host")
      ? list("x-forwarded-host").at(-1)
      : undefined;
    return list("x-forwarded-for").map((node) => ({ node, proto, host }));
  }
  return list("forwarded").map((el) => {
    const hop: HopView = { node: "" };
    for (const pair of el.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      const value = unquote(pair.slice(eq + 1).trim());
      if (key === "for") hop.node = value;
      if (key === "proto") hop.proto = value.toLowerCase();
      if (key === "host") hop.host = value;
    }
    return hop;
  });
}

// ---------------------------------------------------------------------------
// the properties

const byteBits = (b: Uint8Array) => Array.from(b, (x) => x.toString(2).padStart(8, "0")).join("");

/** Trusted-proxy properties. */
export const proxyProperties: PropertyCase[] = [
  property(
    "proxy: parseIp accepts every IPv4/IPv6 literal, and only IP characters",
    5000,
    fc.oneof(
      v4Arb.map((a) => ({ text: a, bytes: 4 })),
      v6Arb.map((a) => ({ text: a, bytes: 16 })),
      v6Arb.map((a) => ({ text: `[${a}]`, bytes: 16 })),
      fc.oneof(junkArb, nodeArb, hostArb).map((text) => ({ text, bytes: 0 })),
    ),
    ({ text, bytes }) => {
      const ip = parseIp(text);
      if (bytes) assertEquals(ip?.length, bytes, `parseIp(${JSON.stringify(text)})`);
      if (ip) {
        const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
        assert(/^[0-9a-fA-F:.]+$/.test(bare), `parseIp(${JSON.stringify(text)}) accepted`);
        assert(ip.length === 4 || ip.length === 16);
      }
      // IPv4 octets come back as written
      if (bytes === 4) assertEquals(Array.from(ip!).join("."), text);
    },
  ),
  property(
    "proxy: parseNode yields only an IP literal and a port of 1-65535, or null",
    10000,
    fc.oneof(nodeArb, xffArb, junkArb),
    (text) => {
      const n = parseNode(text);
      if (n) assertSafeNode(n, text);
    },
  ),
  property(
    "proxy: TrustedProxies trusts exactly the addresses inside its ranges",
    5000,
    fc.tuple(
      fc.oneof(
        fc.tuple(v4Arb, fc.integer({ min: 0, max: 32 }), v4Arb).map(([a, p, o]) => ({
          entry: `${a}/${p}`,
          range: a,
          prefix: p,
          other: o,
        })),
        fc.tuple(v6Arb, fc.integer({ min: 0, max: 128 }), v6Arb).map(([a, p, o]) => ({
          entry: `${a}/${p}`,
          range: a,
          prefix: p,
          other: o,
        })),
        // an IPv4-mapped entry is the IPv4 range with 96 bits less
        fc.tuple(v4Arb, fc.integer({ min: 0, max: 33 }), v4Arb).map(([a, p, o]) => ({
          entry: p === 33 ? `::ffff:${a}` : `::ffff:${a}/${96 + p}`,
          range: a,
          prefix: Math.min(p, 32),
          other: o,
        })),
      ),
      fc.nat(),
      fc.boolean(),
    ),
    ([{ entry, range, prefix, other }, flip, mapped]) => {
      const tp = new TrustedProxies(entry);
      assert(tp.has(range), `${entry} does not trust ${range}`);
      // an address that shares the first `prefix` bits is trusted, one that differs is not
      const a = parseIp(range)!;
      const b = parseIp(other)!;
      const bits = byteBits(b).split("");
      if (prefix > 0 && flip % 2 === 0) {
        const i = flip % prefix;
        bits[i] = bits[i] === "0" ? "1" : "0";
      }
      const candidate = Uint8Array.from(
        { length: b.length },
        (_, i) => parseInt(bits.slice(i * 8, i * 8 + 8).join(""), 2),
      );
      const same = byteBits(a).slice(0, prefix) === byteBits(candidate).slice(0, prefix);
      const text = candidate.length === 4
        ? Array.from(candidate).join(".")
        : Array.from({ length: 8 }, (_, i) =>
          ((candidate[2 * i]! << 8) | candidate[2 * i + 1]!).toString(16)).join(":");
      assertEquals(tp.has(text), same, `${entry} has ${text}`);
      // an IPv4 range covers the same address written IPv4-mapped
      if (candidate.length === 4 && mapped) assertEquals(tp.has(`::ffff:${text}`), same);
    },
  ),
  property(
    "proxy: TrustedProxies and parseProxyHeaders refuse or accept, never half-parse",
    5000,
    fc.tuple(
      fc.array(fc.oneof(rangeArb, junkArb, fc.constantFrom("1.2.3.4/", "1.2.3.4/33", "::/129")), {
        maxLength: 3,
      }),
      fc.array(
        fc.oneof(
          fc.constantFrom(...PROXY_HEADERS, "X-Forwarded-For", " forwarded ", "x-real-ip", ""),
          fc.string({ maxLength: 5 }),
        ),
        { maxLength: 4 },
      ),
    ),
    ([ranges, names]) => {
      try {
        const tp = new TrustedProxies(ranges.join(","));
        // every entry was a valid address or range
        for (const r of ranges.map((e) => e.trim()).filter(Boolean)) {
          assert(parseIp(r.split("/")[0]!) !== null, `accepted --trust-proxy entry ${r}`);
        }
        assertEquals(tp.has("not-an-ip"), false);
      } catch (e) {
        assert(String(e).includes("--trust-proxy"), String(e));
      }
      try {
        const set = parseProxyHeaders(names.join(","));
        for (const h of set) assert((PROXY_HEADERS as readonly string[]).includes(h));
        assert(set.has("x-forwarded-for") !== set.has("forwarded"), [...set].join());
        if (set.has("forwarded")) assertEquals(set.size, 1);
      } catch (e) {
        assert(String(e).includes("--trust-proxy-headers"), String(e));
      }
    },
  ),
  property(
    "proxy: forwardedClient believes only trusted peers and only values that parse",
    8000,
    scenarioArb,
    ({ trust, peer, rawHeaders }) => {
      const facts = forwardedClient(trust, peer, rawHeaders);
      const what = `peer ${peer}, headers ${JSON.stringify(rawHeaders)} → ${JSON.stringify(facts)}`;
      if (!trust.proxies.has(peer)) {
        assertEquals(facts, null, `${what}: an untrusted peer was believed`);
        return;
      }
      // the client is the right-most hop that is not a trusted proxy; if every hop is
      // trusted, the left-most one; an unusable chosen hop means nothing is believed
      const hops = hopsOf(trust, rawHeaders);
      let chosen = 0;
      for (let i = hops.length - 1; i >= 0; i--) {
        const n = parseNode(hops[i]!.node);
        if (!n || !trust.proxies.has(n.addr)) {
          chosen = i;
          break;
        }
      }
      const hop = hops[chosen];
      const expected = hop ? parseNode(hop.node) : null;
      if (expected === null) {
        assertEquals(facts, null, what);
        return;
      }
      assert(facts !== null, `${what}: expected ${JSON.stringify(expected)}`);
      assertSafeNode(facts, what);
      assertEquals({ addr: facts.addr, port: facts.port }, expected, what);
      if (trust.proxies.has(facts.addr)) {
        assert(
          hops.every((h) => {
            const n = parseNode(h.node);
            return n !== null && trust.proxies.has(n.addr);
          }),
          `${what}: a trusted proxy chosen as the client while an untrusted hop exists`,
        );
      }
      // TLS only from http/https/ws/wss, as that hop (or the nearest proxy) wrote it
      const tls = { https: true, wss: true, http: false, ws: false }[hop!.proto ?? ""];
      assertEquals(facts.tls, tls, `${what}: tls from proto ${JSON.stringify(hop!.proto)}`);
      // a host only as written, and only of name or IP characters
      if (facts.host !== undefined) {
        assertEquals(facts.host, hop!.host, what);
        assert(/^[A-Za-z0-9.:[\]-]+$/.test(facts.host), `${what}: host`);
        assert(facts.host.length <= 260, `${what}: host length`);
      }
      const plain = /^[a-z0-9]+(\.[a-z0-9]+)*(:[1-9]\d{0,3})?$/i;
      if (hop!.host !== undefined && hop!.host.length <= 200 && plain.test(hop!.host)) {
        assertEquals(facts.host, hop!.host, `${what}: a plain host name was dropped`);
      }
    },
  ),
];
