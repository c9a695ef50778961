/**
 * Process lifecycle: the stop ladder and its timings, process groups,
 * server shutdown, and the limits (maxforks, maxframesize, pingms, stalls,
 * backpressure). Timings carry wide margins: CI machines have 2 busy cores.
 */

import { assert, assertBetween, assertEquals } from "../testing/assert.ts";
import { clientFrame, RawWs } from "./helpers/raw_ws.ts";
import { marker, sleep, startServer, TESTPROG, waitNoProcesses } from "../testing/server.ts";

async function readEvents(file: string): Promise<Map<string, number[]>> {
  const events = new Map<string, number[]>();
  for (const line of (await Deno.readTextFile(file)).split("\n").filter(Boolean)) {
    const [name, ns] = line.split(" ");
    events.set(name!, [...(events.get(name!) ?? []), Number(BigInt(ns!) / 1_000_000n)]);
  }
  return events;
}

async function ladder(extraArgs: string[]) {
  const m = marker();
  const file = await Deno.makeTempFile();
  try {
    await using server = await startServer([...extraArgs, TESTPROG, m, "trap", file]);
    const ws = await RawWs.connect(server.port);
    assertEquals(await ws.text(), "ready");
    const closedAt = Date.now();
    await ws.sendClose(1000);
    assertEquals(await ws.nextData(), { type: "close", code: 1000, reason: "" });
    // the close handshake is not held hostage by a stubborn program
    assert(await ws.waitEof(1000), "TCP not ended promptly after the close handshake");
    await ws.drop();
    await server.waitLog(/status:'signal SIGKILL'.*DISCONNECT/, 10000);
    const ev = await readEvents(file);
    assertEquals(await waitNoProcesses(m), []);
    return { ev, closedAt };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("client leaves: stdin EOF, SIGINT after ~100 ms, SIGTERM after ~250 ms more, then SIGKILL", async () => {
  const { ev, closedAt } = await ladder([]);
  const eof = ev.get("EOF")![0]!;
  const int = ev.get("INT")![0]!;
  const term = ev.get("TERM")![0]!;
  assertBetween(eof - closedAt, -50, 300, "EOF after close frame (ms)");
  assertBetween(int - eof, 80, 400, "SIGINT after EOF (ms)");
  assertBetween(term - int, 180, 700, "SIGTERM after SIGINT (ms)");
});

Deno.test("--closems=300 adds 300 ms to each wait of the ladder", async () => {
  const { ev } = await ladder(["--closems=300"]);
  const eof = ev.get("EOF")![0]!;
  const int = ev.get("INT")![0]!;
  const term = ev.get("TERM")![0]!;
  // the program stamps EOF by running date(1) after read returns, so under load the stamp can be
  // late by tens of ms; 330 still tells 400 (closems applied) from 100 (not applied)
  assertBetween(int - eof, 330, 800, "SIGINT after EOF (ms)");
  assertBetween(term - int, 520, 1000, "SIGTERM after SIGINT (ms)");
});

Deno.test("client TCP drop without a close frame runs the same ladder", async () => {
  const m = marker();
  const file = await Deno.makeTempFile();
  try {
    await using server = await startServer([TESTPROG, m, "trap", file]);
    const ws = await RawWs.connect(server.port);
    assertEquals(await ws.text(), "ready");
    await ws.drop();
    await server.waitLog(/close:'1006'.*DISCONNECT/, 10000);
    const ev = await readEvents(file);
    assert(ev.has("EOF") && ev.has("INT") && ev.has("TERM"), JSON.stringify([...ev]));
  } finally {
    await Deno.remove(file);
  }
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("grandchildren die with the session (process group signalled)", async () => {
  const m = marker();
  const pidFile = await Deno.makeTempFile();
  try {
    await using server = await startServer([TESTPROG, m, "grandchild", pidFile]);
    const ws = await RawWs.connect(server.port);
    assertEquals(await ws.text(), "ready");
    const grandchild = Number((await Deno.readTextFile(pidFile)).trim());
    assert(grandchild > 0);
    await ws.close();
    assertEquals(await waitNoProcesses(m, 5000), []);
  } finally {
    await Deno.remove(pidFile);
  }
});

Deno.test("a program that closes stdout but keeps running is stopped; its last line arrives first", async () => {
  const m = marker();
  const file = await Deno.makeTempFile();
  try {
    await using server = await startServer([TESTPROG, m, "closeout", file]);
    const ws = await RawWs.connect(server.port);
    const { texts, end } = await ws.collect(10000);
    assertEquals(texts, ["before-close"]);
    assertEquals(end, { type: "close", code: 1000, reason: "signal SIGKILL" });
    await ws.drop();
    const ev = await readEvents(file);
    assert(ev.has("INT") && ev.has("TERM"));
  } finally {
    await Deno.remove(file);
  }
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("a background job holding stdout keeps the session open until it exits", async () => {
  const m = marker();
  {
    await using server = await startServer([TESTPROG, m, "bgstdout", "1"]);
    const ws = await RawWs.connect(server.port);
    const t0 = Date.now();
    assertEquals(await ws.text(), "started");
    const end = await ws.nextData(5000);
    assertEquals(end, { type: "close", code: 1000, reason: "exit 0" });
    assertBetween(Date.now() - t0, 800, 3000, "session length (ms)");
    await ws.drop();
  }
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("SIGTERM to the server closes sessions with 1001, stops every program and grandchild, exits 0", async () => {
  const m = marker();
  const pidFile = await Deno.makeTempFile();
  const server = await startServer([TESTPROG, m, "grandchild", pidFile]);
  const clients: RawWs[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const ws = await RawWs.connect(server.port);
      assertEquals(await ws.text(), "ready");
      clients.push(ws);
    }
    const t0 = Date.now();
    const status = await server.stop("SIGTERM");
    assertEquals(status.code, 0);
    assert(Date.now() - t0 < 5000, "shutdown took too long");
    for (const ws of clients) {
      assertEquals(await ws.nextData(), {
        type: "close",
        code: 1001,
        reason: "server shutting down",
      });
    }
    assertEquals(await waitNoProcesses(m, 3000), []);
  } finally {
    for (const ws of clients) await ws.drop();
    await Deno.remove(pidFile);
  }
});

Deno.test("with a scoped --allow-run only the pid is signalled, and the server says so", async () => {
  const m = marker();
  {
    await using server = await startServer([TESTPROG, m, "echo"], {
      perms: ["--allow-net=127.0.0.1", `--allow-run=${TESTPROG}`, "--allow-read", "--allow-env"],
    });
    await server.waitLog(/Signals reach each program's pid only/);
    const ws = await RawWs.connect(server.port);
    await ws.sendText("scoped");
    assertEquals(await ws.text(), "scoped");
    await ws.close();
  }
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("--maxforks: a full server answers 429, plain HTTP still 404, a freed slot is reusable", async () => {
  const m = marker();
  await using server = await startServer(["--maxforks=1", TESTPROG, m, "echo"]);
  const first = await RawWs.connect(server.port);
  assertEquals(first.response.status, 101);
  const second = await RawWs.connect(server.port);
  assertEquals(second.response.status, 429);
  assertEquals(second.response.body, "429 Too Many Requests\n");
  await second.drop();
  const plain = await fetch(server.http("/"));
  assertEquals([plain.status, await plain.text()], [404, "404 page not found\n"]);
  await first.close();
  let third: RawWs | null = null;
  for (let i = 0; i < 50; i++) {
    third = await RawWs.connect(server.port);
    if (third.response.status === 101) break;
    await third.drop();
    await sleep(50);
  }
  assertEquals(third!.response.status, 101);
  await third!.close();
});

Deno.test("--maxframesize: a message of exactly the limit passes, one byte more closes 1009", async () => {
  const m = marker();
  await using server = await startServer(["--maxframesize=1024", TESTPROG, m, "echo"]);
  const ws = await RawWs.connect(server.port);
  await ws.sendText("a".repeat(1024));
  assertEquals((await ws.text()).length, 1024);
  await ws.sendText("b".repeat(1025));
  const end = await ws.nextData();
  assertEquals(end.type === "close" && end.code, 1009);
  await ws.drop();
  // fragments count together
  const ws2 = await RawWs.connect(server.port);
  const part = new TextEncoder().encode("c".repeat(600));
  await ws2.send(clientFrame(0x1, part, { fin: false }));
  await ws2.send(clientFrame(0x0, part, { fin: true }));
  const end2 = await ws2.nextData();
  assertEquals(end2.type === "close" && end2.code, 1009);
  await ws2.drop();
});

Deno.test("--pingms: pings every interval; a silent peer is dropped, an answering one stays", async () => {
  const m = marker();
  await using server = await startServer(["--pingms=500", TESTPROG, m, "echo"]);
  const silent = await RawWs.connect(server.port);
  const t0 = Date.now();
  let pings = 0;
  while (true) {
    const r = await silent.next(3000);
    if (r.type === "ping") pings++;
    else {
      assert(r.type === "close" || r.type === "eof", JSON.stringify(r));
      break;
    }
  }
  assertBetween(Date.now() - t0, 950, 2500, "dead peer detected after (ms)");
  assert(pings >= 1);
  await silent.drop();

  const alive = await RawWs.connect(server.port);
  const until = Date.now() + 2500;
  let answered = 0;
  while (Date.now() < until) {
    const r = await alive.next(2000);
    assertEquals(r.type, "ping");
    await alive.send(clientFrame(0xa, new Uint8Array(0)));
    answered++;
  }
  assert(answered >= 3, `only ${answered} pings in 2.5 s`);
  await alive.sendText("still here");
  assertEquals(await alive.text(), "still here");
  await alive.close();
});

Deno.test("no pings at all without --pingms", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "echo"]);
  const ws = await RawWs.connect(server.port);
  let got = "nothing";
  try {
    got = JSON.stringify(await ws.next(1500));
  } catch { /* nothing arrived: expected */ }
  assertEquals(got, "nothing");
  await ws.close();
});

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

Deno.test("a client that stops reading blocks the program, not the server's memory", async () => {
  await using server = await startServer(["yes", "0123456789abcdef0123456789abcdef"]);
  const ws = await RawWs.connect(server.port);
  await sleep(500);
  const before = rssKiB(server.pid);
  // we read nothing for 2 s while `yes` writes as fast as it can
  await sleep(2000);
  const after = rssKiB(server.pid);
  assert(after - before < 64 * 1024, `server RSS grew by ${after - before} KiB`);
  await ws.drop();
});

Deno.test("a program that never reads stdin: output keeps flowing, input is bounded, then close 1008", async () => {
  const m = marker();
  {
    await using server = await startServer(["--stallms=1500", TESTPROG, m, "noread", "0.1"]);
    const ws = await RawWs.connect(server.port);
    assertEquals(await ws.text(), "tick 1");
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    // 8 MiB: far more than the pipe and our 1 MiB inbound bound; the writes block
    const flood = (async () => {
      for (let i = 0; i < 128; i++) await ws.sendBinary(chunk);
    })().catch(() => {});
    const before = rssKiB(server.pid);
    let ticks = 1;
    let end: unknown = null;
    const t0 = Date.now();
    while (end === null) {
      const r = await ws.nextData(5000);
      if (r.type === "text") ticks++;
      else end = r;
    }
    assertEquals(end, { type: "close", code: 1008, reason: "program is not reading its input" });
    assertBetween(Date.now() - t0, 1000, 4000, "stall detected after (ms)");
    assert(ticks >= 5, `output stopped while input was blocked (${ticks} ticks)`);
    assert(rssKiB(server.pid) - before < 32 * 1024, "server buffered the flood");
    await ws.drop();
    await flood;
    await server.waitLog(/has not read its input/);
  }
  assertEquals(await waitNoProcesses(m), []);
});

Deno.test("a program that closes its stdin keeps sending; lost input is logged, not silent", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "closein", "15"]);
  const ws = await RawWs.connect(server.port);
  assertEquals(await ws.text(), "tick 1");
  await sleep(200);
  await ws.sendText("nobody reads this");
  const { texts, end } = await ws.collect(10000);
  assertEquals(texts.at(-1), "tick 15");
  assertEquals(end, { type: "close", code: 1000, reason: "exit 0" });
  await ws.drop();
  await server.waitLog(/Program closed its stdin/);
});

Deno.test("a session exception or bad peer never takes the server down", async () => {
  const m = marker();
  await using server = await startServer([TESTPROG, m, "echo"]);
  // unmasked frame → 1002, the server stays up
  const bad = await RawWs.connect(server.port);
  await bad.send(clientFrame(0x1, new TextEncoder().encode("x"), { mask: false }));
  const end = await bad.nextData();
  assertEquals(end.type === "close" && end.code, 1002);
  await bad.drop();
  const good = await RawWs.connect(server.port);
  await good.sendText("fine");
  assertEquals(await good.text(), "fine");
  await good.close();
});
