/**
 * The state every route shares, created once by the server.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Config } from "./config.ts";
import type { EnvBase } from "./env.ts";
import type { ForkSlots } from "./forks.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { IncomingFacts } from "./request.ts";
import type { ScriptDir } from "./scriptdir.ts";
import type { Session } from "./session.ts";

/** Shared server state. */
export interface ServerContext {
  /** Validated configuration. */
  readonly config: Config;
  /** Logger. */
  readonly log: Logger;
  /** --maxforks slots. */
  readonly slots: ForkSlots;
  /** Live WebSocket sessions. */
  readonly sessions: Set<Session>;
  /** Environment pieces shared by every program. */
  readonly envBase: EnvBase;
  /** Whether programs get their own process group (and signals reach it). */
  readonly group: boolean;
  /** --dir resolver, when in --dir mode. */
  readonly scripts: ScriptDir | null;
  /** Headers for plain HTTP responses (--header and --header-http). */
  readonly httpHeaders: [string, string][];
  /** Answers a plain HTTP request (dev console, CGI, static, 404). */
  readonly http: (req: IncomingMessage, facts: IncomingFacts) => Promise<Response>;
  /** Counters for --metrics (always kept; cheap). */
  readonly metrics: Metrics;
  /** Set when shutting down: no new sessions. */
  draining: boolean;
}
