/**
 * CGI's pure parts in process: the script's header block (parseCgiHead),
 * which file a URL path names (ScriptRoot), and the RFC 3875 environment
 * (cgiEnvironment). The behaviour over HTTP is tests/cgi_test.ts.
 */

import { type CgiEnvInputs, cgiEnvironment } from "../../lib/cgi/env.ts";
import { parseCgiHead } from "../../lib/cgi/head.ts";
import { ScriptRoot } from "../../lib/http/scripts.ts";
import { assert, assertEquals } from "../../testing/assert.ts";
import { requestFacts } from "./fakes.ts";

const enc = new TextEncoder();

Deno.test("parseCgiHead: LF and CRLF lines, body offset, standard reasons, hop-by-hop headers dropped", () => {
  const r = parseCgiHead(
    enc.encode("Content-Type: text/html\r\nX-A:  spaced  \nTransfer-Encoding: chunked\n\r\nBODY"),
  );
  assert(r.kind === "head");
  assertEquals(r.head, {
    status: 200,
    statusText: "OK",
    headers: [["Content-Type", "text/html"], ["X-A", "spaced"]],
    contentLength: null,
  });
  assertEquals(
    r.bodyStart,
    "Content-Type: text/html\r\nX-A:  spaced  \nTransfer-Encoding: chunked\n\r\n".length,
  );
  const moved = parseCgiHead(enc.encode("Status: 301\nLocation: /x\n\n"));
  assert(moved.kind === "head");
  assertEquals([moved.head.status, moved.head.statusText], [301, "Moved Permanently"]);
});

Deno.test("parseCgiHead: incomplete blocks ask for more; bad ones say why", () => {
  assertEquals(parseCgiHead(enc.encode("Content-Type: text/plain\n")), { kind: "more" });
  assertEquals(parseCgiHead(enc.encode("Content-Ty")), { kind: "more" });
  const bad = (text: string) => {
    const r = parseCgiHead(enc.encode(text));
    return r.kind === "bad" ? r.reason : r.kind;
  };
  assertEquals(bad("\nbody"), "no headers");
  assertEquals(bad("Status: 1000\nContent-Type: a/b\n\n"), 'bogus status: "1000"');
  assertEquals(bad("Status: 101\nContent-Type: a/b\n\n"), 'bogus status: "101"');
  assertEquals(bad("Content-Type: a/b\nContent-Length: ten\n\n"), 'bogus Content-Length: "ten"');
  assertEquals(bad("Bad Name: 1\nContent-Type: a/b\n\n"), 'unusable header line: "Bad Name: 1"');
  assertEquals(bad(": no name\n\n"), 'bogus header line: ": no name"');
  assertEquals(
    bad("X-Ctl: a\x01b\nContent-Type: a/b\n\n"),
    'unusable header line: "X-Ctl: a\\u0001b"',
  );
  assertEquals(bad("x".repeat(70000)), "header block longer than 65536 bytes");
});

