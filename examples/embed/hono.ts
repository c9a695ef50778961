/**
 * websocketd inside a Hono app on Deno: `/ws` runs examples/greeter.sh for
 * each WebSocket connection; `/` and the rest are ordinary Hono routes.
 *
 *   deno run --allow-net=127.0.0.1:8080 --allow-run=./examples/greeter.sh \
 *     --allow-read=./examples --allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE,PORT examples/embed/hono.ts
 *
 * With `Deno.serve(app.fetch)`, Deno calls `app.fetch(request, info)` and Hono
 * passes that second argument on as `c.env`: so `c.env` is the
 * `Deno.ServeHandlerInfo` (the client's address is `c.env.remoteAddr`, which
 * is also what hono/deno's `getConnInfo` reads), and `c.req.raw` is Deno's
 * own Request, which `Deno.upgradeWebSocket` needs.
 *
 * @module
 */

import { Hono } from "hono";
import { websocketd } from "../../mod.ts";
import { PAGE } from "./page.ts";

const ws = websocketd({ command: new URL("../greeter.sh", import.meta.url).pathname });

const app = new Hono<{ Bindings: Deno.ServeHandlerInfo }>();
app.get("/", (c) => c.html(PAGE));
app.all("/ws", (c) => ws(c.req.raw, c.env)); // all methods: a POST handshake gets our 405
app.get("/health", (c) => c.json({ sessions: ws.sessions }));

const port = Number(Deno.env.get("PORT") ?? 8080);
const server = Deno.serve({ hostname: "127.0.0.1", port }, app.fetch);

// stop cleanly: every session ends (close 1001, then the stop ladder), then the listener
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await ws.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
