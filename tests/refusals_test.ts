/**
 * Every refusal answers with websocketd's body text, as plain text, with the
 * `--header` and `--header-http` values.
 */

import { assertEquals, assertMatch } from "../testing/assert.ts";
import { rawRequest, upgradeRequest } from "../testing/load.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { marker, startServer, TESTPROG } from "../testing/server.ts";

Deno.test("refusals carry websocketd's body texts as plain text with the configured headers", async () => {
  const m = marker();
  const dir = await Deno.makeTempDir({ prefix: "wsd-refusals-" });
  await Deno.writeTextFile(`${dir}/tokens`, "robot:0123456789abcdef0123\n");
  await using server = await startServer([
    "--header=X-All: 1",
    "--header-http=X-Http: 2",
    "--maxforks=1",
    "--origin=good.example",
    `--bearer-token-file=${dir}/tokens`,
    TESTPROG,
    m,
    "echo",
  ]);
  const token = { Authorization: "Bearer 0123456789abcdef0123", Origin: "http://good.example" };
  try {
    const cases: [string, string, number, string][] = [
      ["no credentials", upgradeRequest("/"), 401, "401 Unauthorized\n"],
      [
        "bad method",
        upgradeRequest("/", token).replace("GET", "POST"),
        405,
        "405 Method Not Allowed\n",
      ],
      [
        "bad version",
        upgradeRequest("/", { ...token, "Sec-WebSocket-Version": "8" }),
        400,
        "400 Bad Request: unsupported Sec-WebSocket-Version (need 13)\n",
      ],
      [
        "bad origin",
        upgradeRequest("/", { ...token, Origin: "http://evil.example" }),
        403,
        "403 Forbidden: origin not allowed\n",
      ],
      [
        "no Host",
        upgradeRequest("/", token).replace("Host: 127.0.0.1\r\n", ""),
        400,
        "400 Bad Request: missing Host header\n",
      ],
      [
        "HTTP/2.0",
        upgradeRequest("/", token).replace("HTTP/1.1", "HTTP/2.0"),
        505,
        "505 HTTP Version Not Supported\n",
      ],
      [
        "not found",
        "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        404,
        "404 page not found\n",
      ],
      ["unparsable", "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, "400 Bad Request\n"],
    ];
    for (const [what, request, status, body] of cases) {
      const a = await rawRequest(server.port, request);
      assertEquals([a.status, a.text], [status, body], what);
      assertMatch(a.head, /\r\ncontent-type: text\/plain; charset=utf-8\r\n/i, what);
      assertMatch(a.head, /\r\nX-All: 1(\r\n|$)/i, what);
      assertMatch(a.head, /\r\nX-Http: 2(\r\n|$)/i, what);
    }
    // --maxforks=1 is taken by this session: the next handshake gets 429
    const held = await RawWs.connect(server.port, { headers: token });
    assertEquals(held.response.status, 101);
    const full = await rawRequest(server.port, upgradeRequest("/", token));
    assertEquals([full.status, full.text], [429, "429 Too Many Requests\n"]);
    await held.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--dir: a path with no script is 404 Not Found, websocketd's text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsd-refusals-dir-" });
  try {
    await using server = await startServer([`--dir=${dir}`]);
    const a = await rawRequest(server.port, upgradeRequest("/nope.sh"));
    assertEquals([a.status, a.text], [404, "404 Not Found\n"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
