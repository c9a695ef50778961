/**
 * Broadcast mode's timing and scale bounds, measured while nothing else
 * runs (`deno task test` runs this folder one test at a time):
 * - a client that stops reading is closed with 1008 once it lags
 *   `--broadcast-queue` bytes, while the program keeps its pace and the other
 *   clients get every line without a stall;
 * - SIGTERM with 1,000 subscribers: every one gets 1001, the server exits 0,
 *   no program is left.
 */

import { assert, assertBetween, assertEquals, assertMatch } from "../../testing/assert.ts";
import {
  descendants,
  leanSession,
  pidsWithArg,
  removeScriptDir,
  settle,
  startServerUlimit,
  tempScript,
  upgradeRequest,
} from "../../testing/load.ts";
import { writeAll } from "../../testing/wire.ts";
import { writePacer } from "../helpers/pacer.ts";
import { RawWs } from "../helpers/raw_ws.ts";
import { sleep, startServer } from "../../testing/server.ts";

const enc = new TextEncoder();

/** One fast client's view: sequence numbers, when each arrived, and when the program printed it. */
interface Seen {
  seq: number[];
  arrived: number[];
  printed: number[];
}

/** Reads `ws` until `stop()` says so; fails if it ends or stalls 5 s. */
async function readAll(ws: RawWs, stop: () => boolean): Promise<Seen> {
  const seen: Seen = { seq: [], arrived: [], printed: [] };
  while (!stop()) {
    const r = await ws.nextData(5000);
    if (r.type !== "text") throw new Error(`a fast client got ${JSON.stringify(r)}`);
    const sp1 = r.text.indexOf(" ");
    const sp2 = r.text.indexOf(" ", sp1 + 1);
    seen.seq.push(Number(r.text.slice(0, sp1)));
    seen.printed.push(Number(r.text.slice(sp1 + 1, sp2)) * 1000);
    seen.arrived.push(Date.now());
  }
  return seen;
}

const maxGap = (t: number[]) => t.slice(1).reduce((m, x, i) => Math.max(m, x - t[i]!), 0);

