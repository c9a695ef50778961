/**
 * Hostile request headers: names that collide after the HTTP_ mapping,
 * names and values the shell or the program could misread, non-ASCII, very
 * long values, a thousand headers, oversized header blocks, and Host/Origin
 * spoofing against --sameorigin and --origin.
 *
 * The guarantees: the program's environment stays well formed (no CR, LF or
 * NUL in a value, no header posing as another; names made of odd token
 * characters like `$`: tests/hostile_regressions_test.ts), refusals are proper statuses (403 for origins; 400/431 for
 * blocks too large to read), nothing hangs, and a canary session keeps
 * echoing throughout.
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { Canary, leanSession, rawRequest, upgradeRequest } from "../testing/load.ts";
import { startServer, type TestServer } from "../testing/server.ts";

const enc = new TextEncoder();

/**
 * A --dir root with an env dumper and an echo program. The dumper is a copy
 * of the `env` binary, not a shell script: sh quietly drops variables whose
 * names it cannot use, which would hide exactly what we look for.
 */
async function programs(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "wsd-hostile-headers-" });
  await Deno.copyFile("/usr/bin/env", `${root}/env`);
  await Deno.writeTextFile(`${root}/echo.sh`, "#!/bin/sh\nexec cat\n");
  await Deno.chmod(`${root}/env`, 0o755);
  await Deno.chmod(`${root}/echo.sh`, 0o755);
  return root;
}