Deno.test("CGI script lookup: only an executable regular file named by the whole path, inside the root", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-cgi-unit-" }));
  try {
    await Deno.mkdir(`${root}/sub`);
    for (const [rel, mode] of [["run.cgi", 0o755], ["sub/run.cgi", 0o755], ["plain.txt", 0o644]]) {
      await Deno.writeTextFile(`${root}/${rel}`, "#!/bin/sh\ntrue\n", { mode: mode as number });
      await Deno.chmod(`${root}/${rel}`, mode as number);
    }
    const file = (r: string, p: string) => {
      const m = new ScriptRoot(r).resolve(p, { pathInfo: false });
      return typeof m === "string" ? null : m.file;
    };
    assertEquals(file(root, "/run.cgi"), `${root}/run.cgi`);
    assertEquals(file(root + "/", "/sub/run.cgi"), `${root}/sub/run.cgi`);
    for (
      const p of ["/", "/sub", "/sub/", "/run.cgi/x", "/plain.txt", "/missing", "/sub/../run.cgi"]
    ) {
      assertEquals(file(root, p), null, p);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cgiEnvironment: request variables beat --passenv ones, cookies join with '; ', Proxy is dropped", () => {
  const rawHeaders = [
    "Host",
    "[::1]:8443",
    "Cookie",
    "a=1",
    "Cookie",
    "b=2",
    "Proxy",
    "http://evil.example",
    "Transfer-Encoding",
    "chunked",
    "Content-Length",
    "12",
    "Content-Type",
    "text/plain",
  ];
  const run: CgiEnvInputs = {
    script: "/srv/cgi/sub/x.cgi",
    root: "/srv/cgi",
    auth: null,
    facts: {
      method: "POST",
      target: "/sub/x.cgi?q",
      path: "/sub/x.cgi",
      rawPath: "/sub/x.cgi",
      query: "q",
      rawQuery: "q",
      httpVersion: "1.0",
      rawHeaders,
      remoteAddr: "::1",
      remotePort: "5555",
      remoteHost: "::1",
      tls: true,
      uniqueId: "1795608379895552166",
      host: "[::1]:8443",
    },
    envBase: {
      serverSoftware: "websocketd/test",
      passed: [["PATH", "/bin"], ["CONTENT_LENGTH", "99"], ["SERVER_SOFTWARE", "mine"]],
    },
  };
  const env = cgiEnvironment(run);
  assertEquals(env.PATH, "/bin");
  // --passenv may rename the server (as in websocketd), but never fake request data
  assertEquals(env.SERVER_SOFTWARE, "mine");
  assertEquals(env.CONTENT_LENGTH, undefined, "chunked: no length known");
  assertEquals(env.CONTENT_TYPE, "text/plain");
  assertEquals(env.HTTP_COOKIE, "a=1; b=2");
  assertEquals(env.HTTP_PROXY, undefined);
  assertEquals([env.SERVER_NAME, env.SERVER_PORT, env.HTTP_HOST], ["::1", "8443", "[::1]:8443"]);
  assertEquals([env.HTTPS, env.SERVER_PROTOCOL, env.DOCUMENT_ROOT], ["on", "HTTP/1.0", "/srv/cgi"]);
  assertEquals([env.SCRIPT_NAME, env.PATH_INFO, env.SCRIPT_FILENAME], [
    "/sub/x.cgi",
    "",
    "/srv/cgi/sub/x.cgi",
  ]);
});

/** The CGI environment of one request with the usual inputs. */
function cgiEnv(over: Partial<CgiEnvInputs> = {}): Record<string, string> {
  return cgiEnvironment({
    script: "/srv/cgi/x.cgi",
    root: "/srv/cgi",
    auth: null,
    facts: requestFacts({ target: "/x.cgi", rawPath: "/x.cgi", path: "/x.cgi" }),
    envBase: { serverSoftware: "websocketd/test", passed: [] },
    ...over,
  });
}

Deno.test("cgiEnvironment: every variable of a plain GET, and nothing else", () => {
  const env = cgiEnv({
    facts: requestFacts({
      target: "/x.cgi?a=1",
      rawPath: "/x.cgi",
      path: "/x.cgi",
      query: "a=1",
      rawQuery: "a=1",
      rawHeaders: ["Host", "example.com:8080", "Accept", "*/*"],
    }),
    envBase: { serverSoftware: "websocketd/test", passed: [["PATH", "/bin"]] },
  });
  assertEquals(env, {
    SERVER_SOFTWARE: "websocketd/test",
    PATH: "/bin",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_NAME: "example.com",
    SERVER_PORT: "8080",
    REQUEST_METHOD: "GET",
    REQUEST_URI: "/x.cgi?a=1",
    SCRIPT_NAME: "/x.cgi",
    PATH_INFO: "",
    SCRIPT_FILENAME: "/srv/cgi/x.cgi",
    DOCUMENT_ROOT: "/srv/cgi",
    QUERY_STRING: "a=1",
    REMOTE_ADDR: "10.0.0.7",
    REMOTE_HOST: "10.0.0.7",
    REMOTE_PORT: "5555",
    UNIQUE_ID: "1700000000000000001",
    HTTP_ACCEPT: "*/*",
    HTTP_HOST: "example.com:8080",
  });
});

Deno.test("cgiEnvironment: with server-side auth, AUTH_TYPE and REMOTE_USER are set and the credentials hidden", () => {
  const facts = requestFacts({ rawHeaders: ["Host", "h", "Authorization", "Basic YTpi"] });
  const authed = cgiEnv({ facts, auth: { type: "Basic", user: "alice" } });
  assertEquals([authed.AUTH_TYPE, authed.REMOTE_USER], ["Basic", "alice"]);
  assertEquals(authed.HTTP_AUTHORIZATION, undefined);
  // without our check the script may do its own: the header passes, no user is claimed
  const open = cgiEnv({ facts });
  assertEquals(open.HTTP_AUTHORIZATION, "Basic YTpi");
  assertEquals([open.AUTH_TYPE, open.REMOTE_USER], [undefined, undefined]);
});

Deno.test("cgiEnvironment: a --passenv variable never stands in for request-only data", () => {
  const passed: [string, string][] = [
    "AUTH_TYPE",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "HTTPS",
    "HTTP_HOST",
    "PATH_TRANSLATED",
    "REMOTE_IDENT",
    "REMOTE_USER",
  ].map((k) => [k, "forged"]);
  const env = cgiEnv({
    facts: requestFacts({ rawHeaders: [] }),
    envBase: { serverSoftware: "s", passed: [...passed, ["LANG", "C"]] },
  });
  for (const [k] of passed) assertEquals(env[k], undefined, k);
  assertEquals(env.LANG, "C");
  // and no Host at all: HTTP/1.0 style, the defaults of websocketd
  assertEquals([env.SERVER_NAME, env.SERVER_PORT], ["", "80"]);
});

Deno.test("cgiEnvironment: CONTENT_LENGTH only for a positive decimal length; CONTENT_TYPE cleaned", () => {
  const lengthOf = (value: string) =>
    cgiEnv({ facts: requestFacts({ method: "POST", rawHeaders: ["Content-Length", value] }) })
      .CONTENT_LENGTH;
  assertEquals(lengthOf("12"), "12");
  assertEquals(lengthOf(" 012 "), "12");
  assertEquals(lengthOf("0"), undefined);
  assertEquals(lengthOf("-1"), undefined);
  assertEquals(lengthOf("1e3"), undefined);
  const typed = cgiEnv({
    facts: requestFacts({ rawHeaders: ["Content-Type", " text/plain\r\n "] }),
  });
  assertEquals(typed.CONTENT_TYPE, "text/plain");
  assertEquals(
    cgiEnv({ facts: requestFacts({ rawHeaders: ["Content-Type", " "] }) }).CONTENT_TYPE,
    undefined,
  );
});

Deno.test("cgiEnvironment: HTTPS=on and port 443 by default over TLS", () => {
  const env = cgiEnv({
    facts: requestFacts({ tls: true, rawHeaders: ["Host", "secure.example"] }),
  });
  assertEquals([env.HTTPS, env.SERVER_NAME, env.SERVER_PORT], ["on", "secure.example", "443"]);
});
