/**
 * Broadcast mode (`--broadcast`) against the real server and real programs:
 * whose environment the shared program gets, the same lines in the same
 * order for every client, the lifecycle (last client, linger, program exit),
 * replay for late joiners, input from several clients, read-only clients,
 * the caps, `--dir`, metrics and the access log, and the flag checks.
 *
 * Timing-heavy cases (a slow client among fast ones, 1,000 subscribers at
 * shutdown) are in tests/serial/broadcast_test.ts. Margins here are for a
 * busy 2-core machine running the suite in parallel.
 */

import { assert, assertBetween, assertEquals, assertMatch } from "../testing/assert.ts";
import {
  descendants,
  removeScriptDir,
  settle,
  tempScript,
  upgradeRequest,
} from "../testing/load.ts";
import { writeAll } from "../testing/wire.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import {
  marker,
  runCli,
  sleep,
  startServer,
  TESTPROG,
  type TestServer,
  waitNoProcesses,
} from "../testing/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The four broadcast figures, in a fixed order for one assertion. */
async function broadcastFigures(server: TestServer): Promise<Record<string, number | undefined>> {
  const m = await server.metrics();
  return {
    instances: m.get("websocketd_broadcast_instances"),
    clients: m.get("websocketd_broadcast_clients"),
    messages: m.get("websocketd_broadcast_messages_total"),
    slow: m.get("websocketd_broadcast_slow_clients_total"),
  };
}

/** Waits until the broadcast gauges read `instances` and `clients`. */
async function waitGauges(server: TestServer, instances: number, clients: number): Promise<void> {
  const got = await settle(
    () => broadcastFigures(server),
    (f) => f.instances === instances && f.clients === clients,
    10000,
    50,
  );
  assertEquals([got.instances, got.clients], [instances, clients], "broadcast gauges");
}

/** Text messages until `count` arrived (pings skipped); fails on a close or timeout first. */
async function texts(ws: RawWs, count: number, timeoutMs = 10000): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) out.push(await ws.text(timeoutMs));
  return out;
}

/** Asserts that nothing (but pings) arrives within `ms`. */
async function silent(ws: RawWs, ms: number, what: string): Promise<void> {
  try {
    const r = await ws.nextData(ms);
    throw new Error(`${what}: expected nothing, got ${JSON.stringify(r).slice(0, 200)}`);
  } catch (e) {
    if (!(e as Error).message.startsWith("nothing received")) throw e;
  }
}

/** A script in its own temp dir, and the server's programs all gone at the end. */
async function withServer(
  flags: string[],
  body: string,
  test: (server: TestServer, prog: string) => Promise<void>,
): Promise<void> {
  const prog = await tempScript(marker(), body);
  const server = await startServer(["--metrics=/metrics", ...flags, prog]);
  try {
    await test(server, prog);
    const left = await settle(() => descendants(server.pid), (d) => d.length === 0, 8000);
    assertEquals(left, [], "programs left");
    assertEquals(server.grep(/Uncaught|Unhandled|Session failed/), []);
  } finally {
    assertEquals((await server.stop()).code, 0);
    await removeScriptDir(prog);
  }
}

/**
 * A client that knows its own TCP port (to check REMOTE_PORT): handshake,
 * then short unfragmented text frames.
 */
