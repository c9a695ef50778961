/**
 * The route: one ordered table that decides, for every request, upgrade or
 * not, who answers. The first route that answers wins; its answer is written
 * by the one response writer (`http/respond.ts`), or it has taken the socket
 * (a WebSocket session).
 *
 * The order, which the README documents:
 *
 * | # | route          | requests        | answer                                        |
 * |---|----------------|-----------------|-----------------------------------------------|
 * | 1 | draining       | WebSocket       | 503 while the server drains                   |
 * | 2 | malformed path | all             | 400 when the path cannot be decoded           |
 * | 3 | host           | all             | 400 for HTTP/1.1 without exactly one Host     |
 * | 4 | http version   | WebSocket       | 505 for a version other than 1.0 and 1.1      |
 * | 5 | clean path     | all             | 301 to the clean path (`/a/../b` → `/b`)      |
 * | 6 | health         | plain           | `--health`                                    |
 * | 7 | credentials    | WebSocket (all with `--auth-http`) | 401, or 503 when checks are busy |
 * | 8 | metrics        | plain           | `--metrics`                                   |
 * | 9 | websocket      | WebSocket       | 429, 404, 405, 400, 403, 400, else 101        |
 * |10 | console        | plain           | `--devconsole`                                |
 * |11 | cgi            | plain           | `--cgidir` (429 when full)                    |
 * |12 | static         | plain           | `--staticdir`                                 |
 * |13 | not found      | plain           | 404 page not found                            |
 *
 * "WebSocket" requests are those node:http handed us as upgrades: only
 * `Upgrade: websocket` with `Connection: upgrade`, and only when a program
 * is configured; any other `Upgrade` is a plain request (websocketd's Go
 * server ignores such headers too).
 *
 * @module
 */

