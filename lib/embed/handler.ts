/**
 * websocketd inside any `Deno.serve` app: {@link websocketd} returns a
 * request handler that runs a program per WebSocket connection, exactly as
 * the standalone server does (the same handshake checks, environment, stop
 * ladder and {@link pipe}), with the socket endpoint built on
 * `Deno.upgradeWebSocket` ({@link WebSocketEndpoint}) instead of a raw socket.
 *
 * ```
 * request ─► 503 closing │ 426 not a WebSocket │ 400 path │ 429 │ 405 │ 400 │ 403 │ 400
 *              └─► spawn ─► Deno.upgradeWebSocket ─► pipe(program, WebSocketEndpoint)
 * ```
 *
 * @module
 */

import { type EnvBase, readPassEnv } from "../cgi/variables.ts";
import { lookPath } from "../cli/config.ts";
import { serverSoftware } from "../cli/version.ts";
import { logUrl, type RoutedFacts } from "../http/request.ts";
import { refusal } from "../http/respond.ts";
import { canSignalGroups } from "../process/groups.ts";
import { prepareSpawning } from "../process/program.ts";
import { spawnTurn } from "../process/spawn_turn.ts";
import { ForkSlots } from "../server/forks.ts";
import { buildEnv } from "../session/env.ts";
import { INBOUND_HIGH_WATER } from "../session/input.ts";
import { checkClientHandshake, type Live, runSession, startProgram } from "../session/start.ts";
import { type Fields, type Level, LEVELS, Logger } from "../util/log.ts";
import { isWebSocketRequest } from "../ws/handshake.ts";
import {
  DEFAULT_MAX_LINE,
  DEFAULT_MAX_QUEUED_INPUT,
  WebSocketEndpoint,
} from "../ws/web_socket_endpoint.ts";
import { factsFromRequest, headerRecord } from "./request.ts";

/**
 * Settings of {@link websocketd}: the flags of the standalone server that
 * make sense inside an app, under their flag's meaning and default.
 */
export interface WebsocketdOptions {
  /** The program (COMMAND): a path, or a name looked up in `PATH`. */
  command: string;
  /**
   * Its arguments.
   * @default []
   */
  args?: string[];
  /**
   * The program's working directory.
   * @default the app's working directory
   */
  cwd?: string;
  /**
   * `--binary`: each stdout read becomes a binary message; messages go to stdin raw.
   * @default false
   */
  binary?: boolean;
  /**
   * `--passenv`: variables of the app's environment the program sees (it sees no others).
   * @default ["PATH", "LD_LIBRARY_PATH"]
   */
  passEnv?: string[];
  /**
   * `--passstderr`: send stdout and stderr lines as `{"stream":…,"data":LINE}`.
   * @default false
   */
  passStderr?: boolean;
  /**
   * `--origin`: accept handshakes only from these origins (`[scheme://]host[:port]`); 403 otherwise.
   * @default undefined (any origin)
   */
  origins?: string[];
  /**
   * `--sameorigin`: accept handshakes only when Origin matches the Host header.
   * @default false
   */
  sameOrigin?: boolean;
  /**
   * `--maxforks`: most programs running at once; more handshakes get 429. 0 = no limit.
   * @default 1024
   */
  maxForks?: number;
  /**
   * `--closems`: milliseconds added to each wait of the stop ladder.
   * @default 0
   */
  closeMs?: number;
  /**
   * `--maxframesize`: largest message accepted from a client; larger ones close
   * with 1009. 0 = Deno's own ceiling (64 MiB, dropped without a close frame).
   * @default 1048576
   */
  maxFrameSize?: number;
  /**
   * `--stallms`: when 1 MiB of input waits and the program has read none of it
   * for this long, close with 1008.
   * @default 10000
   */
  stallMs?: number;
  /**
   * `--pingms`: ping a client silent for this long; drop it after twice as long
   * (Deno's `idleTimeout`, set to `2 * pingMs / 1000` s). 0 = off.
   * @default 0
   */
  pingMs?: number;
  /**
   * `--subprotocol`: subprotocols we speak; the first one the client offers is
   * chosen (`WEBSOCKET_PROTOCOL`); a client offering only others gets 400.
   * @default []
   */
  subprotocols?: string[];
  /**
   * `--header`: added to every response of the handler (the 101 and refusals).
   * @default {}
   */
  headers?: HeadersInit;
  /**
   * Log lines (websocketd's format, on stdout) from this level up, or a
   * {@link Logger} of your own (any format and sink). `"none"` is silent.
   * @default "access"
   */
  log?: Level | Logger;
  /**
   * Bytes of client messages held while the program is not taking input
   * (the WebSocket API cannot stop reading a client); one more closes with 1008.
   * @default 1048576
   */
  maxQueuedInput?: number;
  /**
   * Longest output line, in bytes: a line is sent as one message (the API
   * cannot send fragments), and a longer one closes with 1009.
   * @default 16777216
   */
  maxLine?: number;
  /** Aborting it does what {@link WebsocketdHandler.close} does. */
  signal?: AbortSignal;
}