class PortClient {
  readonly conn: Deno.Conn;
  #buf = new Uint8Array(0);
  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }
  static async open(port: number, path: string, headers: Record<string, string>) {
    const c = new PortClient(await Deno.connect({ hostname: "127.0.0.1", port }));
    await writeAll(c.conn, enc.encode(upgradeRequest(path, headers)));
    let end: number;
    while ((end = dec.decode(c.#buf).indexOf("\r\n\r\n")) < 0) await c.#fill();
    assertEquals(dec.decode(c.#buf.subarray(9, 12)), "101");
    c.#buf = c.#buf.slice(end + 4); // the head is ASCII: characters are bytes
    return c;
  }
  get localPort(): number {
    return (this.conn.localAddr as Deno.NetAddr).port;
  }
  async #fill(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error("connection ended");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }
  /** The next text message (under 126 bytes, as this test's are). */
  async text(): Promise<string> {
    while (true) {
      while (this.#buf.length < 2 || this.#buf.length < 2 + (this.#buf[1]! & 0x7f)) {
        await this.#fill();
      }
      const op = this.#buf[0]! & 0x0f;
      const len = this.#buf[1]! & 0x7f;
      const payload = this.#buf.slice(2, 2 + len);
      this.#buf = this.#buf.slice(2 + len);
      if (op === 0x1) return dec.decode(payload);
      if (op === 0x8) throw new Error(`closed: ${dec.decode(payload.subarray(2))}`);
    }
  }
  close(): void {
    this.conn.close();
  }
}

Deno.test("broadcast: the program runs with the FIRST client's CGI environment; a later client's is never seen", async () => {
  await withServer(
    ["--broadcast", "--broadcast-replay=1"],
    `echo "start port=$REMOTE_PORT q=$QUERY_STRING who=$HTTP_X_WHO"
while IFS= read -r l; do echo "$l port=$REMOTE_PORT q=$QUERY_STRING who=$HTTP_X_WHO"; done`,
    async (server) => {
      const a = await PortClient.open(server.port, "/?who=a", { "X-Who": "alice" });
      try {
        const first = `port=${a.localPort} q=who=a who=alice`;
        assertEquals(await a.text(), `start ${first}`);
        const b = await RawWs.connect(server.port, {
          path: "/?who=b",
          headers: { "X-Who": "bob" },
        });
        // the late joiner's replay is the line the program printed for the first client
        assertEquals(await b.text(), `start ${first}`);
        await b.sendText("from-b");
        assertEquals(await b.text(), `from-b ${first}`);
        assertEquals(await a.text(), `from-b ${first}`);
        await b.close();
      } finally {
        a.close();
      }
    },
  );
});

Deno.test("broadcast: three clients get the same 3,000 lines in the same order, the last one without newline, then 1000 exit 0", async () => {
  await withServer(
    ["--broadcast"],
    `echo ready
IFS= read -r _go
seq 1 3000 | sed 's/^/line /'
printf 'no newline at the end'`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      assertEquals(await a.text(), "ready");
      const b = await RawWs.connect(server.port);
      const c = await RawWs.connect(server.port);
      await a.sendText("go");
      const want = [
        ...Array.from({ length: 3000 }, (_, i) => `line ${i + 1}`),
        "no newline at the end",
      ];
      const [ra, rb, rc] = await Promise.all([
        a.collect(20000),
        b.collect(20000),
        c.collect(20000),
      ]);
      const exit0 = { type: "close" as const, code: 1000, reason: "exit 0" };
      assertEquals(ra.texts.length, want.length);
      assertEquals(ra, { texts: want, end: exit0 });
      assertEquals(rb, { texts: want, end: exit0 });
      assertEquals(rc, { texts: want, end: exit0 });
      await Promise.all([a.drop(), b.drop(), c.drop()]);
    },
  );
});

/** `NAME ms` events a trap-mode testprog wrote. */
async function events(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await Deno.readTextFile(file)).split("\n").filter(Boolean)) {
    const [name, ns] = line.split(" ");
    if (!out.has(name!)) out.set(name!, Number(BigInt(ns!) / 1_000_000n));
  }
  return out;
}

Deno.test("broadcast: the program outlives its first client; the last one leaving runs the stop ladder, nothing left", async () => {
  const m = marker();
  const file = await Deno.makeTempFile();
  const server = await startServer(["--broadcast", TESTPROG, m, "trap", file]);
  try {
    const a = await RawWs.connect(server.port);
    assertEquals(await a.text(), "ready");
    const b = await RawWs.connect(server.port);
    await a.close();
    await server.waitLog(/close:'1000'.*DISCONNECT/);
    await sleep(500);
    assertEquals(await Deno.readTextFile(file), "", "the program heard something while b stayed");
    const left = Date.now();
    await b.close();
    const end = await server.waitLog(/BROADCAST END/, 10000);
    assertMatch(end, /status:'signal SIGKILL'/);
    const ev = await events(file);
    // the program ignores INT and TERM (trap mode), so each rung of the ladder is seen, in order
    // (lifecycle_test.ts times the rungs; here the EOF stamp, taken by date(1) after read returns,
    // can be late by tens of ms while the parallel suite runs, so only the order is held to)
    assertBetween(ev.get("EOF")! - left, -50, 1000, "stdin EOF after the last client left (ms)");
    assertBetween(ev.get("INT")! - ev.get("EOF")!, 0, 800, "SIGINT after EOF (ms)");
    assertBetween(ev.get("TERM")! - ev.get("INT")!, 100, 1200, "SIGTERM after SIGINT (ms)");
    assertEquals(await waitNoProcesses(m), []);
  } finally {
    assertEquals((await server.stop()).code, 0);
    await Deno.remove(file);
  }
});

Deno.test("broadcast: --broadcast-linger=1500 keeps the same program for a client back within it; after it, a new one", async () => {
  await withServer(
    ["--broadcast", "--broadcast-linger=1500"],
    `echo "pid $$"
while IFS= read -r l; do echo "$$ $l"; done`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      const first = (await a.text()).replace("pid ", "");
      await a.close();
      await server.waitLog(/DISCONNECT/);
      await sleep(300);
      const b = await RawWs.connect(server.port);
      await b.sendText("back");
      assertEquals(
        await b.text(),
        `${first} back`,
        "a reload within the linger finds the same pid",
      );
      await b.close();
      const leftAt = Date.now();
      const end = await server.waitLog(/BROADCAST END/, 10000);
      assertMatch(end, /status:'exit 0'/);
      // the program exits on EOF at once: its end marks the linger's end
      assertBetween(Date.now() - leftAt, 1300, 4500, "program stopped after the last client (ms)");
      const c = await RawWs.connect(server.port);
      const second = (await c.text()).replace("pid ", "");
      assert(second !== first, `the same pid ${first} after the linger`);
      await c.close();
      assertEquals(server.grep(/BROADCAST START/).length, 2);
    },
  );
});