Deno.test("broadcast: a client that stops reading is closed with 1008 at --broadcast-queue; the program keeps its pace and two others get every line without a stall", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsd-broadcast-slow-" });
  const prog = await writePacer(`${dir}/pacer.pl`);
  const QUEUE = 256 * 1024;
  // 4 KB every 2 ms: 2 MB/s. The non-reader first fills the kernel's socket buffers (a few MB on
  // loopback), then our queue; past QUEUE bytes it is closed
  const server = await startServer([
    "--broadcast",
    `--broadcast-queue=${QUEUE}`,
    "--metrics=/metrics",
    prog,
    "2",
    "4000",
  ]);
  let slow: Deno.Conn | null = null;
  const fast: RawWs[] = [];
  try {
    fast.push(await RawWs.connect(server.port), await RawWs.connect(server.port));
    let done = false;
    const readers = fast.map((ws) => readAll(ws, () => done));
    slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(slow, enc.encode(upgradeRequest("/?slow")));
    const t0 = Date.now();
    const detected = await settle(
      () => server.metric("websocketd_broadcast_slow_clients_total"),
      (n) => n === 1,
      30000,
      20,
    );
    assertEquals(detected, 1, "the non-reading client was never closed");
    const detectedMs = Date.now() - t0;
    // what the slow client gets when it reads again: its backlog, then the close frame
    const reason = `too slow: more than ${QUEUE} bytes behind`;
    let tail = new Uint8Array(0);
    let total = 0;
    const buf = new Uint8Array(1 << 20);
    while (true) {
      const n = await slow.read(buf).catch(() => null);
      if (n === null) break;
      total += n;
      const next = new Uint8Array(Math.min(tail.length + n, 256));
      next.set(
        [...tail, ...buf.subarray(Math.max(0, n - 256), n)].slice(-next.length),
      );
      tail = next;
    }
    const close = [0x88, 2 + reason.length, 1008 >> 8, 1008 & 0xff, ...enc.encode(reason)];
    assertEquals([...tail.slice(-close.length)], close, "the slow client's last frame");
    // the others go on for 2 s more
    await sleep(2000);
    done = true;
    const seen = await Promise.all(readers);
    console.log(
      `slow client closed after ${detectedMs} ms (${(total / 1e6).toFixed(1)} MB in its buffers);`,
      `fast clients: ${seen.map((s) => s.seq.length)} lines, longest gaps`,
      `${seen.map((s) => maxGap(s.arrived))} ms; the program's longest pause ${
        maxGap(seen[0]!.printed).toFixed(0)
      } ms`,
    );
    for (const [i, s] of seen.entries()) {
      // every line, in order, from the first one this client saw
      const gaps = s.seq.filter((n, j) => j > 0 && n !== s.seq[j - 1]! + 1);
      assertEquals(gaps, [], `fast client ${i} missed lines`);
      assert(s.seq.length > 1000, `fast client ${i} got only ${s.seq.length} lines`);
      // 2 ms apart at the source; a client held up by the slow one would wait seconds
      assertBetween(maxGap(s.arrived), 0, 500, `fast client ${i}: longest gap between lines (ms)`);
      // the program printed at its pace the whole time: a blocked write() would show here
      assertBetween(maxGap(s.printed), 0, 500, "the program's longest pause between lines (ms)");
      const span = s.printed.at(-1)! - s.printed[0]!;
      assertBetween(s.seq.length, span / 2 * 0.9, span / 2 + 2, "lines per 2 ms of the span");
    }
    // the error line names the client that was closed, not the instance's first client
    const err = server.grep(/fell more than/);
    assertEquals(err.length, 1);
    assertMatch(err[0]!, /url:'http:\/\/127\.0\.0\.1\/\?slow'/);
    await server.waitLog(/\?slow'.*close:'1008'.*DISCONNECT/);
    assertEquals(await server.metric("websocketd_broadcast_clients"), 2);
  } finally {
    slow?.close();
    for (const ws of fast) await ws.drop();
    assertEquals((await server.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("broadcast: SIGTERM with 1,000 subscribers: every one gets 1001 'server shutting down', exit 0, no program left", async () => {
  const tag = `bcast${crypto.randomUUID().slice(0, 6)}`;
  const prog = await tempScript(
    tag,
    `i=1; while :; do echo "tick $i"; i=$((i + 1)); sleep 0.5; done`,
  );
  const server = await startServerUlimit([
    "--loglevel=error",
    "--broadcast",
    "--metrics=/metrics",
    prog,
  ]);
  const N = 1000;
  let stopped = false;
  try {
    const sessions: ReturnType<typeof leanSession>[] = [];
    // 100 at a time, each batch in before the next, so the listen backlog never overflows
    for (let i = 0; i < N; i += 100) {
      for (let j = 0; j < 100; j++) sessions.push(leanSession(server.port, { timeoutMs: 60000 }));
      const n = await settle(
        () => server.metric("websocketd_broadcast_clients"),
        (n) => n >= i + 100,
        20000,
        50,
      );
      assertEquals(n, i + 100, "subscribers joined");
    }
    assertEquals(await server.metric("websocketd_broadcast_instances"), 1);
    const programs = descendants(server.pid);
    assert(programs.length >= 1, "no program running");
    const t0 = Date.now();
    const status = await server.stop("SIGTERM", 20000);
    stopped = true;
    const ms = Date.now() - t0;
    const results = await Promise.all(sessions);
    const ends = new Map<string, number>();
    for (const r of results) {
      const k = `${r.status} ${r.closeCode} ${r.closeReason}${r.timedOut ? " timeout" : ""}`;
      ends.set(k, (ends.get(k) ?? 0) + 1);
    }
    console.log(`1,000 subscribers: server exited ${ms} ms after SIGTERM`);
    assertEquals([...ends], [["101 1001 server shutting down", N]]);
    assertEquals(status.code, 0);
    assert(ms < 15000, `shutdown took ${ms} ms`);
    assertEquals(pidsWithArg(tag), [], "the program survived the server");
    const alive = programs.filter((p) => {
      try {
        Deno.kill(p, "SIGCONT");
        return true;
      } catch {
        return false;
      }
    });
    assertEquals(alive, [], "a process of the program survived the server");
  } finally {
    if (!stopped) await server.stop("SIGTERM", 20000);
    await removeScriptDir(prog);
  }
});
