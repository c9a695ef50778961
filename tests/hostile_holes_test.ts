/**
 * The ten holes an attacker found in an afternoon (security issue, main at
 * e4453da), one regression test each. Every test here failed on e4453da;
 * the figures of the bounds under load live in tests/serial/.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { rawRequest, upgradeRequest } from "../testing/load.ts";
import { clientFrame, RawWs } from "./helpers/raw_ws.ts";
import {
  marker,
  runCli,
  sleep,
  startServer,
  TESTPROG,
  type TestServer,
  waitNoProcesses,
} from "../testing/server.ts";

const enc = new TextEncoder();

/** Runs `body` with a server, then checks it stops cleanly (exit 0). */
async function withServer(
  args: string[],
  body: (server: TestServer) => Promise<void>,
): Promise<void> {
  await using server = await startServer(args);
  await body(server);
}

/** A temporary directory with executable scripts; removed by the returned function. */
async function scripts(files: Record<string, string>): Promise<[string, () => Promise<void>]> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-holes-" }));
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  return [dir, () => Deno.remove(dir, { recursive: true })];
}

function envOf(lines: string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const l of lines) {
    const eq = l.indexOf("=");
    if (eq > 0) env.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return env;
}

Deno.test("hole 1: a message in more fragments than 65,536 closes 1008 (e4453da kept every empty fragment)", async () => {
  const m = marker();
  await withServer([TESTPROG, m, "echo"], async (server) => {
    const ws = await RawWs.connect(server.port);
    const empty = clientFrame(0x0, new Uint8Array(0), { fin: false });
    const burst = new Uint8Array(empty.length * 70_000);
    for (let i = 0; i < 70_000; i++) burst.set(empty, i * empty.length);
    await ws.send(clientFrame(0x1, enc.encode("a"), { fin: false }));
    await ws.send(burst).catch(() => {}); // the server may close before it read them all
    const end = (await ws.collect()).end;
    assertEquals(end.type, "close");
    if (end.type === "close") {
      assertEquals(end.code, 1008);
      assertMatch(end.reason, /more than 65536 fragments/);
    }
    await ws.drop();
  });
});

Deno.test("hole 2: Connection: Upgrade with another token is plain HTTP: a CGI stream ends when the client leaves", async () => {
  const m = marker();
  const [dir, remove] = await scripts({
    "yes.cgi": `#!/bin/sh\n# ${m}\nprintf 'Content-Type: text/plain\\n\\n'\nexec yes ${m}\n`,
    "ok.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
  });
  try {
    await withServer(["--maxforks=1", `--cgidir=${dir}`, TESTPROG, m, "echo"], async (server) => {
      for (const token of ["h2c", "tls/1.2", "websocket2"]) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        await conn.write(enc.encode(
          `GET /yes.cgi HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${token}\r\n\r\n`,
        ));
        // the answer streams: 200 and output at once (e4453da buffered it all, forever)
        const buf = new Uint8Array(64 * 1024);
        let text = "";
        while (!text.includes(`${m}\n${m}\n`)) {
          const n = await conn.read(buf);
          assert(n !== null, "stream ended early");
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        assertMatch(text, /^HTTP\/1\.1 200 /);
        conn.close();
        // the script is stopped and its --maxforks slot given back
        assertEquals(await waitNoProcesses(`yes ${m}`, 5000), [], `script left running (${token})`);
        const next = await fetch(server.http("/ok.cgi"));
        assertEquals([next.status, await next.text()], [200, "ok\n"], `slot after ${token}`);
      }
    });
  } finally {
    await remove();
  }
});

Deno.test("hole 3: --trust-proxy ignores a client's Forwarded unless named; zones and junk never reach REMOTE_ADDR", async () => {
  const m = marker();
  await withServer(["--trust-proxy=127.0.0.1", TESTPROG, m, "env"], async (server) => {
    const ws = await RawWs.connect(server.port, {
      headers: {
        Forwarded: "for=6.6.6.6;proto=https;host=bank.example",
        "X-Forwarded-For": `fe80::1%$(id)' && curl evil`,
      },
    });
    const env = envOf((await ws.collect()).texts);
    await ws.drop();
    assertEquals(env.get("REMOTE_ADDR"), "127.0.0.1");
    assertEquals(env.has("HTTPS"), false);
    assertEquals(env.get("SERVER_NAME"), "127.0.0.1");
    const log = server.grep(/CONNECT$/).join("\n");
    assert(!log.includes("curl"), log);
  });
});