Deno.test("broadcast: the program's exit sends every client the rest (20,000 lines), then 1000 'exit 3'; the next client starts a fresh one", async () => {
  await withServer(
    ["--broadcast"],
    `echo "pid $$"
IFS= read -r _go
seq 1 20000
printf 'bye'
exit 3`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      const first = await a.text();
      const b = await RawWs.connect(server.port);
      await a.sendText("go");
      const rest = [...Array.from({ length: 20000 }, (_, i) => String(i + 1)), "bye"];
      const [ra, rb] = await Promise.all([a.collect(20000), b.collect(20000)]);
      const exit3 = { type: "close" as const, code: 1000, reason: "exit 3" };
      assertEquals(ra.texts.length, rest.length);
      assertEquals(ra, { texts: rest, end: exit3 });
      assertEquals(rb, { texts: rest, end: exit3 });
      await Promise.all([a.drop(), b.drop()]);
      const c = await RawWs.connect(server.port);
      const again = await c.text();
      assertMatch(again, /^pid \d+$/);
      assert(again !== first, `the exited program's pid came back: ${again}`);
      await c.close();
      await server.waitLog(/status:'exit 3'.*BROADCAST END/);
    },
  );
});

Deno.test("broadcast: --broadcast-replay=5: a late joiner gets exactly the last 5 messages, then the live ones", async () => {
  await withServer(
    ["--broadcast", "--broadcast-replay=5"],
    `seq 1 20 | sed 's/^/m/'
IFS= read -r l; echo "live $l"
IFS= read -r l`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      assertEquals(await texts(a, 20), Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
      const b = await RawWs.connect(server.port);
      assertEquals(await texts(b, 5), ["m16", "m17", "m18", "m19", "m20"]);
      await silent(b, 300, "after the replay");
      await a.sendText("x");
      assertEquals(await a.text(), "live x");
      assertEquals(await b.text(), "live x");
      await a.sendText("bye");
      const exit0 = { type: "close" as const, code: 1000, reason: "exit 0" };
      assertEquals(await a.collect(), { texts: [], end: exit0 });
      assertEquals(await b.collect(), { texts: [], end: exit0 });
      await Promise.all([a.drop(), b.drop()]);
    },
  );
});

