/**
 * `--cgidir`: CGI/1.1 scripts over plain HTTP, against the real server.
 * Scripts are written per test into temporary directories and removed after.
 * Timings carry wide margins: CI machines have 2 busy cores.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import {
  marker,
  sleep,
  startServer,
  TESTPROG,
  type TestServer,
  waitNoProcesses,
} from "../testing/server.ts";

const enc = new TextEncoder();

/** A POSIX sh CGI script: the given lines after the `#!` line. */
const sh = (...lines: string[]) => `#!/bin/sh\n${lines.join("\n")}\n`;

/** Prints a minimal header block. */
const TEXT_HEAD = "printf 'Content-Type: text/plain\\n\\n'";

/** Writes files (path relative to `dir` → script text) with mode 755 unless given. */
async function writeFiles(
  dir: string,
  files: Record<string, string | { text: string; mode: number }>,
): Promise<void> {
  for (const [rel, spec] of Object.entries(files)) {
    const path = `${dir}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    const { text, mode } = typeof spec === "string" ? { text: spec, mode: 0o755 } : spec;
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, mode);
  }
}

/**
 * Runs `body` against a server whose --cgidir holds `files`; removes
 * everything after and checks that the server stops cleanly.
 */
async function withCgi(
  files: Record<string, string | { text: string; mode: number }>,
  body: (server: TestServer, root: string) => Promise<void>,
  opts: { args?: string[]; env?: Record<string, string> } = {},
): Promise<void> {
  // realPath: the script's cwd as the kernel reports it has no symlinks in it
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-cgi-" }));
  try {
    await writeFiles(root, files);
    await using server = await startServer([...(opts.args ?? []), `--cgidir=${root}`], {
      env: opts.env,
    });
    await body(server, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** `NAME=value` lines → a map (values may contain `=`). */
function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

/** Sends one raw request (the status line's reason is not visible through fetch). */
async function rawHttp(port: number, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      enc.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    const dec = new TextDecoder();
    const buf = new Uint8Array(16 * 1024);
    for (let n; (n = await conn.read(buf)) !== null;) text += dec.decode(buf.subarray(0, n));
    return text;
  } finally {
    conn.close();
  }
}

/** GETs a path and returns status, headers and body text (the body is always consumed). */
async function get(server: TestServer, path: string, init?: RequestInit) {
  const res = await fetch(server.http(path), { redirect: "manual", ...init });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

Deno.test("GET runs the script with an RFC 3875 environment, its own dir as cwd, and only --passenv variables", async () => {
  await withCgi({
    "env.cgi": sh(TEXT_HEAD, "env", 'echo "CWD=$(pwd -P)"'),
  }, async (server, root) => {
    const r = await get(server, "/env.cgi?x=1&y=%20z", {
      headers: { "X-Custom-Test": "  yes  ", Proxy: "http://evil.example:1", "X_Under": "no" },
    });
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "text/plain");
    const env = parseEnv(r.text);
    const port = String(server.port);
    const expect: Record<string, string> = {
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_PROTOCOL: "HTTP/1.1",
      REQUEST_METHOD: "GET",
      SCRIPT_NAME: "/env.cgi",
      PATH_INFO: "",
      SCRIPT_FILENAME: `${root}/env.cgi`,
      DOCUMENT_ROOT: root,
      QUERY_STRING: "x=1&y=%20z",
      REQUEST_URI: "/env.cgi?x=1&y=%20z",
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: port,
      HTTP_HOST: `127.0.0.1:${port}`,
      HTTP_X_CUSTOM_TEST: "yes",
      REMOTE_ADDR: "127.0.0.1",
      REMOTE_HOST: "127.0.0.1",
      PATH: Deno.env.get("PATH")!,
      CWD: root,
    };
    for (const [k, v] of Object.entries(expect)) assertEquals(env.get(k), v, k);
    assertMatch(env.get("REMOTE_PORT")!, /^\d+$/);
    assertMatch(env.get("UNIQUE_ID")!, /^\d{19}$/);
    assertMatch(env.get("SERVER_SOFTWARE")!, /^websocketd\//);
    // what the server's own environment holds must not leak; nor may a request pose as a proxy
    for (const k of ["SECRET_OF_SERVER", "HTTP_PROXY", "HTTP_X_UNDER", "CONTENT_LENGTH", "HTTPS"]) {
      assertEquals(env.get(k), undefined, k);
    }
  }, { env: { SECRET_OF_SERVER: "s3cret" } });
});

Deno.test("POST body streams to the script's stdin with CONTENT_LENGTH and CONTENT_TYPE", async () => {
  await withCgi({
    "post.cgi": sh(
      TEXT_HEAD,
      'echo "$REQUEST_METHOD $CONTENT_LENGTH $CONTENT_TYPE"',
      "od -An -c | head -1",
    ),
    "count.cgi": sh(TEXT_HEAD, "wc -c | tr -d ' '"),
  }, async (server) => {
    const small = await get(server, "/post.cgi", {
      method: "POST",
      body: "a=1&b=2",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assertEquals(small.status, 200);
    const [first, second] = small.text.split("\n");
    assertEquals(first, "POST 7 application/x-www-form-urlencoded");
    assertEquals(second!.replace(/\s+/g, ""), "a=1&b=2");
    // more than any pipe buffer: the body is written with backpressure, then EOF
    const big = new Uint8Array(1024 * 1024).fill(0x61);
    const counted = await get(server, "/count.cgi", { method: "POST", body: big });
    assertEquals(counted.text.trim(), String(big.length));
  });
});

Deno.test("a script that never reads its POST body still gets its response sent", async () => {
  await withCgi({ "deaf.cgi": sh(TEXT_HEAD, "echo not listening") }, async (server) => {
    const body = new Uint8Array(2 * 1024 * 1024).fill(0x62);
    const r = await get(server, "/deaf.cgi", { method: "POST", body });
    assertEquals([r.status, r.text], [200, "not listening\n"]);
    // the connection is still good for the next request
    assertEquals((await get(server, "/deaf.cgi")).text, "not listening\n");
  });
});

Deno.test("Status: 418 Teapot sets status and reason; a bare code gets the standard reason", async () => {
  await withCgi({
    "tea.cgi": sh(
      "printf 'Status: 418 Teapot\\r\\nContent-Type: text/plain\\r\\n\\r\\nshort and stout\\n'",
    ),
    "bare.cgi": sh("printf 'Status: 418\\nContent-Type: text/plain\\n\\n'"),
  }, async (server) => {
    const tea = await get(server, "/tea.cgi");
    assertEquals([tea.status, tea.text], [418, "short and stout\n"]);
    assertEquals(tea.headers.get("status"), null);
    assertMatch(await rawHttp(server.port, "/tea.cgi"), /^HTTP\/1\.1 418 Teapot\r\n/);
    assertMatch(await rawHttp(server.port, "/bare.cgi"), /^HTTP\/1\.1 418 I'm a teapot\r\n/i);
  });
});

Deno.test("Location without Status answers 302 with the Location passed on; other headers pass through", async () => {
  await withCgi({
    "away.cgi": sh("printf 'Location: https://example.com/elsewhere\\nX-Extra: 1\\n\\n'"),
    "local.cgi": sh("printf 'Location: /other.cgi?x=1\\n\\n'"),
    "cookies.cgi": sh(
      "printf 'Content-Type: text/plain\\nSet-Cookie: a=1\\nSet-Cookie: b=2\\nCache-Control: no-store\\n\\n'",
    ),
  }, async (server) => {
    const away = await get(server, "/away.cgi");
    assertEquals(away.status, 302);
    assertEquals(away.headers.get("location"), "https://example.com/elsewhere");
    assertEquals(away.headers.get("x-extra"), "1");
    // a local path is a client redirect too (no internal redirect inside the server)
    const local = await get(server, "/local.cgi");
    assertEquals(local.status, 302);
    assertEquals(local.headers.get("location"), "/other.cgi?x=1");
    const cookies = await get(server, "/cookies.cgi");
    assertEquals(cookies.headers.getSetCookie(), ["a=1", "b=2"]);
    assertEquals(cookies.headers.get("cache-control"), "no-store");
  });
});

Deno.test("malformed output answers 500 with a plain-text body and logs an ERROR line", async () => {
  const big = "x".repeat(70 * 1024);
  await withCgi({
    "nohead.cgi": sh("echo 'just some text'"),
    "silent.cgi": sh("exit 0"),
    "unfinished.cgi": sh("printf 'Content-Type: text/plain\\n'"),
    "notype.cgi": sh("printf 'X-Only: 1\\n\\nbody'"),
    "huge.cgi": sh(`printf 'X-Big: ${big}\\n\\n'`),
  }, async (server) => {
    for (
      const [path, why] of [
        ["/nohead.cgi", /bogus header line: "just some text"/],
        ["/silent.cgi", /no headers/],
        ["/unfinished.cgi", /output ended inside the header block/],
        ["/notype.cgi", /missing required Content-Type/],
        ["/huge.cgi", /header block longer than 65536 bytes/],
      ] as const
    ) {
      const r = await get(server, path);
      assertEquals([r.status, r.text], [500, "500 Internal Server Error\n"], path);
      const line = await server.waitLog(new RegExp(`${path.replace(".", "\\.")}.*Malformed CGI`));
      assertMatch(line, /\| ERROR {2}\| cgi {8}\| /);
      assertMatch(line, why);
    }
  });
});

Deno.test("the script's stderr is logged line by line at ERROR in category stderr with the request's fields", async () => {
  await withCgi({
    "err.cgi": sh("echo 'first problem' >&2", TEXT_HEAD, "echo ok", "printf 'second\\r\\n' >&2"),
  }, async (server, root) => {
    const r = await get(server, "/err.cgi?q=1");
    assertEquals([r.status, r.text], [200, "ok\n"]);
    const first = await server.waitLog(/\| stderr {5}\| .*\| first problem$/);
    assertMatch(first, /\| ERROR {2}\| /);
    assertMatch(
      first,
      new RegExp(
        `url:'http://127\\.0\\.0\\.1:\\d+/err\\.cgi\\?q=1' .*cgiscript:'${root}/err\\.cgi' pid:'\\d+'`,
      ),
    );
    await server.waitLog(/\| stderr {5}\| .*\| second$/);
  });
});

Deno.test("no PATH_INFO: /env.cgi/extra falls through to 404", async () => {
  await withCgi({ "env.cgi": sh(TEXT_HEAD, "env") }, async (server) => {
    const r = await get(server, "/env.cgi/extra");
    assertEquals([r.status, r.text], [404, "404 page not found\n"]);
    const trailing = await get(server, "/env.cgi/");
    assertEquals(trailing.status, 404);
  });
});

Deno.test("scripts in subdirectories run; a directory itself is 404", async () => {
  await withCgi({ "sub/deeper/who.cgi": sh(TEXT_HEAD, 'echo "$SCRIPT_NAME $(pwd -P)"') }, async (
    server,
    root,
  ) => {
    const r = await get(server, "/sub/deeper/who.cgi");
    assertEquals([r.status, r.text], [200, `/sub/deeper/who.cgi ${root}/sub/deeper\n`]);
    assertEquals((await get(server, "/sub/deeper")).status, 404);
    assertEquals((await get(server, "/sub/deeper/")).status, 404);
  });
});

Deno.test("a symlink to a script outside the root is 404 and the script never runs; links inside work", async () => {
  const outside = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-cgi-outside-" }));
  const canary = `${outside}/canary-ran`;
  try {
    await writeFiles(outside, {
      "evil.cgi": sh(`touch '${canary}'`, TEXT_HEAD, "echo escaped"),
    });
    await withCgi({ "inside.cgi": sh(TEXT_HEAD, "echo inside") }, async (server, root) => {
      await Deno.symlink(`${outside}/evil.cgi`, `${root}/link-out.cgi`);
      await Deno.symlink(outside, `${root}/dir-out`);
      await Deno.symlink(`${root}/inside.cgi`, `${root}/link-in.cgi`);
      for (const path of ["/link-out.cgi", "/dir-out/evil.cgi"]) {
        const r = await get(server, path);
        assertEquals([r.status, r.text], [404, "404 page not found\n"], path);
      }
      const inside = await get(server, "/link-in.cgi");
      assertEquals([inside.status, inside.text], [200, "inside\n"]);
      await sleep(300);
      assertEquals(await Deno.stat(canary).then(() => true, () => false), false);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a backslash in the URL path is an ordinary file-name character", async () => {
  await withCgi({ "a\\b.cgi": sh(TEXT_HEAD, "echo backslash") }, async (server) => {
    const r = await get(server, "/a%5Cb.cgi");
    assertEquals([r.status, r.text], [200, "backslash\n"]);
    const up = await get(server, "/..%5C..%5Cetc%5Cpasswd");
    assertEquals(up.status, 404);
  });
});

Deno.test("a file without execute permission is 404, not run and not served", async () => {
  await withCgi({
    "data.cgi": { text: sh(TEXT_HEAD, "echo ran"), mode: 0o644 },
  }, async (server) => {
    const r = await get(server, "/data.cgi");
    assertEquals([r.status, r.text], [404, "404 page not found\n"]);
  });
});

Deno.test("a script that cannot start answers 500, logs why, and gives its --maxforks slot back", async () => {
  await withCgi({
    "broken.cgi": "#!/nonexistent/interpreter\n",
  }, async (server) => {
    for (let i = 0; i < 2; i++) {
      const r = await get(server, "/broken.cgi");
      assertEquals(
        [r.status, r.text],
        [500, "500 Internal Server Error\n"],
        `request ${i + 1} (not 429)`,
      );
    }
    // a request body must not cost the client its 500 (the connection stays intact)
    const post = await get(server, "/broken.cgi", { method: "POST", body: "x".repeat(100_000) });
    assertEquals([post.status, post.text], [500, "500 Internal Server Error\n"]);
    await server.waitLog(/\| ERROR {2}\| process {4}\| .*Could not launch CGI script/);
  }, { args: ["--maxforks=1"] });
});

Deno.test("--maxforks=1: a second request while a slow script runs gets 429, then 200 after it ends", async () => {
  await withCgi({
    "slow.cgi": sh("sleep 1.5", TEXT_HEAD, "echo slow"),
    "fast.cgi": sh(TEXT_HEAD, "echo fast"),
  }, async (server) => {
    const slow = get(server, "/slow.cgi");
    await server.waitLog(/slow\.cgi.*\| CGI$/);
    const busy = await get(server, "/fast.cgi");
    assertEquals([busy.status, busy.text], [429, "429 Too Many Requests\n"]);
    assertEquals((await slow).text, "slow\n");
    // the slot comes back once the script is reaped, a moment after its output ended
    let after = await get(server, "/fast.cgi");
    for (let i = 0; i < 40 && after.status === 429; i++) {
      await sleep(50);
      after = await get(server, "/fast.cgi");
    }
    assertEquals([after.status, after.text], [200, "fast\n"]);
  }, { args: ["--maxforks=1"] });
});

Deno.test("the body streams: the first line arrives while the script is still running", async () => {
  await withCgi({
    "stream.cgi": sh(TEXT_HEAD, "echo first", "sleep 1.5", "echo second"),
  }, async (server) => {
    const res = await fetch(server.http("/stream.cgi"));
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    let firstAt = 0;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      if (!firstAt && text.includes("first\n")) firstAt = Date.now();
    }
    const endAt = Date.now();
    assertEquals(text, "first\nsecond\n");
    assert(firstAt > 0);
    // the script sleeps 1.5 s between the lines; buffering would make both arrive together
    assert(endAt - firstAt >= 1000, `first line only ${endAt - firstAt} ms before the end`);
  });
});

Deno.test("a client that goes away mid-response stops the script and frees its slot", async () => {
  const m = marker();
  await withCgi({
    "forever.cgi": sh(TEXT_HEAD, `exec '${TESTPROG}' ${m} noread 0.05`),
    "fast.cgi": sh(TEXT_HEAD, "echo fast"),
  }, async (server) => {
    const ac = new AbortController();
    const res = await fetch(server.http("/forever.cgi"), { signal: ac.signal });
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    assertMatch(new TextDecoder().decode(value), /^tick 1\n/);
    assert((await waitNoProcesses(m, 0)).length > 0, "the script should be running");
    ac.abort();
    await reader.read().catch(() => {});
    assertEquals(await waitNoProcesses(m), []);
    let after = await get(server, "/fast.cgi");
    for (let i = 0; i < 40 && after.status === 429; i++) {
      await sleep(50);
      after = await get(server, "/fast.cgi");
    }
    assertEquals(after.status, 200);
  }, { args: ["--maxforks=1"] });
});

Deno.test("HEAD runs the script and sends its headers without a body", async () => {
  await withCgi({
    "head.cgi": sh(
      "echo ran >> ran.txt",
      "printf 'Content-Type: text/plain\\nX-Ran: yes\\n\\n'",
      "echo body that must not be sent",
    ),
  }, async (server, root) => {
    const r = await get(server, "/head.cgi", { method: "HEAD" });
    assertEquals([r.status, r.text], [200, ""]);
    assertEquals(r.headers.get("x-ran"), "yes");
    assertEquals(r.headers.get("content-type"), "text/plain");
    assertEquals(await Deno.readTextFile(`${root}/ran.txt`), "ran\n");
  });
});

Deno.test("a declared Content-Length is honoured: never more bytes than announced", async () => {
  await withCgi({
    "exact.cgi": sh("printf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhello'"),
    "long.cgi": sh("printf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nhello'"),
  }, async (server) => {
    const exact = await get(server, "/exact.cgi");
    assertEquals([exact.status, exact.headers.get("content-length"), exact.text], [
      200,
      "5",
      "hello",
    ]);
    const long = await get(server, "/long.cgi");
    assertEquals([long.status, long.text], [200, "hel"]);
    await server.waitLog(/long\.cgi.*wrote more than its declared Content-Length/);
  });
});
