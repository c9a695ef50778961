/**
 * Plain HTTP routes in websocketd's order: path cleaning (301), dev console,
 * CGI, static files, then `404 page not found`.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { cleanPath, escapePath } from "./paths.ts";
import { type IncomingFacts, logUrl, textResponse } from "./request.ts";

/** Creates the plain-HTTP handler for a configuration. */
export function createHttpRoutes(
  config: Config,
  log: Logger,
): (req: IncomingMessage, facts: IncomingFacts) => Promise<Response> {
  void config;
  return (_req, facts) => {
    const fields = { url: logUrl(facts), id: facts.uniqueId, remote: facts.remoteHost };
    if (facts.path === null) {
      return Promise.resolve(textResponse(400, "400 Bad Request: malformed URL path\n"));
    }
    const clean = cleanPath(facts.path);
    if (clean !== facts.path) {
      const location = escapePath(clean) + (facts.query ? "?" + facts.query : "");
      return Promise.resolve(new Response(null, { status: 301, headers: { Location: location } }));
    }
    log.access("http", fields, "NOT FOUND");
    return Promise.resolve(textResponse(404, "404 page not found\n"));
  };
}