Deno.test("broadcast: a client joining while a 200 KB line is in flight never gets part of it: it waits for the end, then the replay", async () => {
  await withServer(
    ["--broadcast", "--broadcast-replay=3"],
    `seq 1 5 | sed 's/^/m/'
head -c 200000 /dev/zero | tr '\\0' x
IFS= read -r _l
printf 'END\\nafter\\n'
IFS= read -r _l
echo live
IFS= read -r _l`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      assertEquals(await texts(a, 5), ["m1", "m2", "m3", "m4", "m5"]);
      // 200 KB without a newline: past 64 KiB it goes out as a first fragment at once
      await sleep(500);
      const b = await RawWs.connect(server.port);
      await silent(b, 300, "joined in the middle of a fragmented message");
      await a.sendText("go");
      const big = await a.nextData();
      assert(big.type === "text" && big.frames > 1, "the long line was not fragmented");
      assertEquals(big.type === "text" && big.text, "x".repeat(200000) + "END");
      assertEquals(await a.text(), "after");
      // the replay skips the >64 KiB line; "after" came in the same read as its end
      assertEquals(await texts(b, 3), ["m4", "m5", "after"]);
      await a.sendText("next");
      assertEquals(await a.text(), "live");
      assertEquals(await b.text(), "live");
      // every message b saw was whole: one unfragmented frame each, no stray continuation
      assertEquals(b.log.map((r) => r.type === "text" ? r.frames : r.type), [1, 1, 1, 1]);
      await a.sendText("end");
      assertEquals((await b.collect()).end, { type: "close", code: 1000, reason: "exit 0" });
      await a.collect();
      await Promise.all([a.drop(), b.drop()]);
    },
  );
});

Deno.test("broadcast: two clients sending 200 lines of 16 KB each at once: every line reaches stdin whole and in its sender's order", async () => {
  const N = 200;
  const LEN = 16000;
  // a line checker: whole lines of the right length and letter, each sender's numbers in order
  // (perl, not awk: mawk waits to fill its input buffer before it looks at a line)
  await withServer(
    ["--broadcast"],
    `perl -e '
$| = 1;
print "ready\\n";
my ($n, $len) = @ARGV;
my %next = (A => 0, B => 0);
my ($seen, $bad, $turns, $last) = (0, 0, 0, "");
while (my $l = <STDIN>) {
  chomp $l;
  $turns++ if substr($l, 0, 1) ne $last;
  $last = substr($l, 0, 1);
  if (length($l) == $len && $l =~ /^([AB])(\\d+):(a+|b+)$/ && lc($1) eq substr($3, 0, 1)
      && $2 == $next{$1}) { $next{$1}++ } else { $bad++ }
  print "seen $seen A $next{A} B $next{B} bad $bad\\n", "turns $turns\\n" if ++$seen == 2 * $n;
}' ${N} ${LEN}`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      assertEquals(await a.text(), "ready");
      const b = await RawWs.connect(server.port);
      const lines = (who: string) =>
        Array.from({ length: N }, (_, i) => {
          const head = `${who}${i}:`;
          return head + who.toLowerCase().repeat(LEN - head.length);
        });
      // each client's 200 frames in one 3.2 MB write, both at once: the server reads them in
      // many chunks from both sockets, interleaved
      const frames = (ws: RawWs, who: string) => {
        const parts = lines(who).map((l) => enc.encode(l));
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length + 8, 0));
        let at = 0;
        for (const p of parts) {
          const f = maskedText(p);
          all.set(f, at);
          at += f.length;
        }
        return ws.send(all.subarray(0, at));
      };
      await Promise.all([frames(a, "A"), frames(b, "B")]);
      const want = `seen ${2 * N} A ${N} B ${N} bad 0`;
      assertEquals(await a.text(20000), want);
      assertEquals(await b.text(20000), want);
      // how often stdin switched from one sender's lines to the other's
      const turns = Number((await a.text()).split(" ")[1]);
      assertEquals(await b.text(), `turns ${turns}`);
      console.log(`stdin switched senders ${turns - 1} times`);
      assert(turns - 1 >= 1, "the two senders' lines never mixed: nothing was tested");
      await Promise.all([a.close(), b.close()]);
    },
  );
});

