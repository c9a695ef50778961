/**
 * Listeners (TCP addresses, TLS, Unix socket, redirect port) and graceful
 * shutdown. Every request goes to the upgrade route or the plain HTTP routes.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { Config, TlsConfig } from "./config.ts";
import type { ServerContext } from "./context.ts";
import { stopCgiRuns } from "./cgi.ts";
import { readPassEnv } from "./env.ts";
import { ForkSlots } from "./forks.ts";
import { Metrics } from "./metrics.ts";
import { createHttpRoutes } from "./http.ts";
import type { Logger } from "./log.ts";
import { canSignalGroups, groupSpawnMethod } from "./process.ts";
import { incomingFacts, sendResponse, textResponse } from "./request.ts";
import { ScriptDir } from "./scriptdir.ts";
import { handleUpgrade } from "./upgrade.ts";
import { acceptKey } from "./websocket.ts";
import { serverSoftware } from "./version.ts";

/** A running server. */
export interface ServerHandle {
  /** Where it listens: `ws://127.0.0.1:8080/`, `unix:/path`. */
  readonly urls: string[];
  /** Shared state (sessions, slots). */
  readonly context: ServerContext;
  /**
   * Drains (refuses new sessions, reports unhealthy, waits up to --drain-ms
   * for live sessions to end), then closes the rest with 1001 and stops every
   * program; resolves when all are gone. Calling it again skips the wait.
   */
  shutdown(): Promise<void>;
  /** Re-reads the TLS certificate and key; new handshakes use them, live sessions go on. */
  reloadTls(): void;
}