Deno.test("hole 5: with server-side auth programs see AUTH_TYPE/REMOTE_USER, never the credentials; logs never the token", async () => {
  const m = marker();
  const token = "s3cr3t-token-0123456789";
  const [dir, remove] = await scripts({
    "env.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv\n",
  });
  const tokens = `${dir}/tokens.txt`;
  await Deno.writeTextFile(tokens, `alice:${token}\n`);
  try {
    await withServer(
      [`--bearer-token-file=${tokens}`, "--auth-http", `--cgidir=${dir}`, TESTPROG, m, "env"],
      async (server) => {
        const viaQuery = await RawWs.connect(server.port, {
          path: `/?x=1&access_token=${token}&y=2`,
        });
        assertEquals(viaQuery.response.status, 101);
        const env = envOf((await viaQuery.collect()).texts);
        await viaQuery.drop();
        assertEquals([env.get("AUTH_TYPE"), env.get("REMOTE_USER")], ["Bearer", "alice"]);
        assertEquals([env.get("QUERY_STRING"), env.get("REQUEST_URI")], ["x=1&y=2", "/?x=1&y=2"]);
        const viaHeader = await RawWs.connect(server.port, {
          headers: { Authorization: `Bearer ${token}` },
        });
        const env2 = envOf((await viaHeader.collect()).texts);
        await viaHeader.drop();
        assertEquals(env2.get("REMOTE_USER"), "alice");
        assertEquals(env2.has("HTTP_AUTHORIZATION"), false, "RFC 3875 §4.1.18");
        const cgi = await fetch(server.http("/env.cgi"), {
          headers: { Authorization: `Bearer ${token}` },
        });
        const cgiEnv = envOf((await cgi.text()).split("\n"));
        assertEquals([cgiEnv.get("AUTH_TYPE"), cgiEnv.get("REMOTE_USER")], ["Bearer", "alice"]);
        assertEquals(cgiEnv.has("HTTP_AUTHORIZATION"), false);
        const refused = await RawWs.connect(server.port, { path: `/?access_token=wrong-${token}` });
        assertEquals(refused.response.status, 401);
        await refused.drop();
        await server.waitLog(/Unable to Upgrade: authentication required/);
        const leaked = server.lines.filter((l) => l.includes(token));
        assertEquals(leaked, [], "the token is in the log");
      },
    );
    // without server-side auth the program may check credentials itself (websocketd's way)
    await withServer([TESTPROG, m, "env"], async (server) => {
      const ws = await RawWs.connect(server.port, {
        headers: { Authorization: "Basic Zm9vOmJhcg==" },
      });
      const env = envOf((await ws.collect()).texts);
      await ws.drop();
      assertEquals(env.get("HTTP_AUTHORIZATION"), "Basic Zm9vOmJhcg==");
    });
  } finally {
    await remove();
  }
});

Deno.test("hole 6: nothing is written after our close frame: no pings, no pongs", async () => {
  const m = marker();
  await withServer(["--pingms=50", TESTPROG, m, "exit", "0", "bye"], async (server) => {
    const ws = await RawWs.connect(server.port);
    let sawClose = false;
    const after: string[] = [];
    // do not answer the close: the server waits a second, pinging every 50 ms if it may
    while (true) {
      const r = await ws.next(5000);
      if (r.type === "eof") break;
      if (sawClose) after.push(r.type);
      if (r.type === "close") {
        sawClose = true;
        await ws.send(clientFrame(0x9, enc.encode("are you there")));
      }
    }
    assert(sawClose, "no close frame");
    assertEquals(after, [], "frames after the close frame (RFC 6455 §5.5.1)");
    await ws.drop();
  });
});

