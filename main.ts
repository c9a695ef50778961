#!/usr/bin/env -S deno run --allow-net --allow-run --allow-read --allow-env
/**
 * websocketd for Deno: the command-line entry. Parses flags, starts the
 * server, and turns SIGINT/SIGTERM into a graceful shutdown. Nothing else.
 *
 * @module
 */

import { ConfigError, readCommandLine } from "./lib/cli/config.ts";
import { isAuthWorker } from "./lib/http/auth.ts";
import { ListenError, startServer } from "./lib/server/server.ts";
import { Logger } from "./lib/util/log.ts";

/** Runs websocketd with the given arguments; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  const startup = readCommandLine(argv);
  if (startup.kind === "exit") {
    if (startup.stdout) await Deno.stdout.write(new TextEncoder().encode(startup.stdout));
    if (startup.stderr) await Deno.stderr.write(new TextEncoder().encode(startup.stderr));
    return startup.code;
  }
  const config = startup.config;
  const log = new Logger(config.logLevel, config.logFormat);
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
    if (e instanceof ListenError) {
      log.fatal("server", {}, `Can't start server: ${e.message}`);
      return 3;
    }
    if (e instanceof ConfigError) {
      log.fatal("server", {}, e.message);
      return e.exitCode;
    }
    log.fatal("server", {}, `Can't start server: ${e instanceof Error ? e.stack : e}`);
    return 1;
  }
  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let stopping = false;
  const stop = (sig: Deno.Signal) => () => {
    // a second SIGINT/SIGTERM cuts a --drain-ms wait short
    if (!stopping) {
      log.info("server", {}, `Received ${sig}: closing sessions and stopping programs`);
    }
    stopping = true;
    server.shutdown().then(() => resolve(0), (e) => {
      log.error("server", {}, `Shutdown failed: ${e?.stack ?? e}`);
      resolve(1);
    });
  };
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", stop("SIGINT")],
    ["SIGTERM", stop("SIGTERM")],
    ["SIGHUP", () => server.reloadTls()],
  ];
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  const code = await stopped;
  for (const [s, fn] of listeners) Deno.removeSignalListener(s, fn);
  if (code === 0) log.info("server", {}, "All programs stopped; exiting");
  return code;
}

// in bundle form the password worker loads this whole file: it must not start a server too
if (import.meta.main && !isAuthWorker()) Deno.exit(await main(Deno.args));
