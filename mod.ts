/**
 * websocketd for Deno as a library: serve a program from your own
 * `Deno.serve` app with {@link websocketd}, or start the whole standalone
 * server from your own Deno program with {@link startServer}.
 *
 * @example Embedded in an app: a program per WebSocket connection at `/ws`
 * ```ts ignore
 * import { websocketd } from "./mod.ts";
 * const ws = websocketd({ command: "./count.sh" });
 * Deno.serve((req, info) =>
 *   new URL(req.url).pathname === "/ws" ? ws(req, info) : new Response("my app")
 * );
 * ```
 *
 * @example The standalone server
 * ```ts ignore
 * import { readCommandLine, startServer, Logger } from "./mod.ts";
 * const startup = readCommandLine(["--port=8080", "./count.sh"]);
 * if (startup.kind === "run") {
 *   const server = await startServer(startup.config, new Logger("info"));
 *   // ... later
 *   await server.shutdown();
 * }
 * ```
 *
 * @module
 */

export { type Config, readCommandLine, type Startup } from "./lib/cli/config.ts";
export { ListenError, type ServerHandle, startServer } from "./lib/server/server.ts";
export { type Level, Logger } from "./lib/util/log.ts";
export { VERSION } from "./lib/cli/version.ts";
export { websocketd, type WebsocketdHandler, type WebsocketdOptions } from "./lib/embed/handler.ts";