Deno.test("hole 7: every refusal carries --header and --header-http", async () => {
  const m = marker();
  await withServer(
    ["--header=X-All: 1", "--header-http=X-Http: 2", "--origin=good.example", TESTPROG, m, "echo"],
    async (server) => {
      const cases: [string, Parameters<typeof RawWs.connect>[1]][] = [
        ["403", { headers: { Origin: "http://evil.example" } }],
        ["400", { headers: { Origin: "http://good.example", "Sec-WebSocket-Version": "8" } }],
        ["301", { path: "/a/../b", headers: { Origin: "http://good.example" } }],
        ["405", { method: "POST", headers: { Origin: "http://good.example" } }],
      ];
      for (const [want, opts] of cases) {
        const ws = await RawWs.connect(server.port, opts);
        await ws.drop();
        assertEquals(String(ws.response.status), want);
        assertEquals(ws.response.headers.get("x-all"), "1", want);
        assertEquals(ws.response.headers.get("x-http"), "2", want);
        assertEquals(ws.response.headers.get("connection"), "close", want);
      }
    },
  );
});

Deno.test("hole 8: --header names must be tokens and values free of CR/LF: refused at startup", async () => {
  for (
    const [flag, why] of [
      ["--header-ws=X-A\r\nSet-Cookie: injected=1", /control characters/],
      ["--header=X Bad: 1", /not an HTTP token/],
      ["--header-http=: value", /not an HTTP token/],
      ["--header=X-Bell: a\x07b", /control characters/],
    ] as const
  ) {
    const r = await runCli([flag, "--port=1", "cat"]);
    assertEquals(r.code, 1, flag);
    assertMatch(r.stderr, why);
    assertMatch(r.stderr, /^--header/);
  }
});

Deno.test("hole 9: HTTP/1.1 without exactly one Host is 400; HTTP/1.0 without Host is still a session", async () => {
  const m = marker();
  await withServer([TESTPROG, m, "echo"], async (server) => {
    const none = await rawRequest(
      server.port,
      upgradeRequest("/").replace("Host: 127.0.0.1\r\n", ""),
    );
    assertEquals([none.status, none.text], [400, "400 Bad Request: missing Host header\n"]);
    const two = await rawRequest(server.port, upgradeRequest("/", { Host: "a", host: "b" }));
    assertEquals([two.status, two.text], [400, "400 Bad Request: more than one Host header\n"]);
    const plain = await rawRequest(server.port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assertEquals(plain.status, 400);
    const old = await RawWs.connect(server.port, { httpVersion: "1.0", headers: { Host: null } });
    assertEquals(old.response.status, 101);
    await old.close();
  });
});

Deno.test("hole 10: a finished CGI request has released its --maxforks slot before its last byte", async () => {
  // the script closes stdout and lives on briefly: its response must not complete before it is gone
  const [dir, remove] = await scripts({
    "late.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok\\n'\nexec >&-\nsleep 0.2\n",
    "sized.cgi":
      "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nok\\n'\nexec >&-\nsleep 0.2\n",
  });
  try {
    await withServer(["--maxforks=1", `--cgidir=${dir}`], async (server) => {
      for (let i = 0; i < 6; i++) {
        const path = i % 2 ? "/sized.cgi" : "/late.cgi";
        const r = await fetch(server.http(path));
        assertEquals([r.status, await r.text()], [200, "ok\n"], `request ${i + 1} ${path}`);
      }
    });
  } finally {
    await remove();
  }
});

Deno.test("hole 4: password checks beyond the bound answer 503 at once, and the server recovers", async () => {
  const m = marker();
  const [dir, remove] = await scripts({});
  const { default: bcrypt } = await import("bcryptjs");
  await Deno.writeTextFile(`${dir}/users`, `alice:${bcrypt.hashSync("right", 10)}\n`);
  try {
    await withServer([`--basic-auth-file=${dir}/users`, TESTPROG, m, "echo"], async (server) => {
      const wrong = `Basic ${btoa("alice:wrong")}`;
      const statuses = await Promise.all(
        Array.from(
          { length: 90 },
          () =>
            rawRequest(server.port, upgradeRequest("/", { Authorization: wrong }), 60000)
              .then((a) => a.status),
        ),
      );
      const count = (s: number) => statuses.filter((x) => x === s).length;
      assert(count(503) > 0, `no 503 among ${statuses}`);
      assertEquals(count(401) + count(503), 90, String(statuses));
      await sleep(100);
      const ok = await RawWs.connect(server.port, {
        headers: { Authorization: `Basic ${btoa("alice:right")}` },
      });
      assertEquals(ok.response.status, 101);
      await ok.close();
    });
  } finally {
    await remove();
  }
});
