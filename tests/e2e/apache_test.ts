/**
 * The user's story, end to end: a real Apache 2.4 with mod_proxy_wstunnel in
 * front of our server, a real Chromium loading the story's pages, and the
 * story's pitfalls (virtual host name, SSLProxyCheckPeerName, which modules,
 * idle timeouts) each shown to matter. The Apache configuration is read out
 * of docs/deploy/apache.md, so the guide shows exactly what passes here.
 *
 * Missing apache2/chromium/openssl prints `SKIP:` and passes, unless
 * REQUIRE_E2E=1.
 */

import { assert, assertEquals } from "../../testing/assert.ts";
import { clientFrame, RawWs } from "../helpers/raw_ws.ts";
import type { TestServer } from "../../testing/server.ts";
import {
  checkCountRun,
  collectMessages,
  countProgram,
  type Daemon,
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
  startApache,
  startBackends,
  Teardown,
} from "./helpers.ts";
import { makeCerts, makeLeaf } from "../helpers/certs.ts";

const NEEDS = ["apache2", "chromium", "openssl"];

/** Everything one Apache case starts. */
interface Setup {
  teardown: Teardown;
  apache: Daemon;
  port: number;
  runDir: string;
  count: TestServer;
  env: TestServer;
}

/**
 * Starts both backends (count and dump-env) and an Apache made of the
 * guide's main block plus `blocks`, listening on `portKey`.
 */
async function setUp(
  name: string,
  tools: Record<string, string>,
  tls: boolean,
  blocks: string[],
  portKey: "HTTPS_PORT" | "HTTP_PORT",
): Promise<Setup> {
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir(name);
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    await publishPages(www, ["wstest.html", "wsstest.html"]);
    const certs = await makeCerts({ openssl: tools.openssl!, dir });
    // as in the story, websocketd serves the public site's certificate while
    // Apache reaches it as "localhost": the name mismatch that makes
    // SSLProxyCheckPeerName off necessary
    const site = tls
      ? await makeLeaf(certs, {
        name: "site",
        cn: "www.example.test",
        sans: ["DNS:www.example.test"],
      })
      : undefined;
    const program = await countProgram(dir);
    const [count, env] = (await startBackends(teardown, [
      [program, { certs: site, scoped: true }],
      [`${EXAMPLES}/dump-env.sh`, { certs: site }],
    ])) as [TestServer, TestServer];

    const templates = [
      await docBlock("apache.md", "apache-main"),
      ...await Promise.all(blocks.map((b) => docBlock("apache.md", b))),
    ];
    const { apache, port } = await startApache(
      `apache2 (${name})`,
      tools.apache2!,
      {
        dir,
        www,
      },
      templates,
      {
        BACKEND_PORT: count.port,
        ENV_BACKEND_PORT: env.port,
        CERT: certs.certFile,
        KEY: certs.keyFile,
      },
      portKey,
    );
    teardown.add(apache, async (a) => {
      const status = await a.stop();
      // SIGTERM is Apache's ordinary stop: anything else means it crashed
      assert(
        status.success || status.signal === "SIGTERM",
        `apache2 exit: ${JSON.stringify(status)}`,
      );
    });
    return { teardown, apache, port, runDir: dir, count, env };
  } catch (e) {
    await teardown.run();
    throw e;
  }
}

/** What went wrong, with every log that could say why. */
async function report(problems: string[], s: Setup): Promise<string> {
  return `${problems.join("\n")}\n${await s.apache.diagnostics()}\n--- count backend ---\n${
    s.count.lines.join("\n")
  }\n${s.count.stderr}\n--- dump-env backend ---\n${s.env.lines.join("\n")}`;
}

