/**
 * Listeners: TLS (wss), the redirect port, mutual TLS, Unix sockets, IPv6
 * and host-name addresses.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { makeCerts } from "./helpers/certs.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { freePort, marker, runCli, startServer, TESTPROG } from "../testing/server.ts";

function envOf(texts: string[]): Map<string, string> {
  return new Map(texts.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

Deno.test("--ssl serves wss:// with HTTPS=on, and port 443 is the Host default", async () => {
  await using certs = await makeCerts();
  const m = marker();
  await using server = await startServer([
    "--ssl",
    `--sslcert=${certs.certFile}`,
    `--sslkey=${certs.keyFile}`,
    TESTPROG,
    m,
    "env",
  ]);
  await server.waitLog(/Starting WebSocket server {3}: wss:\/\/127\.0\.0\.1:/);
  const ws = await RawWs.connect(server.port, {
    tls: { caCerts: [certs.ca] },
    headers: { Host: "localhost" },
  });
  assertEquals(ws.response.status, 101);
  const env = envOf((await ws.collect()).texts);
  await ws.drop();
  assertEquals(env.get("HTTPS"), "on");
  assertEquals(env.get("SERVER_PORT"), "443");
  assertEquals(env.get("SERVER_NAME"), "localhost");
  // plain HTTP to the TLS port is refused, and the server keeps serving
  const plain = await fetch(server.http("/")).then((r) => r.body?.cancel(), (e) => e);
  assert(plain instanceof Error, "plain HTTP on the TLS port must fail");
  const again = await RawWs.connect(server.port, { tls: { caCerts: [certs.ca] } });
  assertEquals(again.response.status, 101);
  await again.drop();
});

Deno.test("--redirport answers 301 to the https main port, with or without a port in Host", async () => {
  await using certs = await makeCerts();
  const m = marker();
  const redir = freePort();
  await using server = await startServer([
    "--ssl",
    `--sslcert=${certs.certFile}`,
    `--sslkey=${certs.keyFile}`,
    `--redirport=${redir}`,
    TESTPROG,
    m,
    "echo",
  ]);
  for (const host of [`example.com:${redir}`, "example.com"]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: redir });
    await conn.write(
      new TextEncoder().encode(
        `GET /some/path?x=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assertMatch(text, /^HTTP\/1\.1 301 /);
    assertMatch(
      text,
      new RegExp(`\\r\\nLocation: https://example\\.com:${server.port}/\\r\\n`, "i"),
    );
  }
});

Deno.test("--sslca requires a client certificate signed by the CA (mutual TLS)", async () => {
  await using certs = await makeCerts();
  const m = marker();
  await using server = await startServer([
    "--ssl",
    `--sslcert=${certs.certFile}`,
    `--sslkey=${certs.keyFile}`,
    `--sslca=${certs.caFile}`,
    TESTPROG,
    m,
    "echo",
  ]);
  const withCert = await RawWs.connect(server.port, {
    tls: {
      caCerts: [certs.ca],
      cert: await Deno.readTextFile(certs.clientCertFile),
      key: await Deno.readTextFile(certs.clientKeyFile),
    },
  });
  assertEquals(withCert.response.status, 101);
  await withCert.sendText("mtls");
  assertEquals(await withCert.text(), "mtls");
  await withCert.close();
  const without = await RawWs.connect(server.port, { tls: { caCerts: [certs.ca] } }).then(
    async (ws) => {
      const s = ws.response.status;
      await ws.drop();
      return s;
    },
    () => "refused",
  );
  assert(without === "refused" || without === 0, `no client cert must fail, got ${without}`);
});

Deno.test("--unixsocket alone: only the socket listens, REMOTE_ADDR=unix-socket, stale file replaced, removed at exit", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wsd.sock`;
  // a stale socket file left by a killed server
  const stale = Deno.listen({ transport: "unix", path });
  stale.close();
  await Deno.writeTextFile(path, "").catch(() => {});
  const m = marker();
  {
    await using server = await startServer([`--unixsocket=${path}`, TESTPROG, m, "env"], {
      noListenFlags: true,
    });
    await server.waitLog(new RegExp(`Starting WebSocket server {3}: unix:${path}`));
    assertEquals(server.grep(/ws:\/\//).length, 0, "no TCP listener expected");
    const ws = await RawWs.connect(0, { unixPath: path });
    const env = envOf((await ws.collect()).texts);
    await ws.drop();
    assertEquals(env.get("REMOTE_ADDR"), "unix-socket");
    assertEquals(env.get("REMOTE_PORT"), "");
    // a second server on the same live socket is refused with exit status 3
    const second = await runCli([`--unixsocket=${path}`, TESTPROG, m, "echo"]);
    assertEquals(second.code, 3);
    assertMatch(second.stdout, /already in use by a running server/);
  }
  const gone = await Deno.lstat(path).then(() => false, () => true);
  assert(gone, "socket file left behind");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--address takes IPv6 with or without brackets, and host names", async () => {
  const m = marker();
  for (const address of ["[::1]", "::1"]) {
    const port = freePort();
    await using server = await startServer([
      `--address=${address}`,
      `--port=${port}`,
      TESTPROG,
      m,
      "echo",
    ], {
      noListenFlags: true,
    });
    await server.waitLog(new RegExp(`ws://\\[::1\\]:${port}/`));
    const ws = await RawWs.connect(port, { hostname: "::1", headers: { Host: `[::1]:${port}` } });
    assertEquals(ws.response.status, 101);
    await ws.close();
  }
  const port = freePort();
  await using _server = await startServer([
    "--address=localhost",
    `--port=${port}`,
    TESTPROG,
    m,
    "echo",
  ], {
    noListenFlags: true,
  });
  const ws = await RawWs.connect(port, { hostname: "127.0.0.1" });
  assertEquals(ws.response.status, 101);
  await ws.close();
});
