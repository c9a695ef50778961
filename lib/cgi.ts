/**
 * `--cgidir`: CGI/1.1 scripts. (Stub: being implemented.)
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { EnvBase, RequestFacts } from "./env.ts";
import type { Fields, Logger } from "./log.ts";
import { textResponse } from "./request.ts";

/** Inputs of one CGI run. */
export interface CgiRun {
  /** Absolute script path (confined to the CGI root). */
  script: string;
  /** The request's facts. */
  facts: RequestFacts & { host: string | undefined; rawPath: string };
  /** Configuration (passenv, TLS, closems). */
  config: Config;
  /** Shared environment pieces. */
  envBase: EnvBase;
  /** Logger. */
  log: Logger;
  /** Log context. */
  fields: Fields;
  /** Releases the --maxforks slot; call exactly once, after the script is reaped. */
  release: () => void;
}

/** The regular file under `root` that a clean URL path names, or null. */
export function cgiScriptFor(root: string, urlPath: string): string | null {
  void root, urlPath;
  return null;
}

/** Runs a CGI script for a request and streams its response. */
export function runCgi(req: Request, run: CgiRun): Promise<Response> {
  void req;
  run.release();
  return Promise.resolve(textResponse(501, "CGI: not implemented yet\n"));
}
