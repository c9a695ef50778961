/**
 * The embedding examples, run as their doc comments say (the narrow
 * permissions included): the app's own page, the program at /ws with its
 * exact answers, and a clean stop on SIGTERM with a session still open.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { launch, sleep, type TestServer } from "../testing/server.ts";

/** The permissions each example's doc comment gives, for a port. */
function permissions(port: number): string[] {
  return [
    `--allow-net=127.0.0.1:${port}`,
    "--allow-run=./examples/greeter.sh",
    "--allow-read=./examples",
    "--allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE,PORT",
  ];
}

function startExample(file: string): Promise<TestServer> {
  return launch({
    command: (port) => ({
      args: ["run", "--quiet", ...permissions(port), file],
      env: { PORT: String(port) },
    }),
    // Deno.serve says "Listening on" on stderr: wait for the port instead
    ready: (server) => listening(server.port, 15000),
    what: file,
  });
}

/** Whether something accepts connections on the port within `ms`. */
async function listening(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      await sleep(50);
    }
  }
  return false;
}

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function exerciseExample(file: string, extra?: (server: TestServer) => Promise<void>) {
  const server = await startExample(file);
  try {
    const page = await fetch(server.http("/"));
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /new WebSocket\(.*"\/ws"\)/);

    const ws = await RawWs.connect(server.port, { path: "/ws" });
    assertEquals(ws.response.status, 101);
    await ws.sendText("Ada");
    await ws.sendText("Bob");
    assertEquals([await ws.text(), await ws.text()], ["Hello Ada!", "Hello Bob!"]);
    await ws.sendClose(1000);
    assertEquals(await ws.nextData(), { type: "close", code: 1000, reason: "" });
    await ws.drop();

    const plain = await fetch(server.http("/ws"));
    await plain.body?.cancel();
    assertEquals(plain.status, 426);
    await extra?.(server);

    // SIGTERM with a session open: the client hears 1001, the program is stopped, exit 0
    const held = await RawWs.connect(server.port, { path: "/ws" });
    await held.sendText("Cy");
    assertEquals(await held.text(), "Hello Cy!");
    const programs = childrenOf(server.pid);
    assertEquals(programs.length, 1, "one program for the open session");
    server.kill("SIGTERM");
    assertEquals(await held.nextData(), {
      type: "close",
      code: 1001,
      reason: "server shutting down",
    });
    await held.drop();
    assertEquals((await server.exited()).code, 0);
    assert(!alive(programs[0]!), "the program outlived the app");
  } finally {
    await server.stop();
  }
}

Deno.test("examples/embed/deno_serve.ts: page at /, greeter at /ws, clean stop", async () => {
  await exerciseExample("examples/embed/deno_serve.ts");
});

Deno.test("examples/embed/hono.ts: the same in Hono, c.env is the ServeHandlerInfo", async () => {
  await exerciseExample("examples/embed/hono.ts", async (server) => {
    const health = await fetch(server.http("/health"));
    assertEquals(await health.json(), { sessions: 0 });
    // a POST handshake reaches the handler (app.all): websocketd's 405, not Hono's 404
    const post = await RawWs.connect(server.port, { path: "/ws", method: "POST" });
    await post.drop();
    assertEquals(post.response.status, 405);
  });
});
