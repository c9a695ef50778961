/**
 * websocketd for Deno as a library: start the same server from your own
 * Deno program.
 *
 * @example
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
