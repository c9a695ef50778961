/**
 * `--loglevel=debug` and `trace` log every step of a request and a session
 * in websocketd's line format, with the session's fields; `info` logs none
 * of them.
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { marker, startServer, TESTPROG, type TestServer } from "../testing/server.ts";

/** One plain request and one session (a line each way, then the client's close). */
async function scenario(server: TestServer, end: RegExp = /DISCONNECT$/): Promise<void> {
  const plain = await fetch(server.http("/nothing?x=1"));
  await plain.body?.cancel();
  const ws = await RawWs.connect(server.port, {
    path: "/?q=2",
    headers: { Authorization: "Basic c2VjcmV0OnNlY3JldA==" },
  });
  await ws.sendText("hello");
  assertEquals(await ws.text(), "hello");
  await ws.close();
  await server.waitLog(end);
}

/** The steps a debug log must show: [level, category, message pattern]. */
const STEPS: [string, string, RegExp][] = [
  ["TRACE", "http", /HTTP request: GET \/nothing\?x=1 HTTP\/1\.1$/],
  ["TRACE", "http", /not found: 404$/],
  ["TRACE", "http", /WebSocket handshake: GET \/\?q=2 HTTP\/1\.1$/],
  ["DEBUG", "env", /Std\. variable: QUERY_STRING=q=2$/],
  ["DEBUG", "env", /Parent envvar: PATH=/],
  ["DEBUG", "env", /Header variable: HTTP_AUTHORIZATION=\(hidden\)$/],
  ["TRACE", "process", /Process \d+ started: .*testprog\.sh wsdtest-\w+ echo$/],
  ["TRACE", "http", /websocket: 101 Switching Protocols$/],
  ["DEBUG", "process", /STDIN: 6 bytes$/],
  ["DEBUG", "process", /Process STDOUT: 6 bytes$/],
  ["TRACE", "websocket", /Connection closed: 1000 '' \(by peer\)$/],
  ["DEBUG", "process", /Process STDOUT closed$/],
  ["TRACE", "process", /Process \d+ ended \(exit 0\) after stdin was closed$/],
];

const line = (level: string, category: string) =>
  new RegExp(`\\| ${level.padEnd(6)} \\| ${category.padEnd(10)} \\| `);

Deno.test("--loglevel=debug logs every step of a request and a session with its fields", async () => {
  const m = marker();
  await using server = await startServer(["--loglevel=debug", TESTPROG, m, "echo"]);
  {
    await scenario(server);
    for (const [level, category, message] of STEPS) {
      const found = server.lines.filter((l) => line(level, category).test(l) && message.test(l));
      assert(
        found.length > 0,
        `no ${level} ${category} line matching ${message}:\n${server.lines.join("\n")}`,
      );
    }
    // session steps carry the session's fields, websocketd's way
    const ended = server.grep(/Process \d+ ended/)[0]!;
    assert(
      /url:'http:\/\/127\.0\.0\.1:\d+\/\?q=2' id:'\d+' remote:'127\.0\.0\.1' command:'.*testprog\.sh' origin:'file:' pid:'\d+'/
        .test(ended),
      ended,
    );
    assertEquals(server.grep(/c2VjcmV0/), [], "a credential reached the log");
  }
});

Deno.test("--loglevel=trace logs the steps but not the variables and traffic; info logs none", async () => {
  const m = marker();
  {
    await using trace = await startServer(["--loglevel=trace", TESTPROG, m, "echo"]);
    await scenario(trace);
    assert(trace.grep(/Process \d+ ended \(exit 0\)/).length === 1, trace.lines.join("\n"));
    assertEquals(trace.grep(/\| DEBUG {2}\|/), []);
  }
  {
    await using info = await startServer(["--loglevel=info", TESTPROG, m, "echo"]);
    // info shows no access lines: the session's end is the server's stop below
    await scenario(info, /Starting WebSocket server/);
    assertEquals(info.grep(/\| (DEBUG |TRACE ) \|/), []);
  }
});
