/**
 * Plain HTTP routes in websocketd's order: path cleaning (301), dev console,
 * CGI, static files, then `404 page not found`.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import { cgiScriptFor, runCgi } from "./cgi.ts";
import type { Config } from "./config.ts";
import { devConsole } from "./devconsole.ts";
import type { EnvBase } from "./env.ts";
import type { ForkSlots } from "./forks.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { cleanPath, escapePath } from "./paths.ts";
import { spawnTurn } from "./process.ts";
import { type IncomingFacts, logUrl, textResponse, toWebRequest } from "./request.ts";
import { serveStatic } from "./static.ts";

/** What the plain HTTP routes need from the server. */
export interface HttpDeps {
  /** Configuration. */
  config: Config;
  /** Logger. */
  log: Logger;
  /** --maxforks slots (CGI runs take one). */
  slots: ForkSlots;
  /** Environment pieces shared by every program. */
  envBase: EnvBase;
  /** Counters for --metrics. */
  metrics: Metrics;
  /** Live state for --health. */
  state: () => { draining: boolean; sessions: number };
}

/** Creates the plain-HTTP handler for a configuration. */
export function createHttpRoutes(
  deps: HttpDeps,
): (req: IncomingMessage, facts: IncomingFacts) => Promise<Response> {
  const { config, log } = deps;
  const startedAt = new Date();
  return async (req, facts) => {
    const fields = { url: logUrl(facts), id: facts.uniqueId, remote: facts.remoteHost };
    if (facts.path === null) return textResponse(400, "400 Bad Request: malformed URL path\n");
    const clean = cleanPath(facts.path);
    if (clean !== facts.path) {
      const location = escapePath(clean) + (facts.query ? "?" + facts.query : "");
      return new Response(null, { status: 301, headers: { Location: location } });
    }
    if (config.healthPath && facts.path === config.healthPath) {
      const { draining, sessions } = deps.state();
      const body = JSON.stringify({
        status: draining ? "draining" : "ok",
        sessions,
        processes: deps.metrics.processesRunning,
      });
      return new Response(body + "\n", {
        status: draining ? 503 : 200,
        headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
      });
    }
    if (config.auth && config.authHttp) {
      const who = await config.auth.check(req.headers.authorization, facts.query);
      if (!who) {
        deps.metrics.rejected(401);
        return textResponse(401, "401 Unauthorized\n", {
          "WWW-Authenticate": config.auth.challenge,
        });
      }
    }
    if (config.metricsPath && facts.path === config.metricsPath) {
      return new Response(deps.metrics.render(), {
        headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (config.devConsole) {
      log.access("http", fields, "DEVCONSOLE");
      return devConsole(toWebRequest(req, facts), facts, startedAt);
    }
    if (config.cgiDir) {
      const script = cgiScriptFor(config.cgiDir, facts.path);
      if (script) {
        const slot = deps.slots.tryAcquire();
        if (!slot) {
          deps.metrics.rejected(429);
          log.error("http", fields, "Max of possible forks already active, CGI rejected");
          return textResponse(429, "429 Too Many Requests\n");
        }
        const running = deps.metrics.cgiStarted();
        const release = () => {
          running();
          slot();
        };
        log.access("http", { ...fields, cgiscript: script }, "CGI");
        await spawnTurn();
        return await runCgi(toWebRequest(req, facts), {
          script,
          facts: { ...facts, path: facts.path },
          config,
          envBase: deps.envBase,
          log,
          fields: { ...fields, cgiscript: script },
          release,
        });
      }
    }
    if (config.staticDir) {
      log.access("http", fields, "STATIC");
      return await serveStatic(toWebRequest(req, facts), config.staticDir, facts.path);
    }
    log.access("http", fields, "NOT FOUND");
    return textResponse(404, "404 page not found\n");
  };
}
