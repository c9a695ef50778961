/**
 * The server: listeners that hand every request to the route, and the
 * lifecycle around them (startup log, drain, shutdown, TLS reload).
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { stopCgiRuns } from "../cgi/run.ts";
import { readPassEnv } from "../cgi/variables.ts";
import { type Config, ConfigError, startsPrograms } from "../cli/config.ts";
import { serverSoftware } from "../cli/version.ts";
import { AuthGate } from "../http/auth.ts";
import { readFacts } from "../http/request.ts";
import { logUrl } from "../http/request.ts";
import { ScriptRoot } from "../http/scripts.ts";
import { canSignalGroups, groupSpawnMethod } from "../process/groups.ts";
import { prepareSpawning } from "../process/program.ts";
import type { Logger } from "../util/log.ts";
import { acceptKey, isWebSocketRequest } from "../ws/handshake.ts";
import type { ServerContext } from "./context.ts";
import { ForkSlots } from "./forks.ts";
import {
  hostForUrl,
  listen,
  ListenError,
  listenUnix,
  type NodeServer,
  readTls,
  redirectServer,
} from "./listeners.ts";
import { Metrics } from "./metrics.ts";
import { type Exchange, route } from "./route.ts";

export { ListenError };

/** A running server. */
export interface ServerHandle {
  /** Where it listens: `ws://127.0.0.1:8080/`, `unix:/path`. */
  readonly urls: string[];
  /**
   * Drains (refuses new sessions, reports unhealthy, waits up to --drain-ms
   * for live sessions to end), then closes the rest with 1001 and stops every
   * program; resolves when all are gone. Calling it again skips the wait.
   */
  shutdown(): Promise<void>;
  /** Re-reads the TLS certificate and key; new handshakes use them, live sessions go on. */
  reloadTls(): void;
}

/**
 * With `--health` and `--drain-ms`, the least time a drain lasts even with no
 * session left: active health checks (HAProxy's default interval is 2 s) must
 * see 503 before the listener closes, or they only see "connection refused".
 */
const HEALTH_GRACE_MS = 3000;

/** Limits of node's HTTP parser, per connection. */
const HTTP_LIMITS = {
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

/**
 * Starts listening as configured.
 * @throws {ListenError} When a listener cannot be opened (websocketd exits 3).
 */
export async function startServer(config: Config, log: Logger): Promise<ServerHandle> {
  // node:crypto loads lazily (100-200 ms): pay that now, not on the first client's handshake
  acceptKey("");
  const ctx = await createContext(config, log);
  const servers: NodeServer[] = [];
  let urls: string[];
  try {
    urls = await openListeners(ctx, servers);
  } catch (e) {
    for (const s of servers) s.close();
    ctx.auth?.close();
    throw e;
  }
  logStartup(ctx, urls);
  return { urls, shutdown: shutdownOnce(ctx, servers), reloadTls: () => reloadTls(ctx, servers) };
}

/** Every listener the configuration asks for; the servers made are pushed to `servers`. */
async function openListeners(ctx: ServerContext, servers: NodeServer[]): Promise<string[]> {
  const { config, log } = ctx;
  const tlsOptions = config.tls ? readTls(config.tls) : undefined;
  const make = () => {
    const server = nodeServer(ctx, tlsOptions);
    servers.push(server);
    return server;
  };
  const urls: string[] = [];
  const scheme = config.tls ? "wss" : "ws";
  if (config.tcp) {
    const hosts = config.addresses.length ? config.addresses : [undefined];
    for (const host of hosts) {
      await listen(make(), config.port, host);
      urls.push(`${scheme}://${host ? hostForUrl(host) : "0.0.0.0"}:${config.port}/`);
      if (config.redirPort > 0) {
        const redirect = redirectServer(!!config.tls, config.port, host, ctx.httpHeaders);
        servers.push(redirect);
        await listen(redirect, config.redirPort, host);
        const where = `${host ? hostForUrl(host) : "0.0.0.0"}:${config.redirPort}`;
        log.info("server", {}, `Starting redirect server   : http://${where}/`);
      }
    }
  }
  if (config.unixSocket) {
    await listenUnix(make(), config.unixSocket);
    urls.push(`unix:${config.unixSocket}`);
  }
  return urls;
}

/**
 * The server's shutdown: drain (refuse new sessions, report 503, wait up to
 * --drain-ms), then 1001 to the rest and every stop ladder, then close the
 * listeners. A second call skips what is left of the drain.
 */
function shutdownOnce(ctx: ServerContext, servers: NodeServer[]): () => Promise<void> {
  const { config, log } = ctx;
  let stopping: Promise<void> | null = null;
  let skipDrain: () => void = () => {};
  return () => {
    if (stopping) {
      skipDrain();
      return stopping;
    }
    stopping = (async () => {
      ctx.draining = true;
      // with --health, stay up (answering 503) long enough for an active health check to see it
      const floor = config.healthPath ? Math.min(config.drainMs, HEALTH_GRACE_MS) : 0;
      if (config.drainMs > 0 && (ctx.live.size > 0 || floor > 0)) {
        const n = ctx.live.size;
        log.info("server", {}, `Draining: waiting up to ${config.drainMs}ms for ${n} sessions`);
        await drained(ctx, config.drainMs, floor, (skip) => (skipDrain = skip));
      }
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) s.closeIdleConnections?.();
      const live = [...ctx.live];
      for (const l of live) l.shutdown("server shutting down");
      await Promise.all([...live.map((l) => l.done.catch(() => {})), stopCgiRuns()]);
      for (const s of servers) s.closeAllConnections?.();
      await Promise.all(closed);
      ctx.auth?.close();
      if (config.unixSocket) {
        try {
          Deno.removeSync(config.unixSocket);
        } catch { /* already gone */ }
      }
    })();
    return stopping;
  };
}

