/**
 * nginx as the TLS proxy in front of our server, with a real Chromium
 * loading the story's page. The nginx configuration is read out of
 * docs/deploy/nginx.md, so the guide shows exactly what passes here.
 *
 * Missing nginx/chromium/openssl prints `SKIP:` and passes, unless
 * REQUIRE_E2E=1.
 */

import { assert, assertEquals } from "../../testing/assert.ts";
import type { TestServer } from "../../testing/server.ts";
import {
  checkCountRun,
  collectMessages,
  countProgram,
  describeRun,
  docBlock,
  EXAMPLES,
  findTools,
  launchBrowser,
  makeRunDir,
  parseEnv,
  publishPages,
  runPage,
  skipOrFail,
  startBackends,
  startNginx,
  Teardown,
} from "./helpers.ts";
import { makeCerts } from "../helpers/certs.ts";

Deno.test("nginx terminates TLS for websocketd (plain and --ssl backends): Count is 1..10 arrive 500 ms apart, close 1000", async () => {
  const tools = await findTools(["nginx", "chromium", "openssl"]);
  if (tools.missing.length) return skipOrFail(`nginx e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("nginx");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    await publishPages(www, ["wsstest.html"]);
    const certs = await makeCerts({ openssl: tools.paths.openssl!, dir });
    const program = await countProgram(dir);
    const [plain, tls, env] = (await startBackends(teardown, [
      [program, { scoped: true }],
      [program, { certs, scoped: true }],
      [`${EXAMPLES}/dump-env.sh`],
    ])) as [TestServer, TestServer, TestServer];

    const site = await docBlock("nginx.md", "nginx-site");
    const main = await docBlock("nginx.md", "nginx-main");
    const { nginx, port } = await startNginx("nginx", tools.paths.nginx!, dir, { main, site }, {
      DOC_ROOT: www,
      BACKEND_PORT: plain.port,
      TLS_BACKEND_PORT: tls.port,
      ENV_BACKEND_PORT: env.port,
      CERT: certs.certFile,
      KEY: certs.keyFile,
    }, "HTTPS_PORT");
    teardown.add(nginx, async (n) => {
      const status = await n.stop();
      assert(status.success, `nginx exit: ${JSON.stringify(status)}`);
    });
    const browser = teardown.add(await launchBrowser(tools.paths.chromium!), (b) => b.close());

    const origin = `https://localhost:${port}`;
    const tlsUrl = encodeURIComponent(`wss://localhost:${port}/wss/wss-tls/`);
    const [viaPlain, viaTls, dump] = await Promise.all([
      // the page's default URL: wss://<its host>/wss/wss-test/ → plain backend
      runPage(browser, `${origin}/wsstest.html`),
      runPage(browser, `${origin}/wsstest.html?url=${tlsUrl}`),
      collectMessages(browser, `${origin}/no-such-page`, `wss://localhost:${port}/wss/dump-env/`),
    ]);
    console.log(`nginx → plain backend: ${describeRun(viaPlain)}`);
    console.log(`nginx → --ssl backend: ${describeRun(viaTls)}`);
    const problems = [
      ...checkCountRun(viaPlain, "wss via nginx to a plain backend"),
      ...checkCountRun(viaTls, "wss via nginx to a --ssl backend"),
    ];
    const e = parseEnv(dump.messages);
    const seen = {
      REMOTE_ADDR: e.get("REMOTE_ADDR"),
      HTTP_X_FORWARDED_FOR: e.get("HTTP_X_FORWARDED_FOR"),
      HTTP_X_FORWARDED_PROTO: e.get("HTTP_X_FORWARDED_PROTO"),
      SERVER_NAME: e.get("SERVER_NAME"),
      HTTP_ORIGIN: e.get("HTTP_ORIGIN"),
      REQUEST_URI: e.get("REQUEST_URI"),
    };
    const want = {
      REMOTE_ADDR: "127.0.0.1",
      HTTP_X_FORWARDED_FOR: "127.0.0.1",
      HTTP_X_FORWARDED_PROTO: "https",
      SERVER_NAME: "localhost",
      HTTP_ORIGIN: origin,
      REQUEST_URI: "/",
    };
    if (JSON.stringify(seen) !== JSON.stringify(want)) {
      problems.push(
        `dump-env through nginx: ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`,
      );
    }
    const logs = async () =>
      `${await nginx.diagnostics()}\n--- plain backend ---\n${plain.lines.join("\n")}\n` +
      `--- tls backend ---\n${tls.lines.join("\n")}\n${tls.stderr}`;
    assertEquals(problems, [], problems.length ? await logs() : "");
  } finally {
    await teardown.run();
  }
});
