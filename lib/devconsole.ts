/**
 * `--devconsole`: the interactive console page. (Stub: being implemented.)
 *
 * @module
 */

import type { IncomingFacts } from "./request.ts";
import { textResponse } from "./request.ts";

/** Answers any plain HTTP request with the console page. */
export function devConsole(req: Request, facts: IncomingFacts, startedAt: Date): Response {
  void req, facts, startedAt;
  return textResponse(501, "dev console: not implemented yet\n");
}