/** SIGHUP: new handshakes get the re-read certificate; live sessions go on. */
function reloadTls(ctx: ServerContext, servers: NodeServer[]): void {
  const { config, log } = ctx;
  if (!config.tls) return;
  try {
    const fresh = readTls(config.tls);
    for (const s of servers) if (s instanceof https.Server) s.setSecureContext(fresh);
    log.info("server", {}, `Reloaded TLS certificate from ${config.tls.certFile}`);
  } catch (e) {
    log.error(
      "server",
      {},
      `TLS reload failed, keeping the old certificate: ${(e as Error).message}`,
    );
  }
}

/** The shared state, from the configuration. */
async function createContext(config: Config, log: Logger): Promise<ServerContext> {
  if (startsPrograms(config)) {
    const why = prepareSpawning();
    if (why) throw new ConfigError(`Can't start programs: ${why}`);
  }
  const auth = config.auth ? await AuthGate.start(config.auth) : null;
  if (auth && config.auth) {
    for (const w of config.auth.warnings) log.info("server", {}, `Credentials: ${w}`);
    if (config.auth.users.length) {
      const note = auth.executorNote ? ` (${auth.executorNote})` : "";
      log.info("server", {}, `Password checks run in the ${auth.executor}${note}`);
    }
  }
  return {
    config,
    log,
    slots: new ForkSlots(config.maxForks),
    metrics: new Metrics(),
    envBase: { serverSoftware: serverSoftware(), passed: readPassEnv(config.passEnv) },
    group: canSignalGroups(),
    scripts: config.dir ? new ScriptRoot(config.dir) : null,
    cgi: config.cgiDir ? new ScriptRoot(config.cgiDir) : null,
    auth,
    httpHeaders: [...config.headers, ...config.headersHttp],
    startedAt: new Date(),
    live: new Set(),
    broadcasts: new Map(),
    draining: false,
  };
}

