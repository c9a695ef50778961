/**
 * `--devconsole`: the page over HTTP (any path and method, conditional GET,
 * ranges, escaping of the URL prefill) and, in headless Chromium, the page
 * actually driving a session: connect, send, echo, history, binary as hex,
 * and the close code and reason when the program exits.
 */

import { chromium, type ConsoleMessage, type Page } from "playwright-core";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import {
  marker,
  ROOT,
  startServer,
  TESTPROG,
  type TestServer,
  waitNoProcesses,
} from "../testing/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = `${ROOT}/tests/artifacts`;

/** Runs `fn` against a `--devconsole` server for the echo program; checks no program is left. */
async function withConsole(
  extra: string[],
  mode: string[],
  fn: (server: TestServer) => Promise<void>,
): Promise<void> {
  const m = marker();
  {
    await using server = await startServer(["--devconsole", ...extra, TESTPROG, m, ...mode]);
    await fn(server);
  }
  assertEquals(await waitNoProcesses(m), []);
}

/** fetch that always consumes the body. */
async function request(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(url, { redirect: "manual", ...init });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** One request written byte for byte (fetch would percent-encode `"` and `<`). */
async function rawRequest(port: number, target: string, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const req = `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
  } catch (e) {
    conn.close();
    throw e;
  }
  // reading to EOF closes the connection
  return await new Response(conn.readable).text();
}

Deno.test("devconsole: any path gets 200 text/html with the ws:// URL of that host and target", async () => {
  await withConsole([], ["echo"], async (server) => {
    const r = await request(server.http("/foo/bar?x=1"));
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "text/html; charset=utf-8");
    assert(r.headers.get("last-modified"), "Last-Modified is the start time");
    assertEquals(r.headers.get("accept-ranges"), "bytes");
    assertEquals(r.headers.get("content-length"), String(new TextEncoder().encode(r.body).length));
    assert(r.body.includes(`value="ws://127.0.0.1:${server.port}/foo/bar?x=1"`), r.body);
    assertMatch(r.body, /<meta name="viewport"/);
    // self-contained: nothing loaded from elsewhere
    assert(!/<script[^>]+src=|<link[^>]+href=|https?:\/\//.test(r.body), "no external resources");
    assertMatch(r.headers.get("content-security-policy") ?? "", /script-src 'sha256-/);

    const post = await request(server.http("/x"), { method: "POST", body: "ignored" });
    assertEquals([post.status, post.headers.get("content-type")], [
      200,
      "text/html; charset=utf-8",
    ]);
    assert(post.body.includes(`value="ws://127.0.0.1:${server.port}/x"`));
    const head = await request(server.http("/"), { method: "HEAD" });
    assertEquals([head.status, head.body], [200, ""]);
  });
});

Deno.test("devconsole: If-Modified-Since gives 304 and Range gives 206, as Go's ServeContent", async () => {
  await withConsole([], ["echo"], async (server) => {
    const first = await request(server.http("/"));
    const lastModified = first.headers.get("last-modified")!;
    const again = await request(server.http("/"), {
      headers: { "If-Modified-Since": lastModified },
    });
    assertEquals([again.status, again.body], [304, ""]);
    // conditional GET applies to GET and HEAD only
    const post = await request(server.http("/"), {
      method: "POST",
      headers: { "If-Modified-Since": lastModified },
    });
    assertEquals(post.status, 200);

    const part = await request(server.http("/"), { headers: { Range: "bytes=0-9" } });
    assertEquals(part.status, 206);
    assertEquals(part.body, first.body.slice(0, 10));
    const size = new TextEncoder().encode(first.body).length;
    assertEquals(part.headers.get("content-range"), `bytes 0-9/${size}`);
    const beyond = await request(server.http("/"), { headers: { Range: "bytes=999999-" } });
    assertEquals(beyond.status, 416);
  });
});

Deno.test("devconsole: a request target or Host carrying markup is escaped in the URL prefill", async () => {
  await withConsole([], ["echo"], async (server) => {
    const target = `/x"><script>alert(1)</script>'`;
    const page = await rawRequest(server.port, target, `127.0.0.1:${server.port}`);
    assertMatch(page, /^HTTP\/1\.1 200 /);
    assert(
      page.includes(
        `value="ws://127.0.0.1:${server.port}/x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39;"`,
      ),
      page,
    );
    assert(!page.includes("<script>alert(1)"), "the target must not inject markup");
    const byHost = await rawRequest(server.port, "/", `h"><img src=x onerror=alert(1)>`);
    assert(byHost.includes(`value="ws://h&#34;&gt;&lt;img src=x onerror=alert(1)&gt;/"`), byHost);
    assert(!byHost.includes("<img"), "the Host header must not inject markup");
  });
});