/** The handler {@link websocketd} returns: call it with each request for the program's URL. */
export interface WebsocketdHandler {
  /** Answers one request: a 101 that starts a session, or a refusal. */
  (req: Request, info: Deno.ServeHandlerInfo): Promise<Response>;
  /** Live sessions. */
  readonly sessions: number;
  /**
   * Ends every live session (close 1001 "server shutting down", then the stop
   * ladder) and answers later requests with 503; resolves when every program
   * has been reaped and every socket closed. Idempotent.
   */
  close(): Promise<void>;
  /** The same as {@link WebsocketdHandler.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates a handler that serves a program over WebSocket.
 *
 * @example
 * ```ts ignore
 * import { websocketd } from "./mod.ts";
 * const ws = websocketd({ command: "./count.sh" });
 * Deno.serve((req, info) => {
 *   if (new URL(req.url).pathname === "/ws") return ws(req, info);
 *   return new Response("Hello from the app");
 * });
 * ```
 * @throws {Error} When the command cannot be found, or a setting is out of range.
 */
export function websocketd(options: WebsocketdOptions): WebsocketdHandler {
  const mount = new Mount(settings(options));
  const close = () => mount.close();
  if (options.signal) {
    if (options.signal.aborted) void close();
    else options.signal.addEventListener("abort", () => void close(), { once: true });
  }
  return defineSessions((req, info) => mount.handle(req, info), mount.live, close);
}

/** The state of one mounted program: slots, live sessions, and how a request becomes one. */
class Mount {
  readonly live = new Set<Live>();
  #s: Settings;
  #slots: ForkSlots;
  #envBase: EnvBase;
  #group = canSignalGroups();
  #closing: Promise<void> | null = null;

  constructor(s: Settings) {
    const why = prepareSpawning();
    if (why) throw new TypeError(`websocketd(): ${why}`);
    this.#s = s;
    this.#slots = new ForkSlots(s.maxForks);
    this.#envBase = { serverSoftware: serverSoftware(), passed: readPassEnv(s.passEnv) };
  }