/** A masked client text frame (all-zero mask) for payloads under 64 KiB. */
function maskedText(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | 126;
  out[2] = payload.length >> 8;
  out[3] = payload.length & 0xff;
  out.set(payload, 8);
  return out;
}

Deno.test("broadcast: --broadcast-input=none closes a client that sends with 1003 'read-only…'; the others keep receiving", async () => {
  await withServer(
    ["--broadcast", "--broadcast-input=none"],
    `i=1; while :; do echo "tick $i"; i=$((i + 1)); sleep 0.05; done`,
    async (server) => {
      const a = await RawWs.connect(server.port);
      const b = await RawWs.connect(server.port);
      const firstB = Number((await b.text()).split(" ")[1]);
      await a.sendText("hello?");
      const ra = await a.collect();
      assertEquals(ra.end, {
        type: "close",
        code: 1003,
        reason: "read-only: this broadcast takes no input",
      });
      await a.drop();
      // b goes on with the same program: the next ten ticks, without a gap
      const seen: number[] = [];
      const after = Number(ra.texts.at(-1)?.split(" ")[1] ?? firstB);
      while (seen.length === 0 || seen.at(-1)! < after + 10) {
        seen.push(Number((await b.text()).split(" ")[1]));
      }
      assertEquals(seen, Array.from({ length: seen.length }, (_, i) => firstB + 1 + i));
      assertEquals(server.grep(/BROADCAST START/).length, 1);
      assertMatch(server.grep(/close:'1003'.*DISCONNECT/)[0] ?? "", /close:'1003'/);
      await b.close();
    },
  );
});

/** Handshake status and body of one upgrade attempt; 101 connections stay open in `keep`. */
async function attempt(port: number, path: string, keep: Deno.Conn[]) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, enc.encode(upgradeRequest(path)));
  let text = "";
  const buf = new Uint8Array(4096);
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  const status = Number(text.slice(9, 12));
  if (status !== 101) {
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
    conn.close();
  } else keep.push(conn);
  return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

Deno.test("broadcast: --broadcast-clients=2: the 3rd client gets 429 with a body, also when 6 arrive at once; a freed place is taken again", async () => {
  await withServer(
    ["--broadcast", "--broadcast-clients=2", "--broadcast-replay=1"],
    `echo "pid $$"; cat`,
    async (server) => {
      const keep: Deno.Conn[] = [];
      try {
        // six first clients at once, while the program is still being started
        const burst = await Promise.all(
          Array.from({ length: 6 }, () => attempt(server.port, "/", keep)),
        );
        assertEquals(burst.map((r) => r.status).sort(), [101, 101, 429, 429, 429, 429]);
        for (const r of burst.filter((r) => r.status === 429)) {
          assertEquals(
            r.body,
            "429 Too Many Requests: this broadcast has as many clients as it takes\n",
          );
        }
        await waitGauges(server, 1, 2);
        keep.shift()!.close();
        await waitGauges(server, 1, 1);
        const again = await RawWs.connect(server.port);
        assertEquals(again.response.status, 101);
        assertMatch(await again.text(), /^pid \d+$/);
        const full = await RawWs.connect(server.port);
        assertEquals(full.response.status, 429);
        await full.drop();
        await again.close();
      } finally {
        for (const c of keep) c.close();
      }
      assertEquals(server.grep(/BROADCAST START/).length, 1);
    },
  );
});

