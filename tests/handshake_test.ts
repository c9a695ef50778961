/**
 * The WebSocket handshake surface: status codes in websocketd's order,
 * path cleaning, origin policy, header flags, subprotocols, trusted proxies.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { marker, startServer, TESTPROG, type TestServer } from "../testing/server.ts";

async function status(server: TestServer, opts: Parameters<typeof RawWs.connect>[1]) {
  const ws = await RawWs.connect(server.port, opts);
  await ws.drop();
  return ws.response;
}

Deno.test("handshake errors: 404 plain GET, 405 POST, 400 bad version (with the version header) or key, 301 unclean path", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "echo"]);
  const get = await fetch(server.http("/"));
  assertEquals([get.status, await get.text()], [404, "404 page not found\n"]);
  const head = await fetch(server.http("/"), { method: "HEAD" });
  assertEquals(head.status, 404);
  await head.body?.cancel();

  assertEquals((await status(server, { method: "POST" })).status, 405);
  const v8 = await status(server, { headers: { "Sec-WebSocket-Version": "8" } });
  assertEquals(v8.status, 400);
  assertEquals(v8.headers.get("sec-websocket-version"), "13");
  assertEquals((await status(server, { headers: { "Sec-WebSocket-Key": null } })).status, 400);
  assertEquals((await status(server, { headers: { "Sec-WebSocket-Key": "short" } })).status, 400);
  // not an upgrade without the Connection token: plain HTTP
  const ka = await status(server, { headers: { Connection: "keep-alive" } });
  assertEquals([ka.status, ka.body], [404, "404 page not found\n"]);
  // token matching is case-insensitive and list-aware
  assertEquals(
    (await status(server, {
      headers: { Connection: "keep-alive, Upgrade", Upgrade: "WebSocket" },
    }))
      .status,
    101,
  );
  assertEquals((await status(server, { httpVersion: "1.0" })).status, 101);

  const dots = await status(server, { path: "/a/../b?x=1" });
  assertEquals([dots.status, dots.headers.get("location")], [301, "/b?x=1"]);
  const slashes = await status(server, { path: "//a" });
  assertEquals([slashes.status, slashes.headers.get("location")], [301, "/a"]);
  const enc = await status(server, { path: "/%2e%2e/etc/passwd" });
  assertEquals([enc.status, enc.headers.get("location")], [301, "/etc/passwd"]);
  const bad = await status(server, { path: "/%zz" });
  assertEquals(bad.status, 400);
});

const origins: [string[], string | null, number][] = [
  // no policy
  [[], null, 101],
  [[], "http://evil.com", 101],
  [[], "null", 101],
  [[], "garbage", 403],
  // --origin=trusted.com
  [["--origin=trusted.com"], "http://trusted.com", 101],
  [["--origin=trusted.com"], "https://trusted.com:8443", 101],
  [["--origin=trusted.com"], "http://sub.trusted.com", 403],
  [["--origin=trusted.com"], "http://TRUSTED.com", 403],
  [["--origin=trusted.com"], null, 403],
  [["--origin=trusted.com"], "null", 403],
  // ports
  [["--origin=trusted.com:80"], "http://trusted.com", 101],
  [["--origin=trusted.com:80"], "http://trusted.com:8080", 403],
  [["--origin=trusted.com:80"], "https://trusted.com", 403],
  [["--origin=https://trusted.com:443,http://other.com"], "https://trusted.com", 101],
  [["--origin=https://trusted.com:443,http://other.com"], "http://trusted.com:443", 403],
  [["--origin=https://trusted.com:443,http://other.com"], "http://other.com:1234", 101],
  [["--origin=https://trusted.com:443,http://other.com"], "https://other.com", 403],
  [["--origin=a"], "http://a", 101],
];

Deno.test("origin policy: websocketd's matching for --origin lists", async () => {
  const m = marker();
  for (const [flags, origin, want] of origins) {
    await using server = await startServer([...flags, TESTPROG, m, "echo"]);
    const r = await status(server, { headers: origin === null ? {} : { Origin: origin } });
    assertEquals(r.status, want, `${flags.join(" ") || "(no policy)"} with Origin ${origin}`);
    if (want === 403) assertMatch(r.body, /^403 Forbidden/);
  }
});

Deno.test("--sameorigin compares Origin with the Host header, scheme ignored, case-sensitive", async () => {
  const m = marker();
  await using server = await startServer(["--sameorigin", TESTPROG, m, "echo"]);
  const p = server.port;
  const cases: [string | null, number][] = [
    [`http://127.0.0.1:${p}`, 101],
    [`https://127.0.0.1:${p}`, 101],
    [`http://127.0.0.1:${p}/some/path`, 101],
    [`http://localhost:${p}`, 403],
    ["http://127.0.0.1", 403],
    [null, 403],
    ["null", 403],
  ];
  for (const [origin, want] of cases) {
    const r = await status(server, { headers: origin === null ? {} : { Origin: origin } });
    assertEquals(r.status, want, `Origin ${origin}`);
  }
  await server.waitLog(/Same origin policy mismatch/);
});

Deno.test("--header on every response, --header-ws on the 101 only, --header-http on plain HTTP only", async () => {
  const m = marker();
  await using server = await startServer([
    "--header=x-all: 1",
    "--header-ws=X-WS:2",
    "--header-http=X-Http: 3",
    TESTPROG,
    m,
    "echo",
  ]);
  const ws = await RawWs.connect(server.port);
  assertEquals(ws.response.status, 101);
  assertEquals(ws.response.headers.get("x-all"), "1");
  assertEquals(ws.response.headers.get("x-ws"), "2");
  assertEquals(ws.response.headers.get("x-http"), undefined);
  assert(ws.response.rawHeaders.includes("X-All: 1"), "header name canonicalized");
  await ws.close();
  const plain = await fetch(server.http("/"));
  await plain.body?.cancel();
  assertEquals(plain.headers.get("x-all"), "1");
  assertEquals(plain.headers.get("x-http"), "3");
  assertEquals(plain.headers.get("x-ws"), null);
  // refusals are plain HTTP answers: they carry --header and --header-http (not --header-ws)
  const refused = await status(server, { headers: { "Sec-WebSocket-Version": "8" } });
  assertEquals(refused.status, 400);
  assertEquals(refused.headers.get("x-all"), "1");
  assertEquals(refused.headers.get("x-http"), "3");
  assertEquals(refused.headers.get("x-ws"), undefined);
});

Deno.test("subprotocols: websocketd's --header-ws trick, and --subprotocol negotiation with WEBSOCKET_PROTOCOL", async () => {
  const m = marker();
  {
    await using trick = await startServer([
      "--header-ws=Sec-WebSocket-Protocol: chat",
      TESTPROG,
      m,
      "echo",
    ]);
    const none = await RawWs.connect(trick.port);
    assertEquals(none.response.headers.get("sec-websocket-protocol"), "chat");
    await none.close();
  }
  await using server = await startServer([
    "--subprotocol=v2.chat",
    "--subprotocol=v1.chat",
    TESTPROG,
    m,
    "env",
  ]);
  const ws = await RawWs.connect(server.port, {
    headers: { "Sec-WebSocket-Protocol": "v1.chat, v2.chat" },
  });
  assertEquals(ws.response.headers.get("sec-websocket-protocol"), "v1.chat");
  const { texts } = await ws.collect();
  assert(texts.includes("WEBSOCKET_PROTOCOL=v1.chat"), texts.join("\n"));
  await ws.drop();
  const plain = await RawWs.connect(server.port);
  assertEquals(plain.response.status, 101);
  assertEquals(plain.response.headers.get("sec-websocket-protocol"), undefined);
  await plain.drop();
  const wrong = await status(server, { headers: { "Sec-WebSocket-Protocol": "mqtt" } });
  assertEquals(wrong.status, 400);
});

Deno.test("browsers' built-in WebSocket negotiates --subprotocol", async () => {
  const m = marker();
  await using server = await startServer(["--subprotocol=chat", TESTPROG, m, "echo"]);
  const ws = new WebSocket(server.url("/"), ["chat"]);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  assertEquals(ws.protocol, "chat");
  const closed = new Promise((r) => (ws.onclose = r));
  ws.close();
  await closed;
});

function envOf(texts: string[]): Map<string, string> {
  return new Map(texts.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

Deno.test("--trust-proxy: by default only X-Forwarded-For is believed; proto, host and Forwarded only when named", async () => {
  const m = marker();
  const chain = {
    "X-Forwarded-For": "203.0.113.9, 10.0.0.1, 127.0.0.2",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app.example:8443",
    Forwarded: 'for="[2001:db8::7]:4711";proto=https;host=h.example',
  };
  const envFor = async (server: TestServer, headers: Record<string, string>) => {
    const ws = await RawWs.connect(server.port, { headers });
    const env = envOf((await ws.collect()).texts);
    await ws.drop();
    return env;
  };
  {
    await using xffOnly = await startServer(["--trust-proxy=127.0.0.0/8", TESTPROG, m, "env"]);
    const env = await envFor(xffOnly, chain);
    // 127.0.0.2 is trusted (in 127/8), 10.0.0.1 is not: it is the right-most untrusted hop
    assertEquals(env.get("REMOTE_ADDR"), "10.0.0.1");
    // a proxy that does not set them passes the client's own: not believed by default
    assertEquals(env.has("HTTPS"), false);
    assertEquals(env.get("SERVER_NAME"), "127.0.0.1");
    const onlyForwarded = await envFor(xffOnly, { Forwarded: chain.Forwarded });
    assertEquals(onlyForwarded.get("REMOTE_ADDR"), "127.0.0.1");
  }
  {
    await using named = await startServer([
      "--trust-proxy=127.0.0.0/8",
      "--trust-proxy-headers=x-forwarded-for,x-forwarded-proto,x-forwarded-host",
      TESTPROG,
      m,
      "env",
    ]);
    const env = await envFor(named, chain);
    assertEquals(env.get("REMOTE_ADDR"), "10.0.0.1");
    assertEquals(env.get("HTTPS"), "on");
    assertEquals(env.get("SERVER_NAME"), "app.example");
    assertEquals(env.get("SERVER_PORT"), "8443");
  }
  {
    await using rfc = await startServer([
      "--trust-proxy=127.0.0.0/8",
      "--trust-proxy-headers=forwarded",
      TESTPROG,
      m,
      "env",
    ]);
    const env = await envFor(rfc, chain);
    assertEquals(env.get("REMOTE_ADDR"), "2001:db8::7");
    assertEquals(env.get("REMOTE_PORT"), "4711");
    assertEquals(env.get("SERVER_NAME"), "h.example");
    assertEquals(env.get("HTTPS"), "on");
    // a zone id or anything else that is not an IP literal is not believed
    const zoned = await envFor(rfc, { Forwarded: `for="fe80::1%$(id)' && curl evil"` });
    assertEquals(zoned.get("REMOTE_ADDR"), "127.0.0.1");
  }
  await using untrusted = await startServer(["--trust-proxy=10.9.9.9", TESTPROG, m, "env"]);
  const env = await envFor(untrusted, {
    "X-Forwarded-For": "1.2.3.4",
    "X-Forwarded-Proto": "https",
  });
  assertEquals(env.get("REMOTE_ADDR"), "127.0.0.1");
  assertEquals(env.has("HTTPS"), false);
  assertEquals(env.get("HTTP_X_FORWARDED_FOR"), "1.2.3.4");
});

Deno.test("--reverselookup fills REMOTE_HOST from the hosts file / DNS", async () => {
  const m = marker();
  await using server = await startServer(["--reverselookup", TESTPROG, m, "env"]);
  const ws = await RawWs.connect(server.port);
  const env = envOf((await ws.collect()).texts);
  await ws.drop();
  assertEquals(env.get("REMOTE_ADDR"), "127.0.0.1");
  assertEquals(env.get("REMOTE_HOST"), "localhost");
});
