/**
 * Broadcast mode behind the real Apache and nginx configurations of
 * docs/deploy (read out of the guides, as the other e2e tests do), with
 * three real Chromium pages on one shared counter program.
 *
 * The slow page is a real browser tab that stops reading: its JavaScript is
 * paused with the DevTools protocol (`Debugger.pause`, what a breakpoint or
 * a hung script does). Chromium then stops taking WebSocket data for that
 * page, its socket's receive buffer fills, the proxy's write to it blocks,
 * the proxy stops reading its connection to us, and only then does our
 * queue for that client grow. So the test shows what an operator gets:
 * whether a stuck viewer behind the proxy is detected at all, after how many
 * bytes, and that the other viewers see every number, in order, meanwhile.
 *
 * Measured on a busy 2-core machine at ~1 MB/s per page (125 fat messages
 * a second, cheap for the browser): the paused page is detected 8-13 s after
 * the pause, once the browser's, the proxy's and the kernel's buffers took
 * 8-13 MB; the others' longest wait for a number was 30 ms to 1 s, never
 * the seconds a page held up by the paused one would wait.
 * The paused page, resumed, sees close 1006, not 1008: our close frame sits
 * behind megabytes it never read, and we drop TCP a second after sending it.
 *
 * Missing apache2/nginx/chromium/openssl prints `SKIP:` and passes, unless
 * REQUIRE_E2E=1.
 */

import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { assert, assertEquals, assertMatch } from "../../testing/assert.ts";
import type { TestServer } from "../../testing/server.ts";
import {
  docBlock,
  findTools,
  launchBrowser,
  makeRunDir,
  skipOrFail,
  startApache,
  startBackends,
  startNginx,
  Teardown,
} from "./helpers.ts";
import { makeCerts } from "../helpers/certs.ts";
import { writePacer } from "../helpers/pacer.ts";

const PERIOD_MS = 8;
const LINE_BYTES = 8000; // ~1 MB/s to each page in 125 messages: few messages, cheap for the browser
const QUEUE = 65536;

/** What one page saw. */
interface PageState {
  nums: number[];
  at: number[];
  close: { code: number; reason: string } | null;
}

/** Opens `wsUrl` from a page of the proxy's origin; the page records every number and its time. */
async function openCounterPage(
  browser: Browser,
  teardown: Teardown,
  pageUrl: string,
  wsUrl: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = teardown.add(
    await browser.newContext({ ignoreHTTPSErrors: true }),
    (c) => c.close(),
  );
  const page = await context.newPage();
  await page.goto(pageUrl);
  await page.evaluate((url: string) => {
    const g = globalThis as unknown as PageState;
    g.nums = [];
    g.at = [];
    g.close = null;
    const ws = new WebSocket(url);
    ws.onmessage = (e) => {
      g.nums.push(parseInt(String(e.data), 10));
      g.at.push(Date.now());
    };
    ws.onclose = (e) => (g.close = { code: e.code, reason: e.reason });
    return new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`WebSocket error for ${url}`));
    });
  }, wsUrl);
  return { context, page };
}

function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageState;
    return { nums: g.nums.slice(), at: g.at.slice(), close: g.close };
  });
}

/** Numbers that do not follow their predecessor (empty when every number came, in order). */
function breaks(nums: number[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < nums.length; i++) {
    if (nums[i] !== nums[i - 1]! + 1) out.push(`${nums[i - 1]} → ${nums[i]}`);
  }
  return out;
}

const maxGap = (t: number[]) => t.slice(1).reduce((m, x, i) => Math.max(m, x - t[i]!), 0);

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - t0;
}

/**
 * The scenario, the same through either proxy: three pages see the same
 * counter; the third is paused; the first two must go on without a gap.
 */
