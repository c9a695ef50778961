#!/usr/bin/env -S deno run --allow-net --allow-run --allow-read --allow-env
/**
 * websocketd for Deno: the command-line entry. Parses flags, starts the
 * server, and turns SIGINT/SIGTERM into a graceful shutdown. Nothing else.
 *
 * @module
 */

import { readCommandLine } from "./lib/config.ts";
import { Logger } from "./lib/log.ts";
import { ListenError, startServer } from "./lib/server.ts";

/** Runs websocketd with the given arguments; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  const startup = readCommandLine(argv);
  if (startup.kind === "exit") {
    if (startup.stdout) await Deno.stdout.write(new TextEncoder().encode(startup.stdout));
    if (startup.stderr) await Deno.stderr.write(new TextEncoder().encode(startup.stderr));
    return startup.code;
  }
  const config = startup.config;
  const log = new Logger(config.logLevel);
  // one session's bug must never take the server down
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("server", {}, `Unhandled rejection: ${e.reason?.stack ?? e.reason}`);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("server", {}, `Uncaught error: ${e.error?.stack ?? e.message}`);
  });

  let server;
  try {
    server = await startServer(config, log);
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    log.fatal("server", {}, `Can't start server: ${e.message}`);
    return 3;
  }
  const { promise: stop, resolve } = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const h = () => resolve(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  const sig = await stop;
  log.info("server", {}, `Received ${sig}: closing sessions and stopping programs`);
  await server.shutdown();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  log.info("server", {}, "All programs stopped; exiting");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
