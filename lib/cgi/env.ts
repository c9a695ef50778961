/**
 * The RFC 3875 environment of one CGI run.
 *
 * @module
 */

import { headerValue, type RoutedFacts, splitHost } from "../http/request.ts";
import {
  type Authenticated,
  cleanHeaderValue,
  type EnvBase,
  headerVariables,
  hiddenHeaders,
} from "./variables.ts";

/** What a CGI environment is made of. */
export interface CgiEnvInputs {
  /** Absolute script path. */
  script: string;
  /** The CGI root (DOCUMENT_ROOT). */
  root: string;
  /** The request's facts. */
  facts: RoutedFacts;
  /** Shared environment pieces. */
  envBase: EnvBase;
  /** Who the server authenticated (with --auth-http), or null. */
  auth: Authenticated | null;
}

/**
 * Request meta-variables that describe this request only: a --passenv value
 * of the same name must never stand in for them when the request lacks them.
 */
const REQUEST_ONLY = [
  "AUTH_TYPE",
  "CONTENT_LENGTH",
  "CONTENT_TYPE",
  "HTTPS",
  "HTTP_HOST",
  "PATH_TRANSLATED",
  "REMOTE_IDENT",
  "REMOTE_USER",
];

/**
 * The RFC 3875 environment of one CGI run, built from nothing: the server
 * software, the --passenv variables, then the request's meta-variables
 * (which always win over a passed variable of the same name).
 *
 * Differences from the WebSocket programs' environment (lib/env.ts): HTTP_HOST
 * is present, CONTENT_LENGTH/CONTENT_TYPE describe the request body, the
 * script paths are set, and a `Proxy` request header never becomes
 * HTTP_PROXY (the "httpoxy" hole; Go's CGI host drops it too).
 */
export function cgiEnvironment(run: CgiEnvInputs): Record<string, string> {
  const f = run.facts;
  const env: Record<string, string> = {};
  env.SERVER_SOFTWARE = run.envBase.serverSoftware;
  for (const [k, v] of run.envBase.passed) env[k] = v;
  for (const name of REQUEST_ONLY) delete env[name];

  const host = headerValue(f.rawHeaders, "host");
  const [serverName, serverPort] = splitHost(host, f.tls);
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.SERVER_PROTOCOL = `HTTP/${f.httpVersion}`;
  env.SERVER_NAME = serverName;
  env.SERVER_PORT = serverPort;
  env.REQUEST_METHOD = f.method;
  env.REQUEST_URI = f.target;
  env.SCRIPT_NAME = f.path;
  env.PATH_INFO = "";
  env.SCRIPT_FILENAME = run.script;
  env.DOCUMENT_ROOT = run.root;
  env.QUERY_STRING = f.query;
  env.REMOTE_ADDR = f.remoteAddr;
  env.REMOTE_HOST = f.remoteHost;
  env.REMOTE_PORT = f.remotePort;
  env.UNIQUE_ID = f.uniqueId;
  if (f.tls) env.HTTPS = "on";
  if (run.auth) {
    env.AUTH_TYPE = run.auth.type;
    env.REMOTE_USER = run.auth.user;
  }

  // a chunked body has no length known in advance: like Go, leave CONTENT_LENGTH out then
  const length = headerValue(f.rawHeaders, "content-length")?.trim();
  const chunked = headerValue(f.rawHeaders, "transfer-encoding") !== undefined;
  if (!chunked && length && /^\d+$/.test(length) && Number(length) > 0) {
    env.CONTENT_LENGTH = String(Number(length));
  }
  const type = headerValue(f.rawHeaders, "content-type");
  if (type !== undefined && cleanHeaderValue(type) !== "") {
    env.CONTENT_TYPE = cleanHeaderValue(type);
  }

  const headers = headerVariables(f.rawHeaders, hiddenHeaders(run.auth));
  headers.delete("HTTP_PROXY");
  // RFC 6265 joins cookies with "; ", and so does Go's CGI host; a comma would merge two cookies
  const cookies = cookieValues(f.rawHeaders);
  if (cookies.length > 1) headers.set("HTTP_COOKIE", cookies.join("; "));
  for (const [k, v] of headers) env[k] = v;
  if (host !== undefined) env.HTTP_HOST = cleanHeaderValue(host);
  return env;
}

function cookieValues(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "cookie") out.push(cleanHeaderValue(rawHeaders[i + 1]!));
  }
  return out;
}