async function scenario(
  proxy: string,
  browser: Browser,
  teardown: Teardown,
  backend: TestServer,
  pageUrl: string,
  wsUrl: (page: number) => string,
): Promise<void> {
  const pages: { context: BrowserContext; page: Page }[] = [];
  for (let i = 1; i <= 3; i++) {
    pages.push(await openCounterPage(browser, teardown, pageUrl, wsUrl(i)));
  }
  // all three see the counter, the same values in the same order
  await until(`${proxy}: 300 numbers on every page`, 20000, async () => {
    const states = await Promise.all(pages.map((p) => pageState(p.page)));
    return states.every((s) => s.nums.length >= 300);
  });
  const before = await Promise.all(pages.map((p) => pageState(p.page)));
  for (const [i, s] of before.entries()) {
    assertEquals(breaks(s.nums), [], `${proxy}: page ${i + 1} skipped numbers`);
  }
  const common = before[2]!.nums[0]!; // the last page to join saw every number from here
  for (const s of before) {
    assert(s.nums.includes(common), `${proxy}: the pages saw different numbers`);
  }
  assertEquals(await backend.metric("websocketd_broadcast_instances"), 1);

  // page 3 stops reading: its script is paused, as by a breakpoint or a hung loop
  const cdp: CDPSession = await pages[2]!.context.newCDPSession(pages[2]!.page);
  await cdp.send("Debugger.enable");
  await cdp.send("Debugger.pause");
  const pausedAt = Date.now();
  let detectedMs: number | null = null;
  try {
    detectedMs = await until(
      `${proxy}: the paused page closed as slow`,
      60000,
      async () => (await backend.metric("websocketd_broadcast_slow_clients_total")) >= 1,
    );
  } catch (e) {
    console.log(`${proxy}: ${(e as Error).message}`);
  }
  // the other two go on for 2 s more
  await new Promise((r) => setTimeout(r, 2000));
  const after = await Promise.all([pageState(pages[0]!.page), pageState(pages[1]!.page)]);
  await cdp.send("Debugger.resume");
  await cdp.send("Debugger.disable");
  const paused = await until(
    `${proxy}: the paused page heard its close`,
    15000,
    async () => (await pageState(pages[2]!.page)).close !== null || detectedMs === null,
  ).then(() => pageState(pages[2]!.page));

  const live = (s: PageState) => s.nums.filter((_, j) => s.at[j]! >= pausedAt).length;
  console.log(
    `${proxy}: paused page ${
      detectedMs === null ? "never detected" : `closed as slow ${detectedMs} ms after the pause`
    }, after ${paused.nums.length} numbers; it then saw close ${JSON.stringify(paused.close)};`,
    `the others got ${after.map(live)} numbers meanwhile, longest gaps ${
      after.map((s) => maxGap(s.at.filter((t) => t >= pausedAt)))
    } ms`,
  );
  assert(detectedMs !== null, `${proxy}: a paused page was never detected as slow`);
  for (const [i, s] of after.entries()) {
    assertEquals(breaks(s.nums), [], `${proxy}: page ${i + 1} skipped numbers`);
    assertEquals(s.close, null, `${proxy}: page ${i + 1} was closed`);
    // the counter prints every 8 ms; a page held up by the paused one would wait seconds
    const gap = maxGap(s.at.filter((t) => t >= pausedAt));
    assert(gap < 3000, `${proxy}: page ${i + 1} waited ${gap} ms for a number`);
    assert(live(s) > 500, `${proxy}: page ${i + 1} got only ${live(s)} numbers meanwhile`);
  }
  // what the paused page saw is still the counter, in order, up to where it was cut off
  assertEquals(breaks(paused.nums), [], `${proxy}: the paused page got a corrupt stream`);
  // 1008 only if it drained its backlog within a second of our close frame; a paused tab does not
  assert(
    paused.close !== null && [1006, 1008].includes(paused.close.code),
    `${proxy}: the paused page's close: ${JSON.stringify(paused.close)}`,
  );
  // our side: the closed client is page 3, by its own URL, and nobody else
  const err = backend.grep(/fell more than/);
  assertEquals(err.length, 1, `${proxy}: ${err}`);
  assertMatch(err[0]!, /\?page=3'/);
  await backend.waitLog(/\?page=3'.*close:'1008'.*DISCONNECT/);
  assertEquals(await backend.metric("websocketd_broadcast_clients"), 2);
}

async function counterBackend(teardown: Teardown, dir: string): Promise<TestServer> {
  const prog = await writePacer(`${dir}/counter.pl`);
  const [backend] = await startBackends(teardown, [[prog, {
    flags: ["--broadcast", `--broadcast-queue=${QUEUE}`, "--metrics=/metrics"],
    args: [String(PERIOD_MS), String(LINE_BYTES)],
  }]]);
  return backend!;
}

Deno.test("broadcast behind nginx (docs/deploy/nginx.md): three Chromium pages share one counter; a paused page is closed as slow while the others get every number", async () => {
  const tools = await findTools(["nginx", "chromium", "openssl"]);
  if (tools.missing.length) return skipOrFail(`nginx broadcast e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("nginx-broadcast");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    const certs = await makeCerts({ openssl: tools.paths.openssl!, dir });
    const backend = await counterBackend(teardown, dir);
    const { nginx, port } = await startNginx("nginx", tools.paths.nginx!, dir, {
      main: await docBlock("nginx.md", "nginx-main"),
      site: await docBlock("nginx.md", "nginx-site"),
    }, {
      DOC_ROOT: www,
      BACKEND_PORT: backend.port,
      // the guide's other two locations are not used here
      TLS_BACKEND_PORT: backend.port,
      ENV_BACKEND_PORT: backend.port,
      CERT: certs.certFile,
      KEY: certs.keyFile,
    }, "HTTPS_PORT");
    teardown.add(nginx, async (n) => {
      const status = await n.stop();
      assert(status.success, `nginx exit: ${JSON.stringify(status)}`);
    });
    const browser = teardown.add(await launchBrowser(tools.paths.chromium!), (b) => b.close());
    await scenario(
      "nginx",
      browser,
      teardown,
      backend,
      `https://localhost:${port}/no-such-page`,
      (i) => `wss://localhost:${port}/wss/wss-test/?page=${i}`,
    ).catch(async (e) => {
      throw new Error(`${e.message}\n${await nginx.diagnostics()}\n${backend.lines.join("\n")}`);
    });
  } finally {
    await teardown.run();
  }
});

Deno.test("broadcast behind Apache (docs/deploy/apache.md): three Chromium pages share one counter; a paused page is closed as slow while the others get every number", async () => {
  const tools = await findTools(["apache2", "chromium"]);
  if (tools.missing.length) return skipOrFail(`Apache broadcast e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const run = await makeRunDir("apache-broadcast");
    teardown.add(run.dir, (d) => Deno.remove(d, { recursive: true }));
    const backend = await counterBackend(teardown, run.dir);
    const { apache, port } = await startApache(
      "apache2 (broadcast)",
      tools.paths.apache2!,
      run,
      [await docBlock("apache.md", "apache-main"), await docBlock("apache.md", "apache-ws-vhost")],
      { BACKEND_PORT: backend.port, ENV_BACKEND_PORT: backend.port },
      "HTTP_PORT",
    );
    teardown.add(apache, async (a) => {
      const status = await a.stop();
      assert(
        status.success || status.signal === "SIGTERM",
        `apache2 exit: ${JSON.stringify(status)}`,
      );
    });
    const browser = teardown.add(await launchBrowser(tools.paths.chromium!), (b) => b.close());
    await scenario(
      "Apache",
      browser,
      teardown,
      backend,
      `http://localhost:${port}/no-such-page`,
      (i) => `ws://localhost:${port}/ws/ws-test/?page=${i}`,
    ).catch(async (e) => {
      throw new Error(`${e.message}\n${await apache.diagnostics()}\n${backend.lines.join("\n")}`);
    });
  } finally {
    await teardown.run();
  }
});
