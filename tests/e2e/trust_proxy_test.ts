/**
 * --trust-proxy behind the real Apache and nginx of the deploy guides: a
 * client on another loopback address (127.0.0.5) must show up as itself in
 * REMOTE_ADDR, whatever X-Forwarded-For it forges; without the proxy in
 * between, forged headers are ignored.
 *
 * Missing apache2/nginx/openssl prints `SKIP:` and passes, unless REQUIRE_E2E=1.
 */

import net from "node:net";
import tls from "node:tls";
import { assertEquals } from "../../testing/assert.ts";
import type { TestServer } from "../../testing/server.ts";
import {
  docBlock,
  EXAMPLES,
  findTools,
  makeRunDir,
  parseEnv,
  skipOrFail,
  startApache,
  startBackends,
  startNginx,
  Teardown,
} from "./helpers.ts";
import { makeCerts } from "../helpers/certs.ts";

const CLIENT = "127.0.0.5";
const FORGED = "6.6.6.6";
/** What a client behind a proxy may write to pose as someone else, somewhere else. */
const FORGERIES = `X-Forwarded-For: ${FORGED}\r\nX-Forwarded-Proto: https\r\n` +
  `X-Forwarded-Host: bank.example\r\nForwarded: for=${FORGED};proto=https;host=bank.example\r\n`;

/**
 * Opens a WebSocket from `localAddress` (Deno.connect cannot bind a source
 * address; node:net can), sends a forged X-Forwarded-For, and returns the
 * text messages until the server closes.
 */
function envFrom(
  port: number,
  path: string,
  opts: { tls?: boolean; host?: string } = {},
): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: "127.0.0.1", port, localAddress: CLIENT });
    const socket: net.Socket = opts.tls
      ? tls.connect({ socket: raw, servername: "localhost", rejectUnauthorized: false })
      : raw;
    const host = opts.host ?? `localhost:${port}`;
    const ready = opts.tls ? "secureConnect" : "connect";
    socket.once(ready, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          `${FORGERIES}\r\n`,
      );
    });
    let buf = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const text = new TextDecoder().decode(buf);
      const head = text.indexOf("\r\n\r\n");
      if (!text.startsWith("HTTP/1.1 101")) {
        return reject(new Error(`no 101: ${text.slice(0, 200)}`));
      }
      // server frames are unmasked; text frames of env lines are short
      const lines: string[] = [];
      let at = new TextEncoder().encode(text.slice(0, head + 4)).length;
      while (at + 2 <= buf.length) {
        const op = buf[at]! & 0x0f;
        let len = buf[at + 1]! & 0x7f;
        let h = 2;
        if (len === 126) {
          len = (buf[at + 2]! << 8) | buf[at + 3]!;
          h = 4;
        }
        if (op === 0x1) lines.push(new TextDecoder().decode(buf.subarray(at + h, at + h + len)));
        at += h + len;
      }
      resolve(parseEnv(lines));
    });
  });
}

Deno.test("--trust-proxy behind Apache and nginx: REMOTE_ADDR is the real client; forged X-Forwarded-*, Forwarded ignored", async () => {
  const tools = await findTools(["apache2", "nginx", "openssl"]);
  if (tools.missing.length) return skipOrFail(`trust-proxy e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("trustproxy");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    const certs = await makeCerts({ openssl: tools.paths.openssl!, dir });
    // each with the headers its proxy writes, as docs/deploy says
    const [env, nginxEnv] = (await startBackends(teardown, [
      [`${EXAMPLES}/dump-env.sh`, {
        flags: [
          "--trust-proxy=127.0.0.1",
          "--trust-proxy-headers=x-forwarded-for,x-forwarded-host",
        ],
      }],
      [`${EXAMPLES}/dump-env.sh`, {
        flags: [
          "--trust-proxy=127.0.0.1",
          "--trust-proxy-headers=x-forwarded-for,x-forwarded-proto",
        ],
      }],
    ])) as [TestServer, TestServer];

    // directly, from an untrusted address: the forged headers change nothing
    const direct = await envFrom(env.port, "/");
    assertEquals(direct.get("REMOTE_ADDR"), CLIENT);
    assertEquals(direct.get("HTTP_X_FORWARDED_FOR"), FORGED);
    assertEquals([direct.get("HTTPS") ?? "", direct.get("SERVER_NAME")], ["", "localhost"]);

    const blocks = await Promise.all(
      ["apache-main", "apache-ws-vhost"].map((b) => docBlock("apache.md", b)),
    );
    const { apache, port: apachePort } = await startApache(
      "apache2 (trust-proxy)",
      tools.paths.apache2!,
      { dir, www },
      blocks,
      { BACKEND_PORT: env.port, ENV_BACKEND_PORT: env.port },
    );
    teardown.add(apache, (a) => a.stop());
    const viaApache = await envFrom(apachePort, "/ws/dump-env/");
    assertEquals(viaApache.get("REMOTE_ADDR"), CLIENT, "through Apache");
    assertEquals(viaApache.get("HTTP_X_FORWARDED_FOR"), `${FORGED}, ${CLIENT}`);
    // Apache passes the client's X-Forwarded-Proto and Forwarded on: neither is believed
    assertEquals(viaApache.get("HTTPS") ?? "", "", "forged X-Forwarded-Proto through Apache");
    // Apache appends the Host the client used to X-Forwarded-Host: the right-most value counts
    assertEquals(viaApache.get("SERVER_NAME"), "localhost", "X-Forwarded-Host from Apache");
    assertEquals(viaApache.get("SERVER_PORT"), String(apachePort));

    const { nginx, port: nginxPort } = await startNginx(
      "nginx (trust-proxy)",
      tools.paths.nginx!,
      dir,
      {
        main: await docBlock("nginx.md", "nginx-main"),
        site: await docBlock("nginx.md", "nginx-site"),
      },
      {
        DOC_ROOT: www,
        BACKEND_PORT: nginxEnv.port,
        TLS_BACKEND_PORT: nginxEnv.port,
        ENV_BACKEND_PORT: nginxEnv.port,
        CERT: certs.certFile,
        KEY: certs.keyFile,
      },
      "HTTPS_PORT",
    );
    teardown.add(nginx, (n) => n.stop());
    const viaNginx = await envFrom(nginxPort, "/wss/dump-env/", { tls: true });
    assertEquals(viaNginx.get("REMOTE_ADDR"), CLIENT, "through nginx");
    assertEquals(viaNginx.get("HTTPS"), "on", "X-Forwarded-Proto from nginx");
    assertEquals(viaNginx.get("HTTP_X_FORWARDED_FOR"), `${FORGED}, ${CLIENT}`);
    // nginx passes the client's X-Forwarded-Host on: not believed, Host decides
    assertEquals(viaNginx.get("SERVER_NAME"), "localhost", "forged X-Forwarded-Host through nginx");
  } finally {
    await teardown.run();
  }
});