/** Handshake request text for the env dumper with raw header lines (duplicates allowed, order kept). */
function envRequest(lines: string[], host = "127.0.0.1"): string {
  return `GET /env HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
    lines.map((l) => l + "\r\n").join("") + "\r\n";
}

/** Runs the env dumper with these header lines; returns the handshake status and the environment lines. */
async function envWith(
  port: number,
  request: string | Uint8Array,
): Promise<{ status: number; lines: string[]; close: number | null }> {
  const lines: string[] = [];
  const r = await leanSession(port, {
    request,
    onText: (t) => void lines.push(t),
    timeoutMs: 15000,
  });
  assert(!r.timedOut, "session timed out");
  return { status: r.status, lines, close: r.closeCode };
}

/**
 * Environment lines that are not NAME=VALUE or carry control bytes. Names
 * made of other token characters (`HTTP_X$Y`): tests/hostile_regressions_test.ts.
 */
function malformed(lines: string[]): string[] {
  // deno-lint-ignore no-control-regex
  return lines.filter((l) => !/^[!-<>-~]+=/.test(l) || /[\x00\r]/.test(l));
}

function toMap(lines: string[]): Map<string, string> {
  return new Map(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

async function withServer(
  args: string[],
  fn: (server: TestServer) => Promise<void>,
): Promise<void> {
  const root = await programs();
  try {
    await using server = await startServer([...args, "--dir", root]);
    const canary = await Canary.open(server.port, "/echo.sh", {
      Host: `127.0.0.1:${server.port}`,
      Origin: args.includes("--origin=trusted.example")
        ? "http://trusted.example"
        : `http://127.0.0.1:${server.port}`,
    });
    try {
      canary.start(100);
      await fn(server);
      const stats = await canary.stop();
      assertEquals(stats.failures, []);
      assert(stats.ok >= 2, `canary made only ${stats.ok} round trips`);
      assertEquals(server.grep(/Uncaught|Unhandled/), []);
    } finally {
      // stop the round trips even when an assertion failed, so no timer outlives the test
      await canary.stop();
      canary.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("hostile headers: names that collide after the HTTP_ mapping cannot pose as each other", async () => {
  await withServer([], async (server) => {
    const { status, lines } = await envWith(
      server.port,
      envRequest([
        "X_A: underscore-first",
        "X-A: dash",
        "x-a: lower",
        "X_Forwarded_For: 6.6.6.6",
        "X-Forwarded-For: 1.2.3.4",
        "Remote-Addr: 9.9.9.9",
        "Path: /evil",
        "X-B_: trailing-underscore",
        "_X-C: leading-underscore",
      ]),
    );
    assertEquals(status, 101);
    assertEquals(malformed(lines), []);
    const env = toMap(lines);
    // same name in any case joins; the underscore spelling never contributes
    assertEquals(env.get("HTTP_X_A"), "dash, lower");
    assertEquals(env.get("HTTP_X_FORWARDED_FOR"), "1.2.3.4");
    assertEquals(env.get("REMOTE_ADDR"), "127.0.0.1");
    assertEquals(env.get("HTTP_REMOTE_ADDR"), "9.9.9.9");
    assert(env.get("PATH") !== "/evil", "a Path header replaced PATH");
    assertEquals(env.has("HTTP_X_B_"), false);
    assertEquals(env.has("HTTP__X_C"), false);
    assertEquals(env.has("HTTP_HOST"), false);
  });
});

Deno.test("hostile headers: non-ASCII, control bytes and folded values never reach the environment raw", async () => {
  await withServer([], async (server) => {
    // UTF-8 and Latin-1 bytes in values; a name with non-ASCII must be refused outright
    const head = envRequest(["X-Utf8: h\u00e9llo \u2603", "X-Latin: caf\u00e9"]);
    const bytes = new Uint8Array([
      ...enc.encode(head.slice(0, head.indexOf("X-Latin"))),
      ...enc.encode("X-Latin: caf"),
      0xe9,
      0xff,
      ...enc.encode("\r\n\r\n"),
    ]);
    const { status, lines } = await envWith(server.port, bytes);
    assertEquals(status, 101);
    assertEquals(malformed(lines), []);
    const env = toMap(lines);
    assertEquals(env.get("HTTP_X_UTF8"), "h\u00e9llo \u2603");
    assertEquals(env.get("HTTP_X_LATIN"), "caf\uFFFD\uFFFD");

    for (
      const bad of [
        "X-N\u00e4me: v", // non-ASCII name
        "X-Nul: a\u0000b", // NUL in a value
        "X-Cr: a\rb", // bare CR
        "X Space: v", // space in a name
        ": empty-name",
        "X-Colon-Less",
      ]
    ) {
      const r = await rawRequest(server.port, enc.encode(envRequest([bad])), 10000);
      assert(
        r.status === 400 || r.status === 101,
        `${JSON.stringify(bad)} answered ${r.status} ${r.head.split("\r\n")[0]}`,
      );
      if (r.status === 101) {
        // accepted: the environment must still be clean (the session ran the env dumper)
        const again = await envWith(server.port, enc.encode(envRequest([bad])));
        assertEquals(malformed(again.lines), [], JSON.stringify(bad));
      }
    }
    // obs-fold (a continuation line) is either refused or joined without the line break
    const fold = await envWith(server.port, envRequest(["X-Fold: first", " second"]));
    if (fold.status === 101) {
      assertEquals(malformed(fold.lines), []);
      assert(!fold.lines.some((l) => l === " second" || l.startsWith("second")));
    } else assertEquals(fold.status, 400);
  });
});

Deno.test("hostile headers: a long value arrives whole; an oversized header block gets 400/431, not a hang", async () => {
  await withServer([], async (server) => {
    const long = "v".repeat(8000);
    const ok = await envWith(server.port, envRequest([`X-Long: ${long}`]));
    assertEquals(ok.status, 101);
    assertEquals(toMap(ok.lines).get("HTTP_X_LONG"), long);

    for (const size of [64 * 1024, 1024 * 1024]) {
      const t0 = Date.now();
      const r = await rawRequest(
        server.port,
        enc.encode(envRequest([`X-Huge: ${"h".repeat(size)}`])),
        15000,
      );
      assert([400, 431].includes(r.status), `${size} bytes: ${r.status} ${r.head.slice(0, 80)}`);
      assert(Date.now() - t0 < 10000, `${size}-byte header took ${Date.now() - t0} ms`);
    }
    // many medium headers adding up past the limit
    const many = Array.from({ length: 200 }, (_, i) => `X-M${i}: ${"m".repeat(200)}`);
    const r = await rawRequest(server.port, enc.encode(envRequest(many)), 15000);
    assert([400, 431].includes(r.status), `200×200 bytes: ${r.status}`);
  });
});

Deno.test("hostile headers: 1,000 headers or 1,000 repeats of one leave a well-formed environment and no crash", async () => {
  // that every one of them reaches the program: tests/hostile_regressions_test.ts
  await withServer([], async (server) => {
    const distinct = Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${i}`);
    const a = await envWith(server.port, envRequest(distinct));
    assertEquals(a.status, 101);
    assertEquals(malformed(a.lines), []);
    const env = toMap(a.lines);
    for (let i = 0; i < 990; i++) assertEquals(env.get(`HTTP_X_H${i}`), String(i));

    const repeated = Array.from({ length: 1000 }, (_, i) => `X-Same: ${i}`);
    const b = await envWith(server.port, envRequest(repeated));
    assertEquals(b.status, 101);
    assertEquals(malformed(b.lines), []);
    const joined = toMap(b.lines).get("HTTP_X_SAME") ?? "";
    assert(joined.startsWith("0, 1, 2, 3"), joined.slice(0, 40));

    // past the size limit (node's 16 KiB header block): a proper refusal, quickly
    const tooMany = Array.from({ length: 3000 }, (_, i) => `X-T${i}: ${i}`);
    const c = await rawRequest(server.port, enc.encode(envRequest(tooMany)), 15000);
    assert([400, 431].includes(c.status), `3000 headers: ${c.status}`);
  });
});

Deno.test("hostile headers: Host/Origin spoofing against --sameorigin gets 403; only a true match is served", async () => {
  await withServer(["--sameorigin"], async (server) => {
    const p = server.port;
    const self = `127.0.0.1:${p}`;
    const cases: [string, string[], number[]][] = [
      ["matching Host and Origin", [`Origin: http://${self}`], [101]],
      ["spoofed Host", [`Origin: http://${self}`], [403]],
      ["evil Origin", ["Origin: http://evil.example"], [403]],
      ["Origin with userinfo", [`Origin: http://${self}@evil.example`], [403]],
      ["Origin with a port suffix", [`Origin: http://127.0.0.1:${p}.evil.example`], [403]],
      ["Origin with a path trick", [`Origin: http://evil.example/${self}`], [403]],
      ["two Origins", [`Origin: http://${self}`, "Origin: http://evil.example"], [400, 403]],
      ["two Origins, evil first", ["Origin: http://evil.example", `Origin: http://${self}`], [
        400,
        403,
      ]],
      ["Origin null", ["Origin: null"], [403]],
      ["no Origin", [], [403]],
      ["X-Forwarded-Host without --trust-proxy", [
        `Origin: http://evil.example`,
        `X-Forwarded-Host: evil.example`,
      ], [403]],
      ["Forwarded without --trust-proxy", [
        `Origin: http://evil.example`,
        `Forwarded: host=evil.example`,
      ], [403]],
      ["trailing dot", [`Origin: http://127.0.0.1.:${p}`], [403]],
      ["Origin in upper case", [`Origin: HTTP://${self}`], [101, 403]],
    ];
    for (const [what, lines, want] of cases) {
      const host = what === "spoofed Host" ? "evil.example" : self;
      const r = await rawRequest(p, enc.encode(envRequest(lines, host)), 10000);
      assert(want.includes(r.status), `${what}: ${r.status} (want ${want})`);
      if (r.status === 403) assert(r.text.startsWith("403 Forbidden"), `${what}: body ${r.text}`);
    }
    // two Host headers: whatever is decided, the program never sees a different host than was checked
    for (const hosts of [[self, "evil.example"], ["evil.example", self]]) {
      const req = envRequest([`Host: ${hosts[1]}`, `Origin: http://${self}`], hosts[0]);
      const r = await envWith(p, req);
      if (r.status === 101) {
        const env = toMap(r.lines);
        assertEquals(`${env.get("SERVER_NAME")}:${env.get("SERVER_PORT")}`, self);
      } else assert([400, 403].includes(r.status), `two Hosts ${hosts}: ${r.status}`);
    }
    // a Host that cannot be parsed never matches
    for (const host of ["", " ", `[${self}`, `${self}:1`, `127.0.0.1:${p} x`]) {
      const r = await rawRequest(p, enc.encode(envRequest([`Origin: http://${self}`], host)));
      assert([400, 403].includes(r.status), `Host ${JSON.stringify(host)}: ${r.status}`);
    }
  });
});

Deno.test("hostile headers: --origin lists refuse look-alike hosts with 403", async () => {
  await withServer(["--origin=trusted.example"], async (server) => {
    const cases: [string, number][] = [
      ["http://trusted.example", 101],
      ["https://trusted.example:8443", 101],
      ["http://trusted.example.evil.example", 403],
      ["http://eviltrusted.example", 403],
      ["http://trusted.example@evil.example", 403],
      ["http://evil.example#trusted.example", 403],
      ["http://evil.example/?trusted.example", 403],
      ["http://trusted.example%2eevil", 403],
      ["http://xn--trusted-example", 403],
      ["http://trusted\u3002example", 403],
      ["trusted.example", 403],
      ["http://[::1]", 403],
    ];
    for (const [origin, want] of cases) {
      const bytes = enc.encode(upgradeRequest("/echo.sh", { Origin: origin }));
      const r = await rawRequest(server.port, bytes, 10000);
      assert(
        r.status === want || (want === 403 && r.status === 400),
        `${origin}: ${r.status} (want ${want})`,
      );
    }
  });
});
