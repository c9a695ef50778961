/**
 * The state every route shares, created once by the server.
 *
 * @module
 */

import type { Config } from "../cli/config.ts";
import type { EnvBase } from "../cgi/variables.ts";
import type { AuthGate } from "../http/auth.ts";
import type { ScriptRoot } from "../http/scripts.ts";
import type { Broadcast } from "../session/broadcast.ts";
import type { Live } from "../session/start.ts";

export type { Live };
import type { Logger } from "../util/log.ts";
import type { ForkSlots } from "./forks.ts";
import type { Metrics } from "./metrics.ts";

/** Shared server state. */
export interface ServerContext {
  /** Validated configuration. */
  readonly config: Config;
  /** Logger. */
  readonly log: Logger;
  /** --maxforks slots. */
  readonly slots: ForkSlots;
  /** Counters for --metrics (always kept; cheap). */
  readonly metrics: Metrics;
  /** Environment pieces shared by every program. */
  readonly envBase: EnvBase;
  /** Whether programs get their own process group (and signals reach it). */
  readonly group: boolean;
  /** --dir resolver. */
  readonly scripts: ScriptRoot | null;
  /** --cgidir resolver. */
  readonly cgi: ScriptRoot | null;
  /** Credential checks, when --basic-auth-file / --bearer-token-file are given. */
  readonly auth: AuthGate | null;
  /** Headers for plain HTTP responses (--header and --header-http). */
  readonly httpHeaders: readonly (readonly [string, string])[];
  /** When the server started (the dev console's Last-Modified). */
  readonly startedAt: Date;
  /** Live sessions and broadcast programs. */
  readonly live: Set<Live>;
  /** Broadcast programs taking clients, by program path and arguments. */
  readonly broadcasts: Map<string, Broadcast>;
  /** Set when shutting down: no new sessions. */
  draining: boolean;
}
