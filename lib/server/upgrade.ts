/**
 * Accepting a WebSocket: the handshake's own checks in websocketd's order
 * (fork slot 429, script 404, method 405, version/key 400, origin 403,
 * subprotocol 400), then the two endpoints — the program, then the socket
 * with its 101 — composed either as a session (`pipe`) or, with
 * `--broadcast`, as one more client of a shared program (`Broadcast`).
 * Whoever accepts builds the endpoints; the compositions only relay.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { lookupService } from "node:dns/promises";
import type { CommandConfig } from "../cli/config.ts";
import type { RoutedFacts } from "../http/request.ts";
import { refusal } from "../http/respond.ts";
import type { Program } from "../process/program.ts";
import { spawnTurn } from "../process/spawn_turn.ts";
import { Broadcast } from "../session/broadcast.ts";
import { buildEnv } from "../session/env.ts";
import { INBOUND_HIGH_WATER } from "../session/input.ts";
import {
  checkClientHandshake,
  refuseStart,
  runSession,
  type Started,
  startProgram,
} from "../session/start.ts";
import type { Fields } from "../util/log.ts";
import { WsConnection } from "../ws/connection.ts";
import { switchingProtocols } from "../ws/handshake.ts";
import type { ServerContext } from "./context.ts";
import type { Answer, Exchange } from "./route.ts";

/** What a handshake that passed its checks asks for. */
interface Accepted {
  program: CommandConfig;
  scriptName: string;
  pathInfo: string;
  protocol: string | null;
}

type Upgrade = { socket: Duplex; head: Uint8Array };

const encoder = new TextEncoder();

/**
 * Checks a handshake and, when it passes, starts its session (or joins its
 * broadcast) and returns "taken"; otherwise returns the refusal to write.
 */
export async function acceptWebSocket(
  ex: Exchange,
  upgrade: Upgrade,
  ctx: ServerContext,
): Promise<Answer> {
  if (ctx.config.broadcast) {
    const checked = await check(ex, ctx);
    return checked instanceof Response ? checked : await joinBroadcast(ex, upgrade, ctx, checked);
  }
  // websocketd takes the fork slot before any other check
  const release = ctx.slots.tryAcquire();
  if (!release) {
    ctx.log.error("http", ex.fields, "Max of possible forks already active, upgrade rejected");
    return refusal(429);
  }
  let handedOver = false;
  try {
    const checked = await check(ex, ctx);
    if (checked instanceof Response) return checked;
    await spawnTurn();
    // the client may have given up while we waited
    if (upgrade.socket.destroyed) return "taken";
    const started = await spawn(ex, ctx, checked);
    const socket = accept(ex, upgrade, ctx, checked.protocol);
    handedOver = true;
    const { config } = ctx;
    void runSession(started, socket, checked.program.path, ex.fields, {
      pipe: {
        binary: config.binary,
        passStderr: config.passStderr,
        inboundHighWater: INBOUND_HIGH_WATER,
        stallMs: config.stallMs,
      },
      log: ctx.log,
      live: ctx.live,
      metrics: ctx.metrics,
    }).finally(release);
    return "taken";
  } finally {
    if (!handedOver) release();
  }
}

/** The checks after the fork slot: script, method/version/key, origin, subprotocol. */
async function check(ex: Exchange, ctx: ServerContext): Promise<Accepted | Response> {
  const { config, log } = ctx;
  const facts = ex.facts as RoutedFacts;
  const fields = ex.fields;
  let program = config.command!;
  let scriptName = "/";
  let pathInfo = facts.path;
  if (ctx.scripts) {
    const match = ctx.scripts.resolve(facts.path, { pathInfo: true });
    if (typeof match === "string") {
      log.access("session", fields, `NOT FOUND: script not found (${match})`);
      return refusal(404);
    }
    program = { path: match.file, args: [] };
    scriptName = match.scriptName;
    pathInfo = match.pathInfo;
    fields.command = match.file;
  }
  const checked = checkClientHandshake(facts.method, ex.req.headers, facts, config, log, fields);
  if (checked instanceof Response) return checked;
  if (config.reverseLookup) {
    facts.remoteHost = await reverseName(facts.remoteAddr);
    fields.remote = facts.remoteHost;
  }
  return { program, scriptName, pathInfo, protocol: checked.protocol };
}

/** Starts the program with the request's environment; a failure is reported to the client. */
function spawn(ex: Exchange, ctx: ServerContext, a: Accepted): Promise<Started> {
  const env = buildEnv(
    ctx.envBase,
    ex.facts as RoutedFacts,
    { scriptName: a.scriptName, pathInfo: a.pathInfo },
    ex.auth,
    a.protocol ? { WEBSOCKET_PROTOCOL: a.protocol } : {},
  );
  if (ctx.log.enabled("debug")) logEnv(ctx, ex.fields, env);
  return startProgram(
    { command: a.program.path, args: a.program.args, env },
    { group: ctx.group, closeMs: ctx.config.closeMs, log: ctx.log },
    ex.fields,
  );
}

