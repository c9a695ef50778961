/**
 * What every acceptor of a WebSocket does the same way, whichever socket
 * endpoint it built (the standalone server's or the embedded one): the
 * handshake's policy checks, starting the program, and running the session
 * with its log lines and metrics.
 *
 * @module
 */

import { checkOrigin } from "../http/origin.ts";
import type { RoutedFacts } from "../http/request.ts";
import { refusal, textResponse } from "../http/respond.ts";
import { describeStatus, Program, type ProgramSpec } from "../process/program.ts";
import type { Fields, Logger } from "../util/log.ts";
import { checkHandshake, offeredProtocols } from "../ws/handshake.ts";
import { Close } from "../ws/protocol.ts";
import type { SocketEndpoint } from "./endpoints.ts";
import { pipe, type PipeOptions, type SessionSummary } from "./pipe.ts";

/** Something a shutdown must end: a session, or a broadcast program with its clients. */
export interface Live {
  /** Ends it because the server stops (close 1001, then the stop ladder). */
  shutdown(reason: string): void;
  /** Settles when it is over (program reaped, socket closed). */
  readonly done: Promise<unknown>;
}

/** The handshake policy: origins and subprotocols. */
export interface HandshakePolicy {
  /** `--origin` entries, or null. */
  origins: string[] | null;
  /** `--sameorigin`. */
  sameOrigin: boolean;
  /** `--subprotocol` names, in our order of preference. */
  subprotocols: string[];
}

/**
 * The handshake's checks after the route's, in gorilla's order: method,
 * version, key (405/400), origin (403), subprotocol (400). Each refusal is
 * logged as websocketd logs it.
 * @returns The refusal to answer, or the chosen subprotocol (null for none).
 */
export function checkClientHandshake(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  facts: RoutedFacts,
  policy: HandshakePolicy,
  log: Logger,
  fields: Fields,
): Response | { protocol: string | null } {
  const bad = checkHandshake(method, headers);
  if (bad) {
    log.access("session", fields, `Unable to Upgrade: ${bad.body.trim()}`);
    return textResponse(bad.status, bad.body, bad.headers);
  }
  const origin = headers.origin as string | undefined;
  const originProblem = checkOrigin(
    { allowed: policy.origins, same: policy.sameOrigin },
    origin,
    facts.host,
    facts.tls,
  );
  if (originProblem) {
    log.access("session", fields, originProblem);
    return refusal(403, "origin not allowed");
  }
  let protocol: string | null = null;
  if (policy.subprotocols.length) {
    const offered = offeredProtocols(headers["sec-websocket-protocol"]);
    protocol = offered.find((p) => policy.subprotocols.includes(p)) ?? null;
    if (offered.length && !protocol) {
      log.access("session", fields, `Unable to Upgrade: no supported subprotocol in '${offered}'`);
      return refusal(400, "none of the offered subprotocols is supported");
    }
  }
  return { protocol };
}

/** How programs are started. */
export interface StartOptions {
  /** Signal the program's process group. */
  group: boolean;
  /** `--closems`. */
  closeMs: number;
  /** Logger (start at trace, ladder steps at debug). */
  log: Logger;
}

/** A started program, or why it could not start. */
export type Started = { prog: Program; error?: undefined } | { prog: null; error: string };

/** Starts a program; a failure is returned, to be told to the client. */
export async function startProgram(
  spec: ProgramSpec,
  opts: StartOptions,
  fields: Fields,
): Promise<Started> {
  const { log } = opts;
  try {
    const prog = await Program.spawn(spec, {
      group: opts.group,
      closeMs: opts.closeMs,
      onStep: (step, pid) => {
        if (step === "stuck") log.error("process", fields, `SIGKILL did not terminate ${pid}!`);
        else log.debug("process", fields, `Sending ${step} to process ${pid}`);
      },
    });
    log.trace(
      "process",
      { ...fields, pid: prog.pid },
      `Process ${prog.pid} started: ${[spec.command, ...spec.args].join(" ")}`,
    );
    return { prog };
  } catch (e) {
    return { prog: null, error: e instanceof Error ? e.message : String(e) };
  }
}

/** A program that could not start: the client sees its 101, then hears why (1011). */
export async function refuseStart(
  socket: SocketEndpoint,
  command: string,
  error: string,
  log: Logger,
  fields: Fields,
): Promise<void> {
  log.error("process", fields, `Could not launch process ${command} (${error})`);
  socket.start({ message() {}, batchEnd() {} });
  socket.close(Close.internalError, `could not launch program: ${error}`);
  await socket.closed;
}

/** What a session reports to the server's metrics (when it keeps any). */
export interface SessionMetrics {
  /** A session began. */
  sessionStarted(): void;
  /** A session ended (status null: the program never started). */
  sessionEnded(r: {
    status: string | null;
    messagesIn: number;
    messagesOut: number;
    bytesIn: number;
    bytesOut: number;
  }): void;
  /** Seconds from the 101 to the first message sent. */
  firstMessage(seconds: number): void;
}

/** What one session needs besides its endpoints. */
export interface SessionRun {
  /** How the pipe relays (binary, stderr, limits). */
  pipe: Omit<PipeOptions, "log" | "fields" | "onFirstMessage">;
  /** Logger. */
  log: Logger;
  /** Live sessions, for shutdown. */
  live: Set<Live>;
  /** Metrics, when kept. */
  metrics?: SessionMetrics;
}

/**
 * One session from start to end: CONNECT, the pipe, DISCONNECT with the
 * status, close code and duration; registered as live until it is over.
 */
export async function runSession(
  started: Started,
  socket: SocketEndpoint,
  command: string,
  fields: Fields,
  run: SessionRun,
): Promise<void> {
  const { log, metrics } = run;
  metrics?.sessionStarted();
  if (!started.prog) {
    await refuseStart(socket, command, started.error, log, fields);
    metrics?.sessionEnded({ status: null, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
    return;
  }
  const prog = started.prog;
  const pf = { ...fields, pid: prog.pid };
  log.access("session", pf, "CONNECT");
  const done = pipe(prog, socket, {
    ...run.pipe,
    log,
    fields: pf,
    onFirstMessage: metrics && ((ms) => metrics.firstMessage(ms / 1000)),
  });
  const live: Live = {
    shutdown(reason: string) {
      socket.close(Close.goingAway, reason);
      void prog.stop();
    },
    done,
  };
  run.live.add(live);
  let summary: SessionSummary | null = null;
  try {
    summary = await done;
  } catch (e) {
    // a bug of ours must end this session, not the server
    log.error("session", pf, `Session failed: ${e instanceof Error ? e.stack : e}`);
    socket.destroy();
    await prog.stop();
  } finally {
    run.live.delete(live);
  }
  const status = summary?.status ?? describeStatus(await prog.status);
  metrics?.sessionEnded(
    summary ?? { status, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 },
  );
  log.access("session", {
    ...pf,
    status,
    close: summary?.close.code,
    duration: summary ? `${summary.durationMs}ms` : undefined,
  }, "DISCONNECT");
}
