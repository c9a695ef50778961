/**
 * The WebSocket route: from an upgrade request to a running session, with
 * websocketd's checks in websocketd's order (fork slot 429, script 404,
 * method 405, version/key 400, origin 403), then the 101 and the session.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { buildEnv } from "./env.ts";
import type { ServerContext } from "./context.ts";
import { checkOrigin } from "./origin.ts";
import { cleanPath, escapePath } from "./paths.ts";
import { incomingFacts, logUrl, sendRawResponse, textResponse } from "./request.ts";
import { spawnTurn } from "./process.ts";
import { Session } from "./session.ts";
import { acceptKey, checkHandshake, hasToken, offeredProtocols } from "./websocket.ts";
import { lookupService } from "node:dns/promises";

/** Inbound bytes waiting for a program's stdin before we stop reading the client. */
export const INBOUND_HIGH_WATER = 1024 * 1024;

/**
 * Handles a request that carries `Connection: upgrade`. Anything that is not
 * a WebSocket handshake for a configured program is answered as plain HTTP.
 */
export async function handleUpgrade(
  ctx: ServerContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
  tls: boolean,
): Promise<void> {
  const { config, log } = ctx;
  socket.on("error", () => {});
  const facts = incomingFacts(req, tls, config.trustProxy);
  const fields = {
    url: logUrl(facts),
    id: facts.uniqueId,
    remote: facts.remoteHost,
    command: config.command?.path ?? config.dir,
    origin: req.headers.origin ?? "file:",
  };
  const refuse = (status: number, body: string, headers?: Record<string, string>) => {
    ctx.metrics.rejected(status);
    return sendRawResponse(socket, textResponse(status, body, headers), facts.method);
  };

  const isWebSocket = hasToken(req.headers.upgrade, "websocket") &&
    (config.command !== undefined || config.dir !== undefined);
  if (!isWebSocket || ctx.draining) {
    if (ctx.draining && isWebSocket) return refuse(503, "503 Service Unavailable: draining\n");
    const response = await ctx.http(req, facts);
    return sendRawResponse(socket, response, facts.method, ctx.httpHeaders);
  }
  if (facts.path === null) return refuse(400, "400 Bad Request: malformed URL path\n");
  if (facts.httpVersion !== "1.1" && facts.httpVersion !== "1.0") {
    return refuse(505, "505 HTTP Version Not Supported\n");
  }
  const clean = cleanPath(facts.path);
  if (clean !== facts.path) {
    const location = escapePath(clean) + (facts.query ? "?" + facts.query : "");
    return sendRawResponse(
      socket,
      new Response(null, { status: 301, headers: { Location: location } }),
      facts.method,
    );
  }

  let auth: { type: string; user: string } | null = null;
  if (config.auth) {
    auth = await config.auth.check(req.headers.authorization, facts.query);
    if (!auth) {
      log.access("session", fields, "Unable to Upgrade: authentication required");
      return refuse(401, "401 Unauthorized\n", { "WWW-Authenticate": config.auth.challenge });
    }
  }

  const release = ctx.slots.tryAcquire();
  if (!release) {
    log.error("http", fields, "Max of possible forks already active, upgrade rejected");
    return refuse(429, "429 Too Many Requests\n");
  }
  let handedOver = false;
  try {
    let program = config.command;
    let scriptName = "/";
    let pathInfo = facts.path;
    if (ctx.scripts) {
      const match = ctx.scripts.resolve(facts.path);
      if (typeof match === "string") {
        log.access("session", fields, `NOT FOUND: script not found (${match})`);
        return await refuse(404, "404 Not Found\n");
      }
      program = { path: match.file, args: [] };
      scriptName = match.scriptName;
      pathInfo = match.pathInfo;
      fields.command = match.file;
    }
    const bad = checkHandshake(facts.method, req.headers);
    if (bad) {
      log.access("session", fields, `Unable to Upgrade: ${bad.body.trim()}`);
      return await refuse(bad.status, bad.body, bad.headers);
    }
    const originProblem = checkOrigin(
      { allowed: config.origins, same: config.sameOrigin },
      req.headers.origin,
      facts.host,
      facts.tls,
    );
    if (originProblem) {
      log.access("session", fields, originProblem);
      return await refuse(403, "403 Forbidden: origin not allowed\n");
    }

    let protocol: string | null = null;
    if (config.subprotocols.length) {
      const offered = offeredProtocols(req.headers["sec-websocket-protocol"]);
      protocol = offered.find((p) => config.subprotocols.includes(p)) ?? null;
      if (offered.length && !protocol) {
        log.access(
          "session",
          fields,
          `Unable to Upgrade: no supported subprotocol in '${offered}'`,
        );
        return await refuse(
          400,
          "400 Bad Request: none of the offered subprotocols is supported\n",
        );
      }
    }
    if (config.reverseLookup) facts.remoteHost = await reverseName(facts.remoteAddr);
    fields.remote = facts.remoteHost;

    await spawnTurn();
    // the client may have given up while we waited
    if (socket.destroyed) return;

    const key = String(req.headers["sec-websocket-key"]).trim();
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    ];
    if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    for (const [k, v] of [...config.headers, ...config.headersWs]) lines.push(`${k}: ${v}`);
    // small frames must not wait for ACKs of earlier ones (Nagle + delayed ACK = 40 ms)
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);

    const env = buildEnv(
      ctx.envBase,
      { ...facts, path: facts.path },
      { scriptName, pathInfo },
      {
        ...(protocol ? { WEBSOCKET_PROTOCOL: protocol } : {}),
        ...(auth ? { AUTH_TYPE: auth.type, REMOTE_USER: auth.user } : {}),
      },
    );
    // the Session writes the 101 once the program exists: a client that sees 101 sees a process
    const session = new Session(socket, head, lines.join("\r\n") + "\r\n\r\n", {
      command: program!.path,
      args: program!.args,
      env,
    }, {
      binary: config.binary,
      passStderr: config.passStderr,
      closeMs: config.closeMs,
      maxFrameSize: config.maxFrameSize,
      pingMs: config.pingMs,
      group: ctx.group,
      inboundHighWater: INBOUND_HIGH_WATER,
      stallMs: config.stallMs,
      log,
      fields,
      onFirstMessage: (ms) => ctx.metrics.firstMessage(ms / 1000),
    });
    handedOver = true;
    ctx.sessions.add(session);
    ctx.metrics.sessionStarted();
    session.done.then((summary) => {
      ctx.metrics.sessionEnded(summary);
    }).finally(() => {
      ctx.sessions.delete(session);
      release();
    });
  } finally {
    if (!handedOver) release();
  }
}

/** REMOTE_HOST for --reverselookup: the name for the address (hosts file or DNS), else the address. */
async function reverseName(addr: string): Promise<string> {
  if (addr === "unix-socket") return addr;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), 2000)));
  try {
    const found = await Promise.race([lookupService(addr, 80).catch(() => null), timeout]);
    return found && found.hostname && found.hostname !== addr ? found.hostname : addr;
  } finally {
    clearTimeout(timer);
  }
}