import { type IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { runCgi } from "../cgi/run.ts";
import type { Authenticated } from "../cgi/variables.ts";
import { devConsole } from "../http/devconsole.ts";
import { cleanPath, escapePath } from "../http/paths.ts";
import { headerCount, type RequestFacts, type RoutedFacts, toWebRequest } from "../http/request.ts";
import { refusal, respond, textResponse } from "../http/respond.ts";
import { escapeHtml, serveStatic } from "../http/static.ts";
import { spawnTurn } from "../process/spawn_turn.ts";
import type { Fields } from "../util/log.ts";
import type { ServerContext } from "./context.ts";
import { acceptWebSocket } from "./upgrade.ts";

/** One request on its way through the table. */
export interface Exchange {
  /** The node request (headers, body stream). */
  readonly req: IncomingMessage;
  /** What we read from it. */
  facts: RequestFacts;
  /** For a WebSocket handshake: the raw socket and the bytes after the head. */
  readonly upgrade: { socket: Duplex; head: Uint8Array } | null;
  /** Log context. */
  readonly fields: Fields;
  /** Who the credentials route authenticated. */
  auth: Authenticated | null;
}

/** A route's answer: a response to write, "taken" (the socket is a session now), or null (next). */
export type Answer = Response | "taken" | null;

/** One row of the table. */
export interface Route {
  /** Name, for the debug log. */
  readonly name: string;
  /** Whether its error answers count as refusals in the metrics. */
  readonly refuses: boolean;
  /** Answers, or passes with null. */
  answer(ex: Exchange, ctx: ServerContext): Answer | Promise<Answer>;
}

const routed = (ex: Exchange) => ex.facts as RoutedFacts;

/** The table, in order (see the module doc). */
export const ROUTES: readonly Route[] = [
  {
    name: "draining",
    refuses: true,
    answer: (ex, ctx) => {
      if (!ex.upgrade || !ctx.draining) return null;
      ctx.log.access("session", ex.fields, "Unable to Upgrade: draining");
      return refusal(503, "draining", { "Retry-After": "1" });
    },
  },
  {
    name: "malformed path",
    refuses: true,
    answer: (ex) => ex.facts.path === null ? refusal(400, "malformed URL path") : null,
  },
  {
    name: "host",
    refuses: true,
    answer: (ex) => {
      // RFC 9112 §3.2: exactly one Host in HTTP/1.1; HTTP/1.0 may omit it (websocketd too)
      const hosts = headerCount(ex.facts.rawHeaders, "host");
      if (hosts > 1) return refusal(400, "more than one Host header");
      if (hosts === 0 && ex.facts.httpVersion !== "1.0") return refusal(400, "missing Host header");
      return null;
    },
  },
  {
    name: "http version",
    refuses: true,
    answer: (ex) =>
      ex.upgrade && ex.facts.httpVersion !== "1.1" && ex.facts.httpVersion !== "1.0"
        ? refusal(505)
        : null,
  },
  {
    name: "clean path",
    refuses: false,
    answer: (ex) => {
      const { path, query, method } = routed(ex);
      const clean = cleanPath(path);
      if (clean === path) return null;
      const location = escapePath(clean) + (query ? "?" + query : "");
      // Go's redirect body, for clients that do not follow
      const body = method === "GET"
        ? `<a href="${escapeHtml(location)}">Moved Permanently</a>.\n`
        : null;
      return new Response(body, {
        status: 301,
        headers: { Location: location, "Content-Type": "text/html; charset=utf-8" },
      });
    },
  },
  {
    name: "health",
    refuses: false,
    answer: (ex, ctx) => {
      if (ex.upgrade || !ctx.config.healthPath || ex.facts.path !== ctx.config.healthPath) {
        return null;
      }
      const body = JSON.stringify({
        status: ctx.draining ? "draining" : "ok",
        sessions: ctx.metrics.sessionsActive + ctx.metrics.broadcastClients,
        processes: ctx.metrics.processesRunning,
      });
      return new Response(body + "\n", {
        status: ctx.draining ? 503 : 200,
        headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
      });
    },
  },
  {
    name: "credentials",
    refuses: true,
    answer: async (ex, ctx) => {
      if (!ctx.auth || (!ex.upgrade && !ctx.config.authHttp)) return null;
      const outcome = await ctx.auth.check(ex.req.headers.authorization, ex.facts.rawQuery);
      if (outcome.ok) {
        ex.auth = { type: outcome.type, user: outcome.user };
        ex.fields.user = outcome.user;
        return null;
      }
      if (outcome.why === "busy") {
        ctx.log.error("http", ex.fields, "Too many credential checks in progress; answered 503");
        return refusal(503, "too many authentication attempts in progress", {
          "Retry-After": "1",
        });
      }
      if (ex.upgrade) {
        ctx.log.access("session", ex.fields, "Unable to Upgrade: authentication required");
      }
      return refusal(401, undefined, { "WWW-Authenticate": ctx.auth.challenge });
    },
  },
  {
    name: "metrics",
    refuses: false,
    answer: (ex, ctx) =>
      !ex.upgrade && ctx.config.metricsPath && ex.facts.path === ctx.config.metricsPath
        ? new Response(ctx.metrics.render(), {
          headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
        })
        : null,
  },
  {
    name: "websocket",
    refuses: true,
    answer: (ex, ctx) => ex.upgrade ? acceptWebSocket(ex, ex.upgrade, ctx) : null,
  },
  {
    name: "console",
    refuses: false,
    answer: (ex, ctx) => {
      if (!ctx.config.devConsole) return null;
      ctx.log.access("http", ex.fields, "DEVCONSOLE");
      return devConsole(toWebRequest(ex.req, ex.facts), ex.facts, ctx.startedAt);
    },
  },
  {
    name: "cgi",
    refuses: true,
    answer: async (ex, ctx) => {
      if (!ctx.cgi) return null;
      const match = ctx.cgi.resolve(routed(ex).path, { pathInfo: false });
      if (typeof match === "string") return null; // falls through to static files or the 404
      const slot = ctx.slots.tryAcquire();
      if (!slot) {
        ctx.log.error("http", ex.fields, "Max of possible forks already active, CGI rejected");
        return refusal(429);
      }
      const done = ctx.metrics.cgiStarted();
      const fields = { ...ex.fields, cgiscript: match.file };
      ctx.log.access("http", fields, "CGI");
      await spawnTurn();
      return await runCgi(toWebRequest(ex.req, ex.facts), {
        script: match.file,
        root: ctx.cgi.root,
        facts: routed(ex),
        envBase: ctx.envBase,
        auth: ex.auth,
        closeMs: ctx.config.closeMs,
        group: ctx.group,
        log: ctx.log,
        fields,
        release: () => {
          done();
          slot();
        },
      });
    },
  },
  {
    name: "static",
    refuses: false,
    answer: (ex, ctx) => {
      if (!ctx.config.staticDir) return null;
      ctx.log.access("http", ex.fields, "STATIC");
      return serveStatic(toWebRequest(ex.req, ex.facts), ctx.config.staticDir, routed(ex).path);
    },
  },
  {
    name: "not found",
    refuses: false,
    answer: (ex, ctx) => {
      ctx.log.access("http", ex.fields, "NOT FOUND");
      return textResponse(404, "404 page not found\n");
    },
  },
];

/**
 * Runs a request through {@link ROUTES} and writes the answer.
 * @param res The response to write to; for an upgrade, one over its socket is made on demand.
 */
export async function route(
  ctx: ServerContext,
  ex: Exchange,
  res: ServerResponse | null,
): Promise<void> {
  let answer: Answer = null;
  let by: Route | undefined;
  const tracing = ctx.log.enabled("trace");
  if (tracing) {
    const { method, target, httpVersion } = ex.facts;
    const kind = ex.upgrade ? "WebSocket handshake" : "HTTP request";
    ctx.log.trace("http", ex.fields, `${kind}: ${method} ${target} HTTP/${httpVersion}`);
  }
  try {
    for (const r of ROUTES) {
      answer = await r.answer(ex, ctx);
      if (answer !== null) {
        by = r;
        break;
      }
    }
  } catch (e) {
    ctx.log.error("http", ex.fields, `Request failed: ${e instanceof Error ? e.stack : e}`);
    answer = refusal(500);
  }
  if (answer === null) return;
  if (answer === "taken") {
    if (tracing) ctx.log.trace("http", ex.fields, `${by?.name}: 101 Switching Protocols`);
    return;
  }
  if (tracing) ctx.log.trace("http", ex.fields, `${by?.name ?? "error"}: ${answer.status}`);
  if ((by?.refuses ?? true) && answer.status >= 400) ctx.metrics.rejected(answer.status);
  await respond(res ?? responseOver(ex), answer, {
    method: ex.facts.method,
    extraHeaders: ctx.httpHeaders,
    closeAfter: ex.upgrade !== null,
  });
}

/** A ServerResponse over an upgrade request's raw socket (which node's parser has let go). */
function responseOver(ex: Exchange): ServerResponse {
  const res = new ServerResponse(ex.req);
  res.assignSocket(ex.upgrade!.socket as Socket);
  return res;
}
