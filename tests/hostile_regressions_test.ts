/**
 * Regressions for the bugs the hostile suite found (each test failed before
 * its fix): header and frame edge cases, closes sent with the handshake or
 * followed by a silent client, slowloris timing, zombie group members, and
 * handshake bursts that used to freeze live sessions.
 */

import { assert, assertBetween, assertEquals } from "../testing/assert.ts";
import {
  descendants,
  getRequest,
  leanSession,
  rawRequest,
  settle,
  upgradeRequest,
} from "../testing/load.ts";
import { clientFrame, writeAll } from "../testing/wire.ts";
import { marker, sleep, startServer, TESTPROG } from "../testing/server.ts";

const enc = new TextEncoder();

/** Handshake text with raw header lines after the standard ones. */
function handshake(lines: string[], target = "/"): string {
  return `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
    lines.map((l) => l + "\r\n").join("") + "\r\n";
}

/** The environment a copy of `env` (a binary, so no shell filters names) sees for `request`. */
async function envFor(args: string[], request: string): Promise<Map<string, string>> {
  await using server = await startServer([...args, "env"]);
  const lines: string[] = [];
  const r = await leanSession(server.port, { request, onText: (t) => void lines.push(t) });
  assertEquals(r.status, 101);
  return new Map(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

Deno.test("static: a path segment longer than NAME_MAX is 404, not 500", async () => {
  const root = await Deno.makeTempDir({ prefix: "wsd-pending-static-" });
  try {
    await using server = await startServer(["--staticdir", root]);
    for (const target of ["/" + "x".repeat(256), "/" + "x".repeat(300) + "/secret.txt"]) {
      const r = await rawRequest(server.port, getRequest(target));
      assertEquals(r.status, 404, `${target.length}-byte path`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("env: header names with $, `, ., ~ and other non-portable characters make no variable", async () => {
  const names = [
    "X.Dot",
    "X$Dollar",
    "X`Tick`",
    "X~Tilde",
    "X!Bang",
    "X|Pipe",
    "X'Q",
    "X*S",
    "X#H",
  ];
  const env = await envFor([], handshake(names.map((n) => `${n}: v`)));
  const odd = [...env.keys()].filter((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
  assertEquals(odd, []);
});

Deno.test("env: a Proxy request header never becomes HTTP_PROXY (httpoxy), as for CGI", async () => {
  const env = await envFor([], handshake(["Proxy: http://attacker.example:3128"]));
  assertEquals(env.get("HTTP_PROXY"), undefined);
});

Deno.test("env: all of 1,000 request headers reach the program (no silent truncation)", async () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${i}`);
  const env = await envFor([], handshake([...lines, "X-Last: here"]));
  for (let i = 0; i < 1000; i++) assertEquals(env.get(`HTTP_X_H${i}`), String(i), `header ${i}`);
  assertEquals(env.get("HTTP_X_LAST"), "here");
});

Deno.test("proxy: a trusted proxy's X-Forwarded-For after 1,000 client headers still decides REMOTE_ADDR", async () => {
  // the client's own X-Forwarded-For first, then filler, then the line the proxy appended
  const filler = Array.from({ length: 1000 }, (_, i) => `A${i}: b`);
  const env = await envFor(
    ["--trust-proxy=127.0.0.1"],
    handshake(["X-Forwarded-For: 6.6.6.6", ...filler, "X-Forwarded-For: 203.0.113.7"]),
  );
  assertEquals(env.get("REMOTE_ADDR"), "203.0.113.7");
});

Deno.test("session: a close frame in the same write as the handshake still stops the program", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "echo"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(
    conn,
    new Uint8Array([
      ...enc.encode(upgradeRequest("/")),
      ...clientFrame(0x8, new Uint8Array([0x03, 0xe8])),
    ]),
  );
  const buf = new Uint8Array(4096);
  while ((await conn.read(buf).catch(() => null)) !== null);
  conn.close();
  const left = await settle(() => descendants(server.pid), (d) => d.length === 0, 5000);
  assertEquals(left, [], "the program outlived its session");
});

Deno.test("session: after the client's close frame the program stops even if the client keeps TCP open", async () => {
  const m = marker();
  const server = await startServer([TESTPROG, m, "echo"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await writeAll(conn, enc.encode(upgradeRequest("/")));
    await sleep(300);
    await writeAll(conn, clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
    // we read the echo and the server's EOF but never close our side
    const buf = new Uint8Array(4096);
    while ((await conn.read(buf).catch(() => null)) !== null);
    const left = await settle(() => descendants(server.pid), (d) => d.length === 0, 3000);
    assertEquals(left, [], "the program is held by a half-open client");
    // and such a client cannot block a graceful shutdown
    assertEquals((await server.stop("SIGTERM", 5000)).code, 0);
  } finally {
    conn.close();
    await server.stop().catch(() => {});
  }
});

Deno.test("frames: with --maxframesize=0 a declared 1 TiB frame closes 1009, without an uncaught error", async () => {
  const m = marker();
  await using server = await startServer(["--maxframesize=0", TESTPROG, m, "echo"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(conn, enc.encode(upgradeRequest("/")));
  await sleep(200);
  const h = new Uint8Array(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  new DataView(h.buffer).setBigUint64(2, 1n << 40n);
  await writeAll(conn, h);
  // what follows is payload of that frame, never a frame of its own
  await writeAll(conn, clientFrame(0x1, enc.encode("smuggled"))).catch(() => {});
  const bytes: number[] = [];
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), 3000);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    bytes.push(...buf.subarray(0, n));
  }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed by the timer */ }
  const text = new TextDecoder().decode(new Uint8Array(bytes));
  assert(!text.includes("smuggled"), "payload bytes were parsed as a frame");
  const at = text.indexOf("\r\n\r\n") + 4;
  assertEquals([bytes[at]! & 0x0f, (bytes[at + 2]! << 8) | bytes[at + 3]!], [0x8, 1009]);
  assertEquals(server.grep(/Uncaught|Unhandled/), []);
});

Deno.test("http: a slowloris header trickle is dropped 10-16 s after it began (documented 10 s)", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "echo"]);
  // start a little after the server, so a coarse periodic check cannot land by luck
  await sleep(2000);
  const hs = enc.encode(upgradeRequest("/"));
  const t0 = Date.now();
  const trickle = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    let dropped = -1;
    const reader = conn.read(new Uint8Array(1024)).catch(() => null).then(() => {
      dropped = Date.now() - t0;
    });
    for (let i = 0; i < hs.length - 2 && dropped < 0 && Date.now() - t0 < 25000; i++) {
      await writeAll(conn, hs.subarray(i, i + 1)).catch(() => {});
      await sleep(500);
    }
    while (dropped < 0 && Date.now() - t0 < 25000) await sleep(100);
    conn.close();
    await reader;
    return dropped;
  };
  const times = await Promise.all([trickle(), trickle(), trickle()]);
  for (const t of times) assertBetween(t, 9000, 16000, `dropped after (ms) [${times}]`);
});

Deno.test("process: SIGKILL of a stubborn program is not reported as 'did not terminate' while init reaps its orphans", async () => {
  // where PID 1 reaps orphaned zombies slowly (this machine's init: ~2 s), a killed group
  // still has zombie members, and the ladder takes them for survivors
  const m = marker();
  const file = await Deno.makeTempFile();
  try {
    await using server = await startServer([TESTPROG, m, "trap", file]);
    // several at once: each has a `sleep` child at the moment of SIGKILL that init must reap
    const runs = await Promise.all(
      Array.from({ length: 5 }, () => leanSession(server.port, { dropAfter: 1, timeoutMs: 10000 })),
    );
    assert(runs.every((r) => r.messages === 1));
    await settle(
      () => server.grep(/status:'signal SIGKILL'.*DISCONNECT/),
      (l) => l.length === 5,
      15000,
    );
    assertEquals(server.grep(/did not terminate/), []);
  } finally {
    await Deno.remove(file);
  }
});
