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
import { checkOrigin } from "../http/origin.ts";
import type { RoutedFacts } from "../http/request.ts";
import { refusal } from "../http/respond.ts";
import { describeStatus, Program } from "../process/program.ts";
import { spawnTurn } from "../process/spawn_turn.ts";
import { Broadcast } from "../session/broadcast.ts";
import { buildEnv } from "../session/env.ts";
import { INBOUND_HIGH_WATER } from "../session/input.ts";
import { pipe } from "../session/pipe.ts";
import type { Fields } from "../util/log.ts";
import { Close } from "../ws/codec.ts";
import { WsConnection } from "../ws/connection.ts";
import { checkHandshake, offeredProtocols, switchingProtocols } from "../ws/handshake.ts";
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
    const { prog, error } = spawn(ex, ctx, checked);
    const socket = accept(ex, upgrade, ctx, checked.protocol);
    handedOver = true;
    void runSession(ctx, prog, error, socket, ex.fields, checked.program.path).finally(release);
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
  const bad = checkHandshake(facts.method, ex.req.headers);
  if (bad) {
    log.access("session", fields, `Unable to Upgrade: ${bad.body.trim()}`);
    return new Response(bad.body, {
      status: bad.status,
      headers: {
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
        ...bad.headers,
      },
    });
  }
  const originProblem = checkOrigin(
    { allowed: config.origins, same: config.sameOrigin },
    ex.req.headers.origin,
    facts.host,
    facts.tls,
  );
  if (originProblem) {
    log.access("session", fields, originProblem);
    return refusal(403, "origin not allowed");
  }
  let protocol: string | null = null;
  if (config.subprotocols.length) {
    const offered = offeredProtocols(ex.req.headers["sec-websocket-protocol"]);
    protocol = offered.find((p) => config.subprotocols.includes(p)) ?? null;
    if (offered.length && !protocol) {
      log.access("session", fields, `Unable to Upgrade: no supported subprotocol in '${offered}'`);
      return refusal(400, "none of the offered subprotocols is supported");
    }
  }
  if (config.reverseLookup) {
    facts.remoteHost = await reverseName(facts.remoteAddr);
    fields.remote = facts.remoteHost;
  }
  return { program, scriptName, pathInfo, protocol };
}

/** Starts the program with the request's environment; a failure is reported to the client. */
function spawn(
  ex: Exchange,
  ctx: ServerContext,
  a: Accepted,
): { prog: Program | null; error: string } {
  const env = buildEnv(
    ctx.envBase,
    ex.facts as RoutedFacts,
    { scriptName: a.scriptName, pathInfo: a.pathInfo },
    ex.auth,
    a.protocol ? { WEBSOCKET_PROTOCOL: a.protocol } : {},
  );
  try {
    const prog = Program.spawn({ command: a.program.path, args: a.program.args, env }, {
      group: ctx.group,
      closeMs: ctx.config.closeMs,
      onStep: (step, pid) => logStep(ctx, ex.fields, step, pid),
    });
    ctx.log.debug("process", { ...ex.fields, pid: prog.pid }, `Started ${a.program.path}`);
    return { prog, error: "" };
  } catch (e) {
    return { prog: null, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Writes the 101 (once the program exists: a client that sees 101 sees a process). */
function accept(ex: Exchange, upgrade: Upgrade, ctx: ServerContext, protocol: string | null) {
  const { config } = ctx;
  const key = String(ex.req.headers["sec-websocket-key"]);
  upgrade.socket.write(switchingProtocols(key, protocol, [...config.headers, ...config.headersWs]));
  return new WsConnection(upgrade.socket, upgrade.head, {
    maxMessage: config.maxFrameSize,
    pingMs: config.pingMs,
  });
}

/** A program that could not start: the client hears why (1011), the metrics count it. */
async function refuseStart(
  ctx: ServerContext,
  socket: WsConnection,
  fields: Fields,
  command: string,
  error: string,
): Promise<void> {
  ctx.log.error("process", fields, `Could not launch process ${command} (${error})`);
  socket.start({ message() {}, batchEnd() {} });
  socket.close(Close.internalError, `could not launch program: ${error}`);
  await socket.closed;
}

/** One session from start to end, with its log lines and metrics. */
async function runSession(
  ctx: ServerContext,
  prog: Program | null,
  spawnError: string,
  socket: WsConnection,
  fields: Fields,
  command: string,
): Promise<void> {
  const { log, metrics, config } = ctx;
  metrics.sessionStarted();
  if (!prog) {
    await refuseStart(ctx, socket, fields, command, spawnError);
    metrics.sessionEnded({ status: null, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
    return;
  }
  const pf = { ...fields, pid: prog.pid };
  log.access("session", pf, "CONNECT");
  const done = pipe(prog, socket, {
    binary: config.binary,
    passStderr: config.passStderr,
    inboundHighWater: INBOUND_HIGH_WATER,
    stallMs: config.stallMs,
    log,
    fields: pf,
    onFirstMessage: (ms) => metrics.firstMessage(ms / 1000),
  });
  const live = {
    shutdown(reason: string) {
      socket.close(Close.goingAway, reason);
      void prog.stop();
    },
    done,
  };
  ctx.live.add(live);
  try {
    const summary = await done;
    metrics.sessionEnded(summary);
    log.access("session", {
      ...pf,
      status: summary.status,
      close: summary.close.code,
      duration: `${summary.durationMs}ms`,
    }, "DISCONNECT");
  } catch (e) {
    // a bug of ours must end this session, not the server
    log.error("session", pf, `Session failed: ${e instanceof Error ? e.stack : e}`);
    socket.destroy();
    await prog.stop();
    metrics.sessionEnded({
      status: describeStatus(await prog.status),
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
    });
  } finally {
    ctx.live.delete(live);
  }
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
    // Fix: handshakes that waited for their turn with us were not counted yet; without this
    // second look, concurrent first clients passed --broadcast-clients/--broadcast-total
    if (full(instance)) {
      if (!instance) release();
      return refuseFull();
    }
    if (!instance) {
      const { prog, error } = spawn(ex, ctx, a);
      if (!prog) {
        // Fix: the fork slot was kept forever by a failed start (then every route got 429)
        release();
        const socket = accept(ex, upgrade, ctx, a.protocol);
        void refuseStart(ctx, socket, ex.fields, a.program.path, error);
        return "taken";
      }
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

function logStep(ctx: ServerContext, fields: Fields, step: string, pid: number): void {
  if (step === "stuck") ctx.log.error("process", fields, `SIGKILL did not terminate ${pid}!`);
  else ctx.log.debug("process", fields, `Sending ${step} to process ${pid}`);
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