/** A listen failure, reported with websocketd's wording and exit status 3. */
export class ListenError extends Error {
  /** Create one. */
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

type NodeServer = http.Server | https.Server;

/** Reads the PEM files of --sslcert/--sslkey/--sslca into node:https options. */
function readTls(tls: TlsConfig): https.ServerOptions {
  try {
    return {
      cert: Deno.readTextFileSync(tls.certFile),
      key: Deno.readTextFileSync(tls.keyFile),
      ...(tls.caFile
        ? { ca: Deno.readTextFileSync(tls.caFile), requestCert: true, rejectUnauthorized: true }
        : {}),
    };
  } catch (e) {
    throw new ListenError(`reading TLS files: ${e instanceof Error ? e.message : e}`);
  }
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function listen(server: NodeServer, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host ? hostForUrl(host) : ""}:${port}`;
      const why = e.code === "EADDRINUSE"
        ? "bind: address already in use"
        : e.code === "EACCES"
        ? "bind: permission denied"
        : e.message;
      reject(new ListenError(`listen tcp ${where}: ${why}`));
    };
    server.once("error", onError);
    try {
      server.listen(port, host, () => {
        server.off("error", onError);
        resolve();
      });
    } catch (e) {
      // permission errors are thrown, not emitted
      const where = `${host ? hostForUrl(host) : "[::]"}:${port}`;
      reject(new ListenError(`listen tcp ${where}: ${e instanceof Error ? e.message : e}`));
    }
  });
}

async function listenUnix(server: NodeServer, path: string): Promise<void> {
  // a socket file nobody answers on is stale; a live one belongs to a running server
  try {
    Deno.lstatSync(path);
    try {
      const c = await Deno.connect({ transport: "unix", path });
      c.close();
      throw new ListenError(`socket ${path} is already in use by a running server`);
    } catch (e) {
      if (e instanceof ListenError) throw e;
      Deno.removeSync(path);
    }
  } catch (e) {
    if (e instanceof ListenError) throw e;
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new ListenError(`listen unix ${path}: ${e.message}`)));
    try {
      server.listen(path, () => resolve());
    } catch (e) {
      reject(new ListenError(`listen unix ${path}: ${e instanceof Error ? e.message : e}`));
    }
  });
}

/**
 * Starts listening as configured.
 * @throws {ListenError} When a listener cannot be opened (websocketd exits 3).
 */
export async function startServer(
  config: Config,
  log: Logger,
): Promise<ServerHandle> {
  const group = canSignalGroups();
  // node:crypto loads lazily (100-200 ms): pay that now, not on the first client's handshake
  acceptKey("");
  const slots = new ForkSlots(config.maxForks);
  const envBase = { serverSoftware: serverSoftware(), passed: readPassEnv(config.passEnv) };
  const metrics = new Metrics();
  const ctx: ServerContext = {
    metrics,
    config,
    log,
    slots,
    sessions: new Set(),
    envBase,
    group,

    scripts: config.dir ? new ScriptDir(config.dir) : null,
    httpHeaders: [...config.headers, ...config.headersHttp],
    http: createHttpRoutes({
      config,
      log,
      slots,
      envBase,
      metrics,
      state: () => ({ draining: ctx.draining, sessions: ctx.sessions.size }),
    }),
    draining: false,
  };

  const tls = config.tls;
  const tlsOptions = tls ? readTls(tls) : undefined;
  const servers: NodeServer[] = [];
  const make = (secure: boolean): NodeServer => {
    const opts = {
      // slowloris: headers must be complete within 10 s, checked every second (node's
      // default check runs every 30 s, which let slow headers live up to 40 s)
      headersTimeout: 10_000,
      connectionsCheckingInterval: 1_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      // every header line reaches the environment and --trust-proxy, not just the first 1,000
      // (the 16 KiB header-size cap still bounds them)
      maxHeadersCount: 0,
    };
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const facts = incomingFacts(req, secure, config.trustProxy);
      ctx.http(req, facts)
        .catch((e) => {
          log.error("http", { url: req.url }, `Request failed: ${e?.stack ?? e}`);
          return textResponse(500, "500 Internal Server Error\n");
        })
        .then((response) => sendResponse(res, response, facts.method, ctx.httpHeaders))
        .catch(() => res.destroy());
    };
    const server = secure
      ? https.createServer({ ...opts, ...tlsOptions }, onRequest)
      : http.createServer(opts, onRequest);
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) => {
      handleUpgrade(ctx, req, socket, head, secure).catch((e) => {
        log.error("session", { url: req.url }, `Upgrade failed: ${e?.stack ?? e}`);
        socket.destroy();
      });
    });
    server.on("clientError", (_err: Error, socket: Duplex) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    server.maxHeadersCount = 0;
    servers.push(server);
    return server;
  };

  const urls: string[] = [];
  const scheme = tls ? "wss" : "ws";
  try {
    if (config.tcp) {
      const hosts = config.addresses.length ? config.addresses : [undefined];
      for (const host of hosts) {
        await listen(make(!!tls), config.port, host);
        urls.push(`${scheme}://${host ? hostForUrl(host) : "0.0.0.0"}:${config.port}/`);
        if (config.redirPort > 0) {
          const redirect = http.createServer((req, res) => {
            const hostHeader = req.headers.host ?? "";
            const name = hostHeader.startsWith("[")
              ? hostHeader.slice(0, hostHeader.indexOf("]") + 1)
              : hostHeader.split(":")[0];
            const target = `${tls ? "https" : "http"}://${
              name || host || "localhost"
            }:${config.port}/`;
            res.writeHead(301, { Location: target, "Content-Type": "text/html; charset=utf-8" });
            res.end(`<a href="${target}">Moved Permanently</a>.\n`);
          });
          servers.push(redirect);
          await listen(redirect, config.redirPort, host);
          log.info(
            "server",
            {},
            `Starting redirect server   : http://${
              host ? hostForUrl(host) : "0.0.0.0"
            }:${config.redirPort}/`,
          );
        }
      }
    }
    if (config.unixSocket) {
      await listenUnix(make(!!tls), config.unixSocket);
      urls.push(`unix:${config.unixSocket}`);
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }

  if (config.command) {
    log.info(
      "server",
      {},
      `Serving using application   : ${[config.command.path, ...config.command.args].join(" ")}`,
    );
  }
  if (config.dir) log.info("server", {}, `Serving from directory      : ${config.dir}`);
  if (config.staticDir) log.info("server", {}, `Serving static content from : ${config.staticDir}`);
  if (config.cgiDir) log.info("server", {}, `Serving CGI scripts from    : ${config.cgiDir}`);
  if (!group) {
    log.info(
      "server",
      {},
      "Signals reach each program's pid only: signalling process groups needs unscoped --allow-run",
    );
  } else {
    const method = groupSpawnMethod();
    log.info(
      "server",
      {},
      method === "detached"
        ? "Programs get their own process group through Deno's detached spawn (slow: setsid(1) not found or not readable)"
        : `Programs get their own process group through ${method}`,
    );
  }
  for (const url of urls) {
    if (config.command || config.dir) {
      log.info("server", {}, `Starting WebSocket server   : ${url}`);
    }
    if (config.devConsole) {
      log.info("server", {}, `Developer console enabled   : ${url.replace(/^ws/, "http")}`);
    } else if (config.staticDir || config.cgiDir) {
      log.info("server", {}, `Serving CGI or static files : ${url.replace(/^ws/, "http")}`);
    }
  }

  let stopping: Promise<void> | null = null;
  let skipDrain: () => void = () => {};
  const shutdown = () => {
    if (stopping) {
      skipDrain();
      return stopping;
    }
    stopping = (async () => {
      ctx.draining = true;
      if (config.drainMs > 0 && ctx.sessions.size > 0) {
        log.info(
          "server",
          {},
          `Draining: waiting up to ${config.drainMs}ms for ${ctx.sessions.size} sessions`,
        );
        let check: ReturnType<typeof setInterval> | undefined;
        let limit: ReturnType<typeof setTimeout> | undefined;
        const allDone = new Promise<void>((resolve) => {
          check = setInterval(() => ctx.sessions.size === 0 && resolve(), 50);
          limit = setTimeout(resolve, config.drainMs);
          skipDrain = resolve;
        });
        await allDone;
        clearInterval(check);
        clearTimeout(limit);
      }
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) s.closeIdleConnections?.();
      for (const session of ctx.sessions) session.shutdown();
      await Promise.all([...[...ctx.sessions].map((s) => s.done), stopCgiRuns()]);
      for (const s of servers) s.closeAllConnections?.();
      await Promise.all(closed);
      if (config.unixSocket) {
        try {
          Deno.removeSync(config.unixSocket);
        } catch { /* already gone */ }
      }
    })();
    return stopping;
  };
  const reloadTls = () => {
    if (!tls) return;
    try {
      const fresh = readTls(tls);
      for (const s of servers) {
        if (s instanceof https.Server) s.setSecureContext(fresh);
      }
      log.info("server", {}, `Reloaded TLS certificate from ${tls.certFile}`);
    } catch (e) {
      log.error(
        "server",
        {},
        `TLS reload failed, keeping the old certificate: ${(e as Error).message}`,
      );
    }
  };
  return { urls, context: ctx, shutdown, reloadTls };
}
