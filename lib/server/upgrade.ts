/**
 * Accepting a WebSocket: the handshake's own checks in websocketd's order
 * (fork slot 429, script 404, method 405, version/key 400, origin 403,
 * subprotocol 400), then the two endpoints — the program, then the socket
 * with its 101 — piped together. Whoever accepts builds the endpoints; the
 * pipe only relays.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { lookupService } from "node:dns/promises";
import { checkOrigin } from "../http/origin.ts";
import type { RoutedFacts } from "../http/request.ts";
import { refusal } from "../http/respond.ts";
import { describeStatus, Program } from "../process/program.ts";
import { spawnTurn } from "../process/spawn_turn.ts";
import { buildEnv } from "../session/env.ts";
import { INBOUND_HIGH_WATER } from "../session/input.ts";
import { pipe } from "../session/pipe.ts";
import type { Fields } from "../util/log.ts";
import { Close } from "../ws/codec.ts";
import { WsConnection } from "../ws/connection.ts";
import { checkHandshake, offeredProtocols, switchingProtocols } from "../ws/handshake.ts";
import type { ServerContext } from "./context.ts";
import type { Answer, Exchange } from "./route.ts";

/**
 * Checks a handshake and, when it passes, starts its session and returns
 * "taken"; otherwise returns the refusal to write.
 */
export async function acceptWebSocket(
  ex: Exchange,
  upgrade: { socket: Duplex; head: Uint8Array },
  ctx: ServerContext,
): Promise<Answer> {
  const { config, log } = ctx;
  const facts = ex.facts as RoutedFacts;
  const fields = ex.fields;
  const release = ctx.slots.tryAcquire();
  if (!release) {
    log.error("http", fields, "Max of possible forks already active, upgrade rejected");
    return refusal(429);
  }
  let handedOver = false;
  try {
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
        log.access(
          "session",
          fields,
          `Unable to Upgrade: no supported subprotocol in '${offered}'`,
        );
        return refusal(400, "none of the offered subprotocols is supported");
      }
    }
    if (config.reverseLookup) {
      facts.remoteHost = await reverseName(facts.remoteAddr);
      fields.remote = facts.remoteHost;
    }

    await spawnTurn();
    // the client may have given up while we waited
    if (upgrade.socket.destroyed) return "taken";

    const env = buildEnv(ctx.envBase, facts, { scriptName, pathInfo }, ex.auth, {
      ...(protocol ? { WEBSOCKET_PROTOCOL: protocol } : {}),
    });
    let prog: Program | null = null;
    let spawnError = "";
    try {
      prog = Program.spawn({ command: program.path, args: program.args, env }, {
        group: ctx.group,
        closeMs: config.closeMs,
        onStep: (step, pid) => logStep(ctx, fields, step, pid),
      });
    } catch (e) {
      spawnError = e instanceof Error ? e.message : String(e);
    }
    // the 101 goes out once the program exists: a client that sees 101 sees a process
    const key = String(ex.req.headers["sec-websocket-key"]);
    upgrade.socket.write(
      switchingProtocols(key, protocol, [...config.headers, ...config.headersWs]),
    );
    const socket = new WsConnection(upgrade.socket, upgrade.head, {
      maxMessage: config.maxFrameSize,
      pingMs: config.pingMs,
    });
    handedOver = true;
    void run(ctx, prog, socket, fields, spawnError, program.path).finally(release);
    return "taken";
  } finally {
    if (!handedOver) release();
  }
}

/** One session from start to end, with its log lines and metrics. */
async function run(
  ctx: ServerContext,
  prog: Program | null,
  socket: WsConnection,
  fields: Fields,
  spawnError: string,
  command: string,
): Promise<void> {
  const { log, metrics, config } = ctx;
  metrics.sessionStarted();
  if (!prog) {
    log.error("process", fields, `Could not launch process ${command} (${spawnError})`);
    socket.start({ message() {}, batchEnd() {} });
    socket.close(Close.internalError, `could not launch program: ${spawnError}`);
    await socket.closed;
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