/** Writes the 101 (once the program exists: a client that sees 101 sees a process). */
function accept(ex: Exchange, upgrade: Upgrade, ctx: ServerContext, protocol: string | null) {
  const { config } = ctx;
  const key = String(ex.req.headers["sec-websocket-key"]);
  upgrade.socket.write(
    encoder.encode(switchingProtocols(key, protocol, [...config.headers, ...config.headersWs])),
  );
  return new WsConnection(upgrade.socket, upgrade.head, {
    maxMessage: config.maxFrameSize,
    pingMs: config.pingMs,
  });
}

/**
 * `--broadcast`: joins the route's running program, or starts it (taking a
 * fork slot) for its first client, with that client's environment.
 */
async function joinBroadcast(
  ex: Exchange,
  upgrade: Upgrade,
  ctx: ServerContext,
  a: Accepted,
): Promise<Answer> {
  const limits = ctx.config.broadcast!;
  const key = [a.program.path, ...a.program.args].join("\0");
  const existing = () => {
    const b = ctx.broadcasts.get(key);
    return b?.accepting ? b : undefined;
  };
  const full = (b: Broadcast | undefined) =>
    (limits.maxClients > 0 && b !== undefined && b.size >= limits.maxClients) ||
    (limits.maxTotal > 0 && ctx.metrics.broadcastClients >= limits.maxTotal);
  const refuseFull = () => {
    ctx.log.error("http", ex.fields, "Broadcast is full, upgrade rejected");
    return refusal(429, "this broadcast has as many clients as it takes");
  };
  let instance = existing();
  if (full(instance)) return refuseFull();
  if (!instance) {
    const release = ctx.slots.tryAcquire();
    if (!release) {
      ctx.log.error("http", ex.fields, "Max of possible forks already active, upgrade rejected");
      return refusal(429);
    }
    await spawnTurn();
    instance = existing(); // another client may have started it while we waited
    if (instance || upgrade.socket.destroyed) release();
    if (upgrade.socket.destroyed) return "taken";
    // handshakes that waited for their turn with us were not counted yet; without this
    // second look, concurrent first clients passed --broadcast-clients/--broadcast-total
    if (full(instance)) {
      if (!instance) release();
      return refuseFull();
    }
    if (!instance) {
      const started = await spawn(ex, ctx, a);
      if (!started.prog) {
        const socket = accept(ex, upgrade, ctx, a.protocol);
        void refuseStart(socket, a.program.path, started.error, ctx.log, ex.fields);
        release();
        return "taken";
      }
      const prog = started.prog;
      instance = startBroadcast(ctx, key, prog, { ...ex.fields, pid: prog.pid }, release);
    }
  }
  const socket = accept(ex, upgrade, ctx, a.protocol);
  const fields = { ...ex.fields, pid: instance.pid };
  ctx.log.access("session", fields, "CONNECT");
  ctx.metrics.broadcastClients++;
  void instance.join(socket, fields).then((s) => {
    ctx.metrics.broadcastClients--;
    ctx.log.access(
      "session",
      { ...fields, close: s.close.code, duration: `${s.durationMs}ms` },
      "DISCONNECT",
    );
  });
  return "taken";
}

/** A new shared program: registered for its route and for shutdown until it is over. */
function startBroadcast(
  ctx: ServerContext,
  key: string,
  prog: Program,
  fields: Fields,
  release: () => void,
): Broadcast {
  const { config, metrics, log } = ctx;
  const limits = config.broadcast!;
  const instance: Broadcast = new Broadcast(prog, {
    binary: config.binary,
    passStderr: config.passStderr,
    input: limits.input,
    replay: limits.replay,
    queueBytes: limits.queueBytes,
    lingerMs: limits.lingerMs,
    inboundHighWater: INBOUND_HIGH_WATER,
    stallMs: config.stallMs,
    log,
    fields,
    onFanout: (_messages, deliveries) => (metrics.broadcastDeliveries += deliveries),
    onSlowClient: () => metrics.broadcastSlowClients++,
    onEnding: () => {
      if (ctx.broadcasts.get(key) === instance) ctx.broadcasts.delete(key);
    },
  });
  ctx.broadcasts.set(key, instance);
  metrics.broadcastInstances++;
  metrics.processesRunning++;
  log.access("session", fields, "BROADCAST START");
  const live = { shutdown: (reason: string) => instance.shutdown(reason), done: instance.done };
  ctx.live.add(live);
  void instance.done.then((status) => {
    log.access("session", { ...fields, status }, "BROADCAST END");
  }).finally(() => {
    ctx.live.delete(live);
    metrics.broadcastInstances--;
    metrics.processesRunning--;
    release();
  });
  return instance;
}

/** Variables that carry secrets are named, not shown, even in a debug log. */
const SECRET_VARIABLES = new Set(["HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION"]);

/** The program's environment, one debug line per variable, as websocketd logs it. */
function logEnv(ctx: ServerContext, fields: Fields, env: Record<string, string>): void {
  const passed = new Set(ctx.envBase.passed.map(([k]) => k));
  for (const [k, v] of Object.entries(env)) {
    const kind = passed.has(k)
      ? "Parent envvar"
      : k.startsWith("HTTP_")
      ? "Header variable"
      : "Std. variable";
    const shown = SECRET_VARIABLES.has(k) ? "(hidden)" : v;
    ctx.log.debug("env", fields, `${kind}: ${k}=${shown}`);
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
