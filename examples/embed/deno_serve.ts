/**
 * websocketd inside a plain `Deno.serve` app: `/ws` runs examples/greeter.sh
 * for each WebSocket connection (each line you send is answered with
 * `Hello <line>!`); every other path is the app's own.
 *
 *   deno run --allow-net=127.0.0.1:8080 --allow-run=./examples/greeter.sh \
 *     --allow-read=./examples --allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE,PORT examples/embed/deno_serve.ts
 *
 * then open http://127.0.0.1:8080/. PORT (default 8080) picks the port.
 *
 * @module
 */

import { websocketd } from "../../mod.ts";
import { PAGE } from "./page.ts";

const ws = websocketd({ command: new URL("../greeter.sh", import.meta.url).pathname });
const port = Number(Deno.env.get("PORT") ?? 8080);

const server = Deno.serve({ hostname: "127.0.0.1", port }, (req, info) => {
  const { pathname } = new URL(req.url);
  if (pathname === "/ws") return ws(req, info); // the program, one per connection
  if (pathname === "/") return new Response(PAGE, { headers: { "content-type": "text/html" } });
  return new Response("not found\n", { status: 404 });
});

// stop cleanly: every session ends (close 1001, then the stop ladder), then the listener
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await ws.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