Deno.test("broadcast: --broadcast-total=2 across --dir routes: the 3rd client anywhere gets 429, also in a burst; a freed place is reused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsd-broadcast-total-" });
  for (const name of ["a.sh", "b.sh"]) {
    await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\necho "$SCRIPT_NAME $$"\nexec cat\n`);
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const server = await startServer([
    "--broadcast",
    "--broadcast-total=2",
    "--metrics=/metrics",
    `--dir=${dir}`,
  ]);
  const keep: Deno.Conn[] = [];
  try {
    const burst = await Promise.all(
      ["/a.sh", "/b.sh", "/a.sh", "/b.sh", "/a.sh", "/b.sh"].map((p) =>
        attempt(server.port, p, keep)
      ),
    );
    assertEquals(burst.filter((r) => r.status === 101).length, 2, JSON.stringify(burst));
    assertEquals(burst.filter((r) => r.status === 429).length, 4);
    for (const c of keep.splice(0)) c.close();
    await waitGauges(server, 0, 0);
    const a = await RawWs.connect(server.port, { path: "/a.sh" });
    const b = await RawWs.connect(server.port, { path: "/b.sh" });
    assertMatch(await a.text(), /^\/a\.sh \d+$/);
    assertMatch(await b.text(), /^\/b\.sh \d+$/);
    const third = await RawWs.connect(server.port, { path: "/a.sh" });
    assertEquals([third.response.status, third.response.body], [
      429,
      "429 Too Many Requests: this broadcast has as many clients as it takes\n",
    ]);
    await third.drop();
    await b.close();
    const reused = await settle(
      async () => {
        const ws = await RawWs.connect(server.port, { path: "/b.sh" });
        if (ws.response.status !== 101) await ws.drop();
        return ws;
      },
      (ws) => ws.response.status === 101,
      5000,
    );
    assertEquals(reused.response.status, 101);
    await Promise.all([a.close(), reused.close()]);
  } finally {
    for (const c of keep) c.close();
    assertEquals((await server.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("broadcast: a program that cannot start gets 1011 and gives its fork slot back (--maxforks=1)", async () => {
  const prog = await tempScript(marker(), `echo "hi $$"; exec cat`);
  const server = await startServer(["--broadcast", "--maxforks=1", prog]);
  try {
    await Deno.chmod(prog, 0o644);
    for (let i = 0; i < 3; i++) {
      const ws = await RawWs.connect(server.port);
      assertEquals(ws.response.status, 101);
      const end = await ws.nextData();
      assertEquals(end.type === "close" && end.code, 1011);
      await ws.drop();
    }
    await Deno.chmod(prog, 0o755);
    const ok = await RawWs.connect(server.port);
    assertEquals(ok.response.status, 101, "the failed starts kept the only fork slot");
    assertMatch(await ok.text(), /^hi \d+$/);
    await ok.close();
  } finally {
    assertEquals((await server.stop()).code, 0);
    await removeScriptDir(prog);
  }
});

Deno.test("broadcast with --dir: each script path is its own instance; a PATH_INFO below it joins the script's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsd-broadcast-dir-" });
  for (const name of ["a.sh", "b.sh"]) {
    await Deno.writeTextFile(
      `${dir}/${name}`,
      `#!/bin/sh\necho "$SCRIPT_NAME pid $$ info $PATH_INFO"\nexec cat\n`,
    );
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const server = await startServer([
    "--broadcast",
    "--broadcast-replay=1",
    "--metrics=/metrics",
    `--dir=${dir}`,
  ]);
  try {
    const a1 = await RawWs.connect(server.port, { path: "/a.sh" });
    const aLine = await a1.text();
    assertMatch(aLine, /^\/a\.sh pid \d+ info $/);
    const a2 = await RawWs.connect(server.port, { path: "/a.sh/extra" });
    assertEquals(await a2.text(), aLine, "the first client's PATH_INFO, the same pid");
    const b1 = await RawWs.connect(server.port, { path: "/b.sh" });
    const bLine = await b1.text();
    assertMatch(bLine, /^\/b\.sh pid \d+ info $/);
    assert(aLine.split(" ")[2] !== bLine.split(" ")[2], "two scripts, one pid");
    await waitGauges(server, 2, 3);
    await a2.sendText("to a");
    assertEquals(await a1.text(), "to a");
    assertEquals(await a2.text(), "to a");
    await silent(b1, 300, "b.sh's client");
    await Promise.all([a1.close(), a2.close(), b1.close()]);
    await waitGauges(server, 0, 0);
  } finally {
    assertEquals((await server.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("broadcast: metrics are exact after a scenario, and the access log has CONNECT/DISCONNECT per client with the pid", async () => {
  await withServer(
    ["--broadcast", "--broadcast-replay=2"],
    `echo one; echo two; echo three; exec cat`,
    async (server) => {
      assertEquals(await broadcastFigures(server), {
        instances: 0,
        clients: 0,
        messages: 0,
        slow: 0,
      });
      const a = await RawWs.connect(server.port);
      assertEquals(await texts(a, 3), ["one", "two", "three"]); // 3 sent
      const b = await RawWs.connect(server.port);
      assertEquals(await texts(b, 2), ["two", "three"]); // 2 replayed
      await b.sendText("four"); // 2 more: one to each
      assertEquals(await a.text(), "four");
      assertEquals(await b.text(), "four");
      assertEquals(await broadcastFigures(server), {
        instances: 1,
        clients: 2,
        messages: 7,
        slow: 0,
      });
      await a.close();
      await b.close();
      await server.waitLog(/BROADCAST END/);
      assertEquals(await broadcastFigures(server), {
        instances: 0,
        clients: 0,
        messages: 7,
        slow: 0,
      });
      const start = server.grep(/BROADCAST START/);
      assertEquals(start.length, 1);
      const pid = /pid:'(\d+)'/.exec(start[0]!)![1];
      const connects = server.grep(/\| CONNECT$/);
      const disconnects = server.grep(/\| DISCONNECT$/);
      assertEquals(connects.length, 2);
      assertEquals(disconnects.length, 2);
      for (const line of [...connects, ...disconnects]) {
        assertMatch(line, new RegExp(`pid:'${pid}'`));
      }
      for (const line of disconnects) assertMatch(line, /close:'1000' duration:'\d+ms'/);
      // two clients, two request ids, each connecting and disconnecting once
      const ids = (lines: string[]) => lines.map((l) => /id:'(\d+)'/.exec(l)![1]).sort();
      assertEquals(ids(connects), ids(disconnects));
      assert(ids(connects)[0] !== ids(connects)[1]);
    },
  );
});

Deno.test("broadcast flags: settings without --broadcast, a bad --broadcast-input, --broadcast with only --staticdir → exit 1 with a message", async () => {
  const cases: [string[], string][] = [
    [["--broadcast-replay=3", TESTPROG], "--broadcast-replay needs --broadcast."],
    [["--broadcast-linger=10", TESTPROG], "--broadcast-linger needs --broadcast."],
    [["--broadcast-input=none", TESTPROG], "--broadcast-input needs --broadcast."],
    [
      ["--broadcast", "--broadcast-input=bogus", TESTPROG],
      "--broadcast-input must be all or none, got 'bogus'.",
    ],
    [
      ["--broadcast", "--staticdir=examples"],
      "--broadcast needs a COMMAND or --dir (programs to share).",
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["--port=0", ...args]);
    assertEquals([r.code, r.stderr.trim()], [1, message], args.join(" "));
  }
});

Deno.test("examples/dashboard with its documented flags: the page is served, stats.sh sends JSON samples, a late page gets them replayed", async () => {
  const server = await startServer([
    "--broadcast",
    "--broadcast-replay=60",
    "--broadcast-linger=5000",
    "--broadcast-input=none",
    "--staticdir=examples/dashboard",
    "examples/dashboard/stats.sh",
  ]);
  try {
    const page = await fetch(server.http("/"));
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /<title>Machine dashboard<\/title>/);
    const a = await RawWs.connect(server.port);
    const [first, second] = (await texts(a, 2, 8000)).map((t) => JSON.parse(t));
    assertEquals(Object.keys(first), [
      "time",
      "procs",
      "memory_kb",
      "cpu_pct",
      "per_second",
      "load",
    ]);
    assert(second.time > first.time, "samples a second apart");
    const cpu = first.cpu_pct;
    assertBetween(cpu.user + cpu.system + cpu.idle + cpu.iowait + cpu.steal, 95, 100, "CPU %");
    assert(first.memory_kb.total > first.memory_kb.available, JSON.stringify(first.memory_kb));
    assertEquals(first.load.length, 3);
    // a page opened now draws the samples so far at once, then goes on live
    const b = await RawWs.connect(server.port);
    const replayed = await texts(b, 2);
    assertEquals(replayed.map((t) => JSON.parse(t).time), [first.time, second.time]);
    // read-only: a page's message closes that page only
    await b.sendText("hello");
    assertEquals((await b.collect()).end, {
      type: "close",
      code: 1003,
      reason: "read-only: this broadcast takes no input",
    });
    await b.drop();
    await a.close();
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});
