/**
 * The environment of a WebSocket program (lib/session/env.ts buildEnv) and
 * the `--passenv` reading it starts from (lib/cgi/variables.ts), in process.
 * The same variables seen by a real program: tests/session_test.ts.
 */

import { readPassEnv } from "../../lib/cgi/variables.ts";
import { buildEnv } from "../../lib/session/env.ts";
import { assertEquals } from "../../testing/assert.ts";
import { requestFacts } from "./fakes.ts";

const base = {
  serverSoftware: "websocketd/test",
  passed: [["PATH", "/bin"]] as [string, string][],
};

const facts = requestFacts({
  target: "/chat/room%20a?x=1&y=%20z",
  rawPath: "/chat/room%20a",
  path: "/chat/room a",
  query: "x=1&y=%20z",
  rawQuery: "x=1&y=%20z",
  host: "example.com:8080",
  rawHeaders: [
    "Host",
    "example.com:8080",
    "X-Custom",
    "a",
    "x-custom",
    "b",
    "Authorization",
    "Basic YTpi",
    "Proxy",
    "http://evil.example",
    "X_Under",
    "dropped",
    "Origin",
    "http://example.com",
  ],
});

Deno.test("buildEnv: every variable, in websocketd's values, and nothing else", () => {
  const env = buildEnv(base, facts, { scriptName: "/chat", pathInfo: "/room a" }, null);
  assertEquals(env, {
    SERVER_SOFTWARE: "websocketd/test",
    PATH: "/bin",
    REMOTE_ADDR: "10.0.0.7",
    REMOTE_HOST: "10.0.0.7",
    SERVER_NAME: "example.com",
    SERVER_PORT: "8080",
    SERVER_PROTOCOL: "HTTP/1.1",
    GATEWAY_INTERFACE: "CGI/1.1",
    REQUEST_METHOD: "GET",
    SCRIPT_NAME: "/chat",
    PATH_INFO: "/room a",
    PATH_TRANSLATED: "/chat/room a",
    QUERY_STRING: "x=1&y=%20z",
    AUTH_TYPE: "",
    CONTENT_LENGTH: "",
    CONTENT_TYPE: "",
    REMOTE_IDENT: "",
    REMOTE_USER: "",
    UNIQUE_ID: "1700000000000000001",
    REMOTE_PORT: "5555",
    REQUEST_URI: "/chat/room%20a?x=1&y=%20z",
    // repeated headers joined; no HTTP_HOST, no HTTP_PROXY, no X_Under posing as X-Under
    HTTP_X_CUSTOM: "a, b",
    HTTP_AUTHORIZATION: "Basic YTpi",
    HTTP_ORIGIN: "http://example.com",
  });
});

Deno.test("buildEnv: with credentials checked by the server, AUTH_TYPE/REMOTE_USER set and HTTP_AUTHORIZATION hidden", () => {
  const env = buildEnv(base, facts, { scriptName: "/", pathInfo: "/" }, {
    type: "Bearer",
    user: "alice",
  });
  assertEquals([env.AUTH_TYPE, env.REMOTE_USER], ["Bearer", "alice"]);
  assertEquals("HTTP_AUTHORIZATION" in env, false);
  // the other headers are untouched
  assertEquals(env.HTTP_X_CUSTOM, "a, b");
});

Deno.test("buildEnv: TLS sets HTTPS=on and makes 443 the default port; extra variables are set last", () => {
  const env = buildEnv(
    base,
    requestFacts({ tls: true, host: "secure.example", httpVersion: "1.0" }),
    { scriptName: "/", pathInfo: "/" },
    null,
    { WEBSOCKET_PROTOCOL: "chat", REMOTE_USER: "from-extra" },
  );
  assertEquals(
    [env.HTTPS, env.SERVER_NAME, env.SERVER_PORT, env.SERVER_PROTOCOL],
    ["on", "secure.example", "443", "HTTP/1.0"],
  );
  assertEquals([env.WEBSOCKET_PROTOCOL, env.REMOTE_USER], ["chat", "from-extra"]);
  assertEquals("HTTPS" in buildEnv(base, facts, { scriptName: "/", pathInfo: "/" }, null), false);
});

Deno.test("buildEnv: request variables win over --passenv ones of the same name; SERVER_SOFTWARE may be renamed", () => {
  const env = buildEnv(
    {
      serverSoftware: "websocketd/test",
      passed: [["REMOTE_ADDR", "6.6.6.6"], ["SERVER_SOFTWARE", "mine/1"], ["HTTP_X_CUSTOM", "p"]],
    },
    facts,
    { scriptName: "/", pathInfo: "/" },
    null,
  );
  assertEquals([env.REMOTE_ADDR, env.SERVER_SOFTWARE, env.HTTP_X_CUSTOM], [
    "10.0.0.7",
    "mine/1",
    "a, b",
  ]);
});

Deno.test("buildEnv: an unparsable Host gives empty SERVER_NAME and SERVER_PORT, as in websocketd", () => {
  for (const host of ["a:b:c", "[::1", "[::1]x"]) {
    const env = buildEnv(base, requestFacts({ host }), { scriptName: "/", pathInfo: "/" }, null);
    assertEquals([env.SERVER_NAME, env.SERVER_PORT], ["", ""], host);
  }
  const v6 = buildEnv(
    base,
    requestFacts({ host: "[::1]:9" }),
    { scriptName: "/", pathInfo: "/" },
    null,
  );
  assertEquals([v6.SERVER_NAME, v6.SERVER_PORT], ["::1", "9"]);
});

Deno.test("readPassEnv: unset, empty and HTTPS are skipped; CR/LF become spaces; values trimmed", () => {
  const names = { A: "  line1\r\nline2  ", EMPTY: "", BLANK: "   ", HTTPS: "on" };
  const key = (k: string) => `WSD_UNIT_PASSENV_${k}`;
  for (const [k, v] of Object.entries(names)) if (k !== "HTTPS") Deno.env.set(key(k), v);
  try {
    assertEquals(
      readPassEnv([key("A"), "", key("EMPTY"), key("BLANK"), key("UNSET"), "HTTPS"]),
      [[key("A"), "line1  line2"]],
    );
  } finally {
    for (const k of Object.keys(names)) Deno.env.delete(key(k));
  }
});
