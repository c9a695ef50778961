/**
 * The embedded handler inside this test process's own `Deno.serve`, with
 * Deno's sanitizers on: it answers what is not a WebSocket, puts its
 * headers on its answers, and `close()` (or the abort signal) ends every
 * session so an app stops cleanly: no process, op or resource left.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { marker, TESTPROG, waitNoProcesses } from "../testing/server.ts";
import { Logger } from "../lib/util/log.ts";
import { websocketd, type WebsocketdHandler, type WebsocketdOptions } from "../mod.ts";

/** An app: the handler at /ws, a page elsewhere; stops the handler, then the listener. */
async function withApp(
  options: WebsocketdOptions,
  fn: (port: number, handler: WebsocketdHandler, logs: string[]) => Promise<void>,
): Promise<void> {
  const logs: string[] = [];
  const handler = websocketd({
    log: new Logger("access", "text", (line) => logs.push(line)),
    ...options,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req, info) => {
    if (new URL(req.url).pathname === "/ws") return handler(req, info);
    return new Response("the app's own page");
  });
  try {
    await fn(server.addr.port, handler, logs);
  } finally {
    await handler.close();
    await server.shutdown();
  }
}

Deno.test("a request that is not a WebSocket handshake gets 426 with Upgrade: websocket", async () => {
  await withApp({ command: "cat", headers: { "X-Served-By": "test" } }, async (port) => {
    for (const method of ["GET", "POST"]) {
      const res = await fetch(`http://127.0.0.1:${port}/ws`, { method });
      assertEquals(await res.text(), "426 Upgrade Required: this URL speaks WebSocket only\n");
      assertEquals(res.status, 426);
      assertEquals(res.headers.get("upgrade"), "websocket");
      assertEquals(res.headers.get("x-served-by"), "test");
    }
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assertEquals(await page.text(), "the app's own page");
  });
});

Deno.test("a session: the 101 carries our headers and the subprotocol; the program sees the client", async () => {
  const m = marker();
  await withApp({
    command: TESTPROG,
    args: [m, "env"],
    subprotocols: ["chat"],
    headers: [["X-Served-By", "test"]],
  }, async (port) => {
    const ws = await RawWs.connect(port, {
      path: "/ws?q=1",
      headers: { "Sec-WebSocket-Protocol": "chat" },
    });
    assertEquals(ws.response.status, 101);
    assertEquals(ws.response.headers.get("x-served-by"), "test");
    assertEquals(ws.response.headers.get("sec-websocket-protocol"), "chat");
    const { texts, end } = await ws.collect();
    await ws.drop();
    assertEquals(end, { type: "close", code: 1000, reason: "exit 0" });
    const env = Object.fromEntries(
      texts.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    assertEquals(
      [env.REMOTE_ADDR, env.QUERY_STRING, env.WEBSOCKET_PROTOCOL, env.SERVER_PORT],
      ["127.0.0.1", "q=1", "chat", String(port)],
    );
    assertMatch(env.REMOTE_PORT!, /^\d+$/);
  });
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("close() ends every live session with 1001 and the stop ladder, then answers 503", async () => {
  const m = marker();
  await withApp({ command: TESTPROG, args: [m, "welcome", "hi"] }, async (port, handler, logs) => {
    const a = await RawWs.connect(port, { path: "/ws" });
    const b = await RawWs.connect(port, { path: "/ws" });
    assertEquals([await a.text(), await b.text()], ["hi", "hi"]);
    assertEquals(handler.sessions, 2);
    await handler.close();
    assertEquals(handler.sessions, 0);
    assertEquals(await waitNoProcesses(m, 100), []);
    for (const ws of [a, b]) {
      assertEquals(await ws.nextData(), {
        type: "close",
        code: 1001,
        reason: "server shutting down",
      });
      await ws.drop();
    }
    const late = await RawWs.connect(port, { path: "/ws" });
    await late.drop();
    assertEquals(late.response.status, 503);
    assertEquals(logs.filter((l) => l.includes("DISCONNECT")).length, 2);
  });
});

Deno.test("aborting the signal option does what close() does", async () => {
  const m = marker();
  const stop = new AbortController();
  await withApp(
    { command: TESTPROG, args: [m, "welcome", "hi"], signal: stop.signal },
    async (port, handler) => {
      const ws = await RawWs.connect(port, { path: "/ws" });
      assertEquals(await ws.text(), "hi");
      stop.abort();
      assertEquals(await ws.nextData(), {
        type: "close",
        code: 1001,
        reason: "server shutting down",
      });
      await ws.drop();
      await handler.close(); // the same promise: resolves once the program is reaped
      assertEquals(await waitNoProcesses(m, 100), []);
    },
  );
});

Deno.test("await using: the handler is closed when the scope ends", async () => {
  const m = marker();
  let port = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req, info) => {
    return handler(req, info);
  });
  port = server.addr.port;
  let handler: WebsocketdHandler;
  {
    await using h = websocketd({ command: TESTPROG, args: [m, "welcome", "hi"], log: "none" });
    handler = h;
    const ws = await RawWs.connect(port);
    assertEquals(await ws.text(), "hi");
    await ws.drop();
  }
  assertEquals(await waitNoProcesses(m, 100), []);
  await server.shutdown();
});

Deno.test("settings are checked when the handler is made", () => {
  const threw = (o: WebsocketdOptions) => {
    try {
      websocketd(o);
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  assertEquals(
    threw({ command: "no-such-program-here" }),
    "websocketd: Unable to locate specified COMMAND 'no-such-program-here' in OS path.",
  );
  assertMatch(threw({ command: "cat", maxForks: -1 }), /`maxForks` must be a whole number/);
  assertMatch(threw({ command: "cat", headers: { "Bad Name": "x" } }), /./);
  assert(threw({ command: "cat", log: "none" }) === "");
});

Deno.test("a client that leaves right after its handshake: its program is stopped", async () => {
  const m = marker();
  await withApp({ command: TESTPROG, args: [m, "welcome", "hi"] }, async (port, handler) => {
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      ));
      conn.close();
    }
    const deadline = Date.now() + 12_000;
    while (handler.sessions > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(handler.sessions, 0);
    assertEquals(await waitNoProcesses(m), []);
  });
});