/** One node server whose requests and WebSocket upgrades all go to the route. */
function nodeServer(ctx: ServerContext, tls: https.ServerOptions | undefined): NodeServer {
  const { config } = ctx;
  const secure = tls !== undefined;
  const hasPrograms = config.command !== undefined || config.dir !== undefined;
  const options = {
    ...HTTP_LIMITS,
    // only WebSocket handshakes for a program leave the HTTP parser; any other Upgrade
    // header is a plain request, answered like any other
    shouldUpgradeCallback: (req: http.IncomingMessage) =>
      hasPrograms && isWebSocketRequest(req.headers),
  };
  const read = {
    tls: secure,
    trust: config.trustProxy,
    secretParam: config.auth?.tokens.length ? "access_token" : null,
  };
  const exchange = (
    req: http.IncomingMessage,
    upgrade: Exchange["upgrade"],
  ): Exchange => {
    const facts = readFacts(req, read);
    const fields = upgrade
      ? {
        url: logUrl(facts),
        id: facts.uniqueId,
        remote: facts.remoteHost,
        command: config.command?.path ?? config.dir,
        origin: req.headers.origin ?? "file:",
      }
      : { url: logUrl(facts), id: facts.uniqueId, remote: facts.remoteHost };
    return { req, facts, upgrade, fields, auth: null };
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    route(ctx, exchange(req, null), res).catch(() => res.destroy());
  };
  const server = secure
    ? https.createServer({ ...options, ...tls }, onRequest)
    : http.createServer(options as http.ServerOptions, onRequest);
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) => {
    socket.on("error", () => {});
    route(ctx, exchange(req, { socket, head }), null).catch(() => socket.destroy());
  });
  // the option alone is ignored by Deno's node:http: set the property too
  server.maxHeadersCount = 0;
  // a request node's parser cannot read has no request object: its 400 is the one answer
  // written by hand, with the same body text and headers as every other refusal
  const badRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
    "Content-Length: 16\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n" +
    ctx.httpHeaders.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n400 Bad Request\n";
  server.on("clientError", (_err: Error, socket: Duplex) => {
    if (socket.writable) socket.end(badRequest);
    else socket.destroy();
  });
  return server;
}

/**
 * Waits until no session is live (and at least `floorMs` passed), `ms`
 * passes, or a second signal skips the wait.
 */
async function drained(
  ctx: ServerContext,
  ms: number,
  floorMs: number,
  onSkip: (skip: () => void) => void,
): Promise<void> {
  let check: ReturnType<typeof setInterval> | undefined;
  let limit: ReturnType<typeof setTimeout> | undefined;
  const start = Date.now();
  await new Promise<void>((resolve) => {
    check = setInterval(() => {
      if (ctx.live.size === 0 && Date.now() - start >= floorMs) resolve();
    }, 50);
    limit = setTimeout(resolve, ms);
    onSkip(resolve);
  });
  clearInterval(check);
  clearTimeout(limit);
}

/** websocketd's startup lines, and ours about process groups and credentials. */
function logStartup(ctx: ServerContext, urls: string[]): void {
  const { config, log } = ctx;
  const info = (text: string) => log.info("server", {}, text);
  if (config.command) {
    info(
      `Serving using application   : ${[config.command.path, ...config.command.args].join(" ")}`,
    );
  }
  if (config.dir) info(`Serving from directory      : ${config.dir}`);
  if (config.staticDir) info(`Serving static content from : ${config.staticDir}`);
  if (config.cgiDir) info(`Serving CGI scripts from    : ${config.cgiDir}`);
  if (!ctx.group) {
    info(
      "Signals reach each program's pid only: signalling process groups needs unscoped --allow-run",
    );
  } else {
    const method = groupSpawnMethod();
    info(
      method === "detached"
        ? "Programs get their own process group through Deno's detached spawn (slow: setsid(1) not found or not readable)"
        : `Programs get their own process group through ${method}`,
    );
  }
  for (const url of urls) {
    if (config.command || config.dir) info(`Starting WebSocket server   : ${url}`);
    if (config.devConsole) info(`Developer console enabled   : ${url.replace(/^ws/, "http")}`);
    else if (config.staticDir || config.cgiDir) {
      info(`Serving CGI or static files : ${url.replace(/^ws/, "http")}`);
    }
  }
}