  /** Answers one request: a refusal, or the 101 of a session that is now running. */
  async handle(req: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const s = this.#s;
    const read = this.#read(req, info);
    if (read instanceof Response) return this.#answer(read);
    const { headers, facts, fields } = read;
    // websocketd takes the fork slot before any other check
    const release = this.#slots.tryAcquire();
    if (!release) {
      s.log.error("http", fields, "Max of possible forks already active, upgrade rejected");
      return this.#answer(refusal(429));
    }
    let handedOver = false;
    try {
      const checked = checkClientHandshake(req.method, headers, facts, s, s.log, fields);
      if (checked instanceof Response) return this.#answer(checked);
      await spawnTurn();
      if (this.#closing) return this.#answer(refusal(503, "server shutting down"));
      const response = this.#start(req, facts, fields, checked.protocol, release);
      handedOver = response.status === 101;
      return this.#answer(response);
    } finally {
      if (!handedOver) release();
    }
  }

  /** Ends every live session with the stop ladder; new requests get 503. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const now = [...this.live];
      for (const l of now) l.shutdown("server shutting down");
      await Promise.all(now.map((l) => l.done.catch(() => {})));
    })();
    return this.#closing;
  }

  /** The request's facts and log fields, or why it gets no session at all. */
  #read(
    req: Request,
    info: Deno.ServeHandlerInfo,
  ): Response | { headers: Record<string, string>; facts: RoutedFacts; fields: Fields } {
    if (this.#closing) return refusal(503, "server shutting down");
    // Deno forgets the connection once the request is upgraded: read the address first
    let remote: Deno.Addr | undefined;
    try {
      remote = info?.remoteAddr;
    } catch { /* the request is gone */ }
    const headers = headerRecord(req.headers);
    if (!isWebSocketRequest(headers)) {
      return refusal(426, "this URL speaks WebSocket only", {
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Version": "13",
      });
    }
    const facts = factsFromRequest(req, remote);
    const fields: Fields = {
      url: logUrl(facts),
      id: facts.uniqueId,
      remote: facts.remoteHost,
      command: this.#s.command,
      origin: headers.origin ?? "file:",
    };
    if (facts.path === null) {
      this.#s.log.access("http", fields, "Bad request: malformed URL path");
      return refusal(400, "malformed URL path");
    }
    return { headers, facts: facts as RoutedFacts, fields };
  }

  /** Upgrades, starts the program and runs the session; the 101, or why not. */
  #start(
    req: Request,
    facts: RoutedFacts,
    fields: Fields,
    protocol: string | null,
    release: () => void,
  ): Response {
    const s = this.#s;
    // a client that left meanwhile is noticed by the endpoint (OPEN_WAIT_MS): reading
    // req.signal would make Deno print a warning about its legacy abort on every session
    let upgrade: Deno.WebSocketUpgrade;
    try {
      upgrade = Deno.upgradeWebSocket(req, {
        ...(protocol ? { protocol } : {}),
        idleTimeout: s.pingMs > 0 ? (2 * s.pingMs) / 1000 : 0,
      });
    } catch (e) {
      s.log.access("session", fields, `Unable to Upgrade: ${(e as Error).message}`);
      return refusal(400, "cannot upgrade this request");
    }
    const socket = new WebSocketEndpoint(upgrade.socket, {
      maxMessage: s.maxFrameSize,
      maxQueuedInput: s.maxQueuedInput,
      maxLine: s.maxLine,
      report: (text) => s.log.error("session", fields, text),
    });
    const env = buildEnv(
      this.#envBase,
      facts,
      { scriptName: "/", pathInfo: facts.path },
      null,
      protocol ? { WEBSOCKET_PROTOCOL: protocol } : {},
    );
    void startProgram(
      { command: s.command, args: s.args, env, cwd: s.cwd },
      { group: this.#group, closeMs: s.closeMs, log: s.log },
      fields,
    ).then((started) =>
      runSession(started, socket, s.command, fields, {
        pipe: {
          binary: s.binary,
          passStderr: s.passStderr,
          inboundHighWater: INBOUND_HIGH_WATER,
          stallMs: s.stallMs,
        },
        log: s.log,
        live: this.live,
      })
    ).finally(release);
    return upgrade.response;
  }

  /** The configured headers go on every answer, as the standalone server's --header. */
  #answer(r: Response): Response {
    this.#s.headers.forEach((v, k) => r.headers.set(k, v));
    return r;
  }
}

/** Attaches `sessions`, `close` and `Symbol.asyncDispose` to the handler function. */
function defineSessions(
  handle: (req: Request, info: Deno.ServeHandlerInfo) => Promise<Response>,
  live: Set<Live>,
  close: () => Promise<void>,
): WebsocketdHandler {
  Object.defineProperty(handle, "sessions", { get: () => live.size, enumerable: true });
  return Object.assign(handle, { close, [Symbol.asyncDispose]: close }) as WebsocketdHandler;
}

/** Options with their defaults, checked. */
interface Settings {
  command: string;
  args: string[];
  cwd: string | undefined;
  binary: boolean;
  passEnv: string[];
  passStderr: boolean;
  origins: string[] | null;
  sameOrigin: boolean;
  maxForks: number;
  closeMs: number;
  maxFrameSize: number;
  stallMs: number;
  pingMs: number;
  subprotocols: string[];
  headers: Headers;
  log: Logger;
  maxQueuedInput: number;
  maxLine: number;
}

function settings(o: WebsocketdOptions): Settings {
  if (typeof o?.command !== "string" || o.command === "") {
    throw new TypeError("websocketd: `command` (the program to run) is required");
  }
  // a relative path is resolved once, against the program's working directory
  let command = o.command;
  if (command.includes("/") && !command.startsWith("/")) {
    const base = o.cwd ?? currentDir();
    if (base) command = `${base.replace(/\/+$/, "")}/${command.replace(/^\.\//, "")}`;
  }
  const path = lookPath(command);
  if (!path) {
    throw new Error(`websocketd: Unable to locate specified COMMAND '${o.command}' in OS path.`);
  }
  const count = (name: string, value: number | undefined, dflt: number): number => {
    const v = value ?? dflt;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`websocketd: \`${name}\` must be a whole number >= 0, not ${value}`);
    }
    return v;
  };
  let log: Logger;
  if (o.log instanceof Logger) log = o.log;
  else {
    const level = o.log ?? "access";
    if (!LEVELS.includes(level)) {
      throw new RangeError(`websocketd: \`log\` must be one of ${LEVELS.join(", ")}`);
    }
    log = new Logger(level);
  }
  return {
    command: path,
    args: [...(o.args ?? [])],
    cwd: o.cwd,
    binary: o.binary ?? false,
    passEnv: [...(o.passEnv ?? ["PATH", "LD_LIBRARY_PATH"])],
    passStderr: o.passStderr ?? false,
    origins: o.origins ? [...o.origins] : null,
    sameOrigin: o.sameOrigin ?? false,
    maxForks: count("maxForks", o.maxForks, 1024),
    closeMs: count("closeMs", o.closeMs, 0),
    maxFrameSize: count("maxFrameSize", o.maxFrameSize, 1048576),
    stallMs: count("stallMs", o.stallMs, 10000),
    pingMs: count("pingMs", o.pingMs, 0),
    subprotocols: [...(o.subprotocols ?? [])],
    // the Headers constructor refuses names and values that would corrupt a response
    headers: new Headers(o.headers),
    log,
    maxQueuedInput: count("maxQueuedInput", o.maxQueuedInput, DEFAULT_MAX_QUEUED_INPUT),
    maxLine: count("maxLine", o.maxLine, DEFAULT_MAX_LINE),
  };
}

function currentDir(): string | null {
  try {
    return Deno.cwd();
  } catch {
    return null; // not allowed to read it: the path stays relative
  }
}
