/**
 * The CGI-style environment of a WebSocket program, computed as websocketd
 * does (reference §2.3), in its order so that later names win the same way.
 *
 * @module
 */

import {
  type Authenticated,
  type EnvBase,
  headerVariables,
  hiddenHeaders,
} from "../cgi/variables.ts";
import { type RoutedFacts, splitHost } from "../http/request.ts";

/** Which part of the path named the program. */
export interface ScriptPaths {
  /** SCRIPT_NAME. */
  scriptName: string;
  /** PATH_INFO. */
  pathInfo: string;
}

/**
 * Builds the complete environment for one WebSocket program.
 * @param auth Who the server authenticated, or null (then HTTP_AUTHORIZATION passes on,
 *   as in websocketd, for programs that check credentials themselves).
 * @param extra Variables of our own features (e.g. WEBSOCKET_PROTOCOL), set last.
 */
export function buildEnv(
  base: EnvBase,
  req: RoutedFacts,
  script: ScriptPaths,
  auth: Authenticated | null,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  env.SERVER_SOFTWARE = base.serverSoftware;
  for (const [k, v] of base.passed) env[k] = v;
  const [serverName, serverPort] = splitHost(req.host, req.tls);
  env.REMOTE_ADDR = req.remoteAddr;
  env.REMOTE_HOST = req.remoteHost;
  env.SERVER_NAME = serverName;
  env.SERVER_PORT = serverPort;
  env.SERVER_PROTOCOL = `HTTP/${req.httpVersion}`;
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.REQUEST_METHOD = req.method;
  env.SCRIPT_NAME = script.scriptName;
  env.PATH_INFO = script.pathInfo;
  env.PATH_TRANSLATED = req.path;
  env.QUERY_STRING = req.query;
  env.AUTH_TYPE = auth?.type ?? "";
  env.CONTENT_LENGTH = "";
  env.CONTENT_TYPE = "";
  env.REMOTE_IDENT = "";
  env.REMOTE_USER = auth?.user ?? "";
  env.UNIQUE_ID = req.uniqueId;
  env.REMOTE_PORT = req.remotePort;
  env.REQUEST_URI = req.target;
  if (req.tls) env.HTTPS = "on";
  for (const [k, v] of headerVariables(req.rawHeaders, hiddenHeaders(auth))) env[k] = v;
  Object.assign(env, extra);
  return env;
}
