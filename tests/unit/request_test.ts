/**
 * Reading a request into its facts (lib/http/request.ts) in process: the
 * client through trusted proxies, the secret query parameter kept out of
 * what programs and logs see, and the small header helpers.
 */

import type { IncomingMessage } from "node:http";
import { TrustedProxies } from "../../lib/http/proxy.ts";
import {
  headerCount,
  headerValue,
  logUrl,
  readFacts,
  remoteOf,
  splitHost,
} from "../../lib/http/request.ts";
import { assertEquals } from "../../testing/assert.ts";

/** A node request as far as readFacts looks at it. */
function nodeRequest(url: string, rawHeaders: string[] = ["Host", "h:1"], remote = "10.0.0.1") {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
  }
  return {
    url,
    method: "GET",
    httpVersion: "1.1",
    headers,
    rawHeaders,
    socket: { remoteAddress: remote, remotePort: 4321 },
  } as unknown as IncomingMessage;
}

const plain = { tls: false, trust: null, secretParam: null };

Deno.test("readFacts: target, path, query and the client as the socket says", () => {
  const f = readFacts(nodeRequest("/a%20b/../c?x=1"), plain);
  assertEquals(
    [f.method, f.target, f.rawPath, f.path, f.query, f.rawQuery, f.host, f.tls],
    ["GET", "/a%20b/../c?x=1", "/a%20b/../c", "/a b/../c", "x=1", "x=1", "h:1", false],
  );
  assertEquals([f.remoteAddr, f.remotePort, f.remoteHost], ["10.0.0.1", "4321", "10.0.0.1"]);
  assertEquals(readFacts(nodeRequest("/%zz"), plain).path, null);
  assertEquals(logUrl(f), "http://h:1/a%20b/../c?x=1");
});

Deno.test("readFacts: the secret parameter is removed from the query and the target, even when escaped", () => {
  const opts = { ...plain, secretParam: "access_token" };
  for (
    const [url, target, query] of [
      ["/ws?access_token=s3cret&room=1", "/ws?room=1", "room=1"],
      ["/ws?room=1&access_token=s3cret", "/ws?room=1", "room=1"],
      ["/ws?access_token=s3cret", "/ws", ""],
      // regression: the escaped name authenticates (URLSearchParams decodes it) and used to stay
      // in QUERY_STRING, REQUEST_URI and the access log
      ["/ws?access%5Ftoken=s3cret&room=1", "/ws?room=1", "room=1"],
      ["/ws?%61ccess_token=s3cret", "/ws", ""],
      ["/ws?room=%20", "/ws?room=%20", "room=%20"],
    ]
  ) {
    const f = readFacts(nodeRequest(url!), opts);
    assertEquals([f.target, f.query], [target, query], url);
    assertEquals(f.rawQuery, url!.slice(url!.indexOf("?") + 1), "the credential check sees it all");
  }
});

Deno.test("readFacts: a trusted proxy's client, scheme and host replace the proxy's", () => {
  const trust = {
    proxies: new TrustedProxies("10.0.0.0/8"),
    headers: new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"] as const),
  };
  const raw = [
    "Host",
    "backend:8080",
    "X-Forwarded-For",
    "1.2.3.4",
    "X-Forwarded-Proto",
    "https",
    "X-Forwarded-Host",
    "chat.example",
  ];
  const f = readFacts(nodeRequest("/", raw), { ...plain, trust });
  assertEquals([f.remoteAddr, f.remotePort, f.tls, f.host], ["1.2.3.4", "", true, "chat.example"]);
  const direct = readFacts(nodeRequest("/", raw, "8.8.8.8"), { ...plain, trust });
  assertEquals([direct.remoteAddr, direct.tls, direct.host], ["8.8.8.8", false, "backend:8080"]);
});

Deno.test("remoteOf: IPv4-mapped peers in dotted form; a Unix socket has no address", () => {
  assertEquals(remoteOf({ remoteAddress: "::ffff:1.2.3.4", remotePort: 9 }), {
    addr: "1.2.3.4",
    port: "9",
  });
  assertEquals(remoteOf({ remoteAddress: "::1", remotePort: 9 }), { addr: "::1", port: "9" });
  assertEquals(remoteOf({}), { addr: "unix-socket", port: "" });
});

Deno.test("splitHost, headerValue, headerCount", () => {
  assertEquals(splitHost("a:1", false), ["a", "1"]);
  assertEquals(splitHost("a", false), ["a", "80"]);
  assertEquals(splitHost("a", true), ["a", "443"]);
  assertEquals(splitHost("[::1]", true), ["::1", "443"]);
  assertEquals(splitHost(undefined, false), ["", "80"]);
  assertEquals(splitHost("a:1:2", false), ["", ""]);
  const raw = ["Host", "a", "X-A", "1", "x-a", "2"];
  assertEquals([headerValue(raw, "x-A"), headerValue(raw, "nope")], ["1", undefined]);
  assertEquals([headerCount(raw, "X-A"), headerCount(raw, "host"), headerCount(raw, "z")], [
    2,
    1,
    0,
  ]);
});