async function readLog(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

Deno.test({
  name:
    "Apache SSL virtual host tunnels wss:// to websocketd --ssl: Count is 1..10 arrive 500 ms apart, close 1000",
  async fn() {
    const tools = await findTools(NEEDS);
    if (tools.missing.length) return skipOrFail(`Apache wss e2e: ${tools.missing.join(", ")}`);
    const s = await setUp("apache-wss", tools.paths, true, [
      "apache-wss-default",
      "apache-wss-vhost",
    ], "HTTPS_PORT");
    const browser = s.teardown.add(await launchBrowser(tools.paths.chromium!), (b) => b.close());
    try {
      const origin = `https://localhost:${s.port}`;
      const [count, dump, wrongName] = await Promise.all([
        // the story's page, on the virtual host's name, with its default URL
        runPage(browser, `${origin}/wsstest.html`),
        collectMessages(
          browser,
          `${origin}/no-such-page`,
          `wss://localhost:${s.port}/wss/dump-env/`,
        ),
        // the story's pitfall: another name for the same server reaches the default host
        runPage(browser, `https://127.0.0.1:${s.port}/wsstest.html`),
      ]);
      console.log(`Apache wss: ${describeRun(count)}`);
      const problems = checkCountRun(count, "wss via Apache");

      const env = parseEnv(dump.messages);
      const seen = {
        REMOTE_ADDR: env.get("REMOTE_ADDR"),
        HTTPS: env.get("HTTPS"),
        HTTP_X_FORWARDED_FOR: env.get("HTTP_X_FORWARDED_FOR"),
        HTTP_X_FORWARDED_HOST: env.get("HTTP_X_FORWARDED_HOST"),
        HTTP_ORIGIN: env.get("HTTP_ORIGIN"),
        REQUEST_URI: env.get("REQUEST_URI"),
      };
      const want = {
        REMOTE_ADDR: "127.0.0.1",
        HTTPS: "on",
        HTTP_X_FORWARDED_FOR: "127.0.0.1",
        HTTP_X_FORWARDED_HOST: `localhost:${s.port}`,
        HTTP_ORIGIN: origin,
        REQUEST_URI: "/",
      };
      if (JSON.stringify(seen) !== JSON.stringify(want)) {
        problems.push(
          `dump-env through Apache: ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`,
        );
      }

      if (wrongName.console.some((l) => l.text.startsWith("Count is:"))) {
        problems.push(
          "a request for 127.0.0.1 was proxied: it should hit the default virtual host",
        );
      }
      const defaultLog = await readLog(`${s.runDir}/default_access.log`);
      const siteLog = await readLog(`${s.runDir}/localhost_access.log`);
      if (!/"GET \/wss\/wss-test\/ HTTP\/1\.1" 404 .*"127\.0\.0\.1:/.test(defaultLog)) {
        problems.push(`default host's log lacks the misdirected handshake:\n${defaultLog}`);
      }
      if (!/"GET \/wss\/wss-test\/ HTTP\/1\.1" 101 .*"localhost:/.test(siteLog)) {
        problems.push(`site's log lacks the proxied handshake:\n${siteLog}`);
      }
      await s.count.waitLog(/status:'exit 0'.*close:'1000'.*DISCONNECT/, 10000).catch(() =>
        problems.push("count backend did not log exit 0 / close 1000")
      );
      assertEquals(problems, [], await report(problems, s));
    } finally {
      await s.teardown.run();
    }
  },
});

Deno.test({
  name:
    "Apache plain virtual host tunnels ws:// to websocketd: Count is 1..10 arrive 500 ms apart, close 1000",
  async fn() {
    const tools = await findTools(NEEDS);
    if (tools.missing.length) return skipOrFail(`Apache ws e2e: ${tools.missing.join(", ")}`);
    const s = await setUp("apache-ws", tools.paths, false, ["apache-ws-vhost"], "HTTP_PORT");
    const browser = s.teardown.add(await launchBrowser(tools.paths.chromium!), (b) => b.close());
    try {
      const origin = `http://localhost:${s.port}`;
      const wsUrl = encodeURIComponent(`ws://localhost:${s.port}/ws/ws-test/`);
      const [count, dump] = await Promise.all([
        runPage(browser, `${origin}/wstest.html?url=${wsUrl}`),
        collectMessages(browser, `${origin}/no-such-page`, `ws://localhost:${s.port}/ws/dump-env/`),
      ]);
      console.log(`Apache ws: ${describeRun(count)}`);
      const problems = checkCountRun(count, "ws via Apache");
      const env = parseEnv(dump.messages);
      const seen = {
        REMOTE_ADDR: env.get("REMOTE_ADDR"),
        HTTPS: env.get("HTTPS"),
        HTTP_X_FORWARDED_FOR: env.get("HTTP_X_FORWARDED_FOR"),
        HTTP_ORIGIN: env.get("HTTP_ORIGIN"),
      };
      const want = {
        REMOTE_ADDR: "127.0.0.1",
        HTTPS: "",
        HTTP_X_FORWARDED_FOR: "127.0.0.1",
        HTTP_ORIGIN: origin,
      };
      if (JSON.stringify(seen) !== JSON.stringify(want)) {
        problems.push(
          `dump-env through Apache: ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`,
        );
      }
      assertEquals(problems, [], await report(problems, s));
    } finally {
      await s.teardown.run();
    }
  },
});

/** Apache's version as [major, minor, patch], from `apache2 -v`. */
async function apacheVersion(apache2: string): Promise<number[]> {
  const out = await new Deno.Command(apache2, { args: ["-v"], stdin: "null" }).output();
  const m = /Apache\/(\d+)\.(\d+)\.(\d+)/.exec(new TextDecoder().decode(out.stdout));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

Deno.test("Apache tunnels ws:// with mod_proxy_wstunnel or (2.4.47+) mod_proxy_http, and fails with neither", async () => {
  const tools = await findTools(["apache2"]);
  if (tools.missing.length) return skipOrFail(`Apache modules e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("apache-modules");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    const [greeter] = await startBackends(teardown, [[`${EXAMPLES}/greeter.sh`]]);
    const main = await docBlock("apache.md", "apache-main");
    const vhost = await docBlock("apache.md", "apache-ws-vhost");
    const [major, minor, patch] = await apacheVersion(tools.paths.apache2!);
    const modern = major! > 2 || (major === 2 && (minor! > 4 || patch! >= 47));
    const handlers = ["proxy_wstunnel_module", "proxy_http_module"];
    const cases: [loaded: string[], works: boolean][] = [
      [handlers, true],
      [["proxy_wstunnel_module"], true],
      [["proxy_http_module"], modern],
      [[], false],
    ];
    const seen: string[] = [];
    const expected: string[] = [];
    for (const [loaded, works] of cases) {
      // the guide's main block with the handler modules not chosen left out
      const trimmed = main.split("\n").filter((line) => {
        const m = /^LoadModule (\w+) /.exec(line);
        return !m || !handlers.includes(m[1]!) || loaded.includes(m[1]!);
      }).join("\n");
      const run = `${dir}/${loaded.length ? loaded.join("+") : "none"}`;
      await Deno.mkdir(run);
      await Deno.chmod(run, 0o755);
      const { apache, port } = await startApache(
        `apache2 (${loaded.join(", ") || "no handler"})`,
        tools.paths.apache2!,
        { dir: run, www },
        [trimmed, vhost],
        { BACKEND_PORT: greeter!.port, ENV_BACKEND_PORT: greeter!.port },
      );
      try {
        const ws = await RawWs.connect(port, { path: "/ws/ws-test/" });
        let answer = `status ${ws.response.status}`;
        if (ws.response.status === 101) {
          await ws.sendText("modules");
          answer = await ws.text(10000);
        }
        await ws.close();
        // the error-log line apache.md tells readers to look for
        if (!works && !(await apache.diagnostics()).includes("No protocol handler was valid")) {
          answer += " (no 'No protocol handler' in the error log)";
        }
        const label = loaded.length ? loaded.join(" + ") : "no handler module";
        seen.push(`${label}: ${answer}`);
        expected.push(`${label}: ${works ? "Hello modules!" : "status 500"}`);
      } finally {
        await apache.stop();
      }
    }
    console.log(seen.join("\n"));
    assertEquals(seen, expected);
  } finally {
    await teardown.run();
  }
});

/**
 * Reads from `ws` until `want` arrives or the connection ends, answering
 * pings like a browser does; returns the texts seen and how it ended.
 */
async function readUntil(ws: RawWs, want: string, timeoutMs: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await ws.next(Math.max(1, deadline - Date.now())).catch(() => null);
    if (!r) break;
    if (r.type === "ping") await ws.send(clientFrame(0xa, r.bytes));
    else if (r.type === "text") {
      seen.push(r.text);
      if (r.text === want) return seen;
    } else if (r.type === "close" || r.type === "eof") {
      seen.push(r.type === "close" ? `close ${r.code}` : "eof");
      return seen;
    }
  }
  seen.push("timeout");
  return seen;
}

Deno.test("Apache cuts a tunnel silent for Timeout/ProxyTimeout; websocketd --pingms keeps it open", async () => {
  const tools = await findTools(["apache2"]);
  if (tools.missing.length) return skipOrFail(`Apache idle e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("apache-idle");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    // says hello, then nothing for twice the proxy's timeout
    const quiet = `${dir}/quiet.sh`;
    await Deno.writeTextFile(quiet, "#!/bin/sh\necho start\nsleep 4\necho late\n");
    await Deno.chmod(quiet, 0o755);
    const [silent, pinged] = (await startBackends(teardown, [
      [quiet],
      [quiet, { flags: ["--pingms=500"] }],
    ])) as [TestServer, TestServer];
    const templates = await Promise.all(
      ["apache-main", "apache-ws-vhost", "apache-idle"].map((b) => docBlock("apache.md", b)),
    );
    const { apache, port } = await startApache(
      "apache2 (idle)",
      tools.paths.apache2!,
      {
        dir,
        www,
      },
      templates,
      {
        // the vhost's two paths: /ws/ws-test/ → silent, /ws/dump-env/ → pinged
        BACKEND_PORT: silent.port,
        ENV_BACKEND_PORT: pinged.port,
        IDLE_TIMEOUT: 2,
      },
    );
    teardown.add(apache, (a) => a.stop());
    const [a, b] = await Promise.all([
      RawWs.connect(port, { path: "/ws/ws-test/" }),
      RawWs.connect(port, { path: "/ws/dump-env/" }),
    ]);
    teardown.add(a, (ws) => ws.drop());
    teardown.add(b, (ws) => ws.drop());
    const [withoutPings, withPings] = await Promise.all([
      readUntil(a, "late", 15000),
      readUntil(b, "late", 15000),
    ]);
    console.log(`silent: ${withoutPings.join(", ")}\n--pingms=500: ${withPings.join(", ")}`);
    assertEquals(withPings, ["start", "late"], await apache.diagnostics());
    assertEquals(withoutPings[0], "start");
    // Apache just drops the TCP connection: no close frame, or at most an abnormal one
    assert(
      withoutPings.length === 2 && /^(eof|close)/.test(withoutPings[1]!),
      `silent tunnel was not cut: ${withoutPings}`,
    );
  } finally {
    await teardown.run();
  }
});