Deno.test("devconsole: a WebSocket upgrade on the console's server still gets 101 and the program", async () => {
  await withConsole([], ["echo"], async (server) => {
    const ws = await RawWs.connect(server.port, { path: "/foo" });
    try {
      assertEquals(ws.response.status, 101);
      await ws.sendText("through the console server");
      assertEquals(await ws.text(), "through the console server");
    } finally {
      await ws.close();
    }
  });
});

/** Waits for a log row of `kind` (sys, in, out, err) whose label and text contain the given strings. */
async function logRow(page: Page, kind: string, label: string, text = ""): Promise<string> {
  const row = page.locator(`#log .e.${kind}`)
    .filter({ has: page.locator(".k", { hasText: label }) })
    .filter({ has: page.locator(".m", { hasText: text }) })
    .first();
  await row.waitFor({ timeout: 20_000 });
  return (await row.locator(".m").textContent()) ?? "";
}

Deno.test({
  name:
    "devconsole in Chromium: connect, send, see the echo, browse history, then see binary as hex and close 1000 `exit 3`",
  fn: async () => {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      const why = `${CHROMIUM} not found; the browser test needs it`;
      if (Deno.env.get("REQUIRE_E2E") === "1") throw new Error(`REQUIRE_E2E=1 but ${why}`);
      console.log(`SKIP: ${why} (set REQUIRE_E2E=1 to make this a failure)`);
      return;
    }
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      timeout: 60_000,
    });
    try {
      const context = await browser.newContext({ viewport: { width: 900, height: 520 } });
      const problems: string[] = [];
      context.on("page", (p) => {
        // a CSP violation (a wrong script hash) or a script error shows up here
        p.on("console", (msg: ConsoleMessage) => {
          if (msg.type() === "error") problems.push(msg.text());
        });
        p.on("pageerror", (e: Error) => problems.push(String(e)));
      });

      await withConsole([], ["echo"], async (server) => {
        const page = await context.newPage();
        await page.goto(server.http("/chat?room=1"));
        assertEquals(
          await page.inputValue("#url"),
          `ws://127.0.0.1:${server.port}/chat?room=1`,
        );
        await page.click("#connect");
        await logRow(page, "sys", "open");
        await page.fill("#msg", "hello <b>from</b> chromium");
        await page.press("#msg", "Enter");
        assertEquals(await logRow(page, "in", "recv", "chromium"), "hello <b>from</b> chromium");
        assertEquals(await logRow(page, "out", "send"), "hello <b>from</b> chromium");
        assertEquals(await page.locator("#log b").count(), 0, "messages are text, not markup");
        assertEquals(await page.inputValue("#msg"), "");
        await page.press("#msg", "ArrowUp");
        assertEquals(await page.inputValue("#msg"), "hello <b>from</b> chromium");
        const stored = await page.evaluate(() =>
          localStorage.getItem("websocketd-deno.console.history")
        );
        assertEquals(JSON.parse(stored ?? "[]"), ["hello <b>from</b> chromium"]);
        await page.click("#disconnect");
        assertMatch(await logRow(page, "sys", "close"), /^code 1000, .*wasClean true$/);
        await page.screenshot({ path: `${ARTIFACTS}/devconsole.png` });
        await page.close();
      });

      await withConsole(["--binary"], ["exit", "3", "bye"], async (server) => {
        const page = await context.newPage();
        await page.goto(server.http("/"));
        // Enter in the URL box connects
        await page.press("#url", "Enter");
        const close = await logRow(page, "sys", "close");
        assertEquals(close, `code 1000, reason "exit 3", wasClean true`);
        assertMatch(await logRow(page, "in", "recv binary"), /^62 79 65 0a/);
        await page.close();
      });
      assertEquals(problems, []);
      await context.close();
    } finally {
      await browser.close();
    }
  },
});
