/**
 * Load at CI sizes (scripts/soak.ts runs the same at soak sizes; the leak
 * and memory bounds are measured in tests/serial/): a burst past --maxforks
 * serves exactly the limit and refuses the rest with 429;
 * SIGTERM under 500 live sessions stops every program and process group
 * and exits 0; 1,000 sessions printing 1,000 numbered lines each lose
 * nothing.
 *
 * The tests in this file run one after another (never in parallel with
 * each other) and each keeps well under a minute on 2 cores.
 */

import { assert, assertBetween, assertEquals } from "../testing/assert.ts";
import {
  descendants,
  leanSession,
  pool,
  removeScriptDir,
  settle,
  startServerUlimit,
  stubbornFleet,
  tempScript,
  upgradeRequest,
} from "../testing/load.ts";
import { sleep } from "../testing/server.ts";
import { writeAll } from "../testing/wire.ts";

const enc = new TextEncoder();

Deno.test("hostile load: a burst of 60 past --maxforks=20 serves exactly 20, refuses 40 with 429, and recovers", async () => {
  const prog = await tempScript("maxforks", "exec cat");
  const held: Deno.Conn[] = [];
  try {
    await using server = await startServerUlimit(["--maxforks=20", prog]);
    try {
      /** Opens a handshake and keeps the connection; resolves with its status. */
      const open = async (): Promise<number> => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        await writeAll(conn, enc.encode(upgradeRequest("/")));
        const buf = new Uint8Array(4096);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        const status = Number(text.slice(9, 12));
        if (status === 101) held.push(conn);
        else conn.close();
        return status;
      };
      for (let round = 0; round < 3; round++) {
        const statuses = await Promise.all(Array.from({ length: 60 }, open));
        const count = (s: number) => statuses.filter((x) => x === s).length;
        assertEquals([count(101), count(429)], [20, 40], `round ${round}`);
        assertEquals(descendants(server.pid).length, 20);
        // release everything; the slots must all come back
        for (const c of held.splice(0)) c.close();
        await settle(() => descendants(server.pid), (d) => d.length === 0, 8000);
        await sleep(200);
      }
      const r = await leanSession(server.port, { send: ["after"], closeAfter: 1 });
      assertEquals([r.status, r.messages], [101, 1]);
    } finally {
      for (const c of held) c.close();
    }
  } finally {
    await removeScriptDir(prog);
  }
});

Deno.test("hostile load: SIGTERM with 500 live sessions (some stubborn, all with grandchildren) → everything gone, exit 0", async () => {
  const tag = `shutdown${crypto.randomUUID().slice(0, 6)}`;
  const { server, prog, conns } = await stubbornFleet(tag, 500);
  try {
    const before = descendants(server.pid).length;
    assert(before >= 1000, `only ${before} processes for 500 sessions`);
    const t0 = Date.now();
    const status = await server.stop("SIGTERM", 30000);
    const ms = Date.now() - t0;
    assertEquals(status.code, 0);
    // the server exits only after every program is reaped: nothing may be left
    const left = await settle(() => pidsOf(tag), (l) => l.length === 0, 3000);
    assertEquals(left, [], "processes survived the shutdown");
    // each client got 1001 before its TCP ended
    let goingAway = 0;
    await Promise.all(conns.map(async (c) => {
      const bytes = await readToEnd(c);
      if (closeCode(bytes) === 1001) goingAway++;
    }));
    assertEquals(goingAway, 500);
    // ladder: 100 + 250 + 500 ms, then SIGKILL; 500 at once on 2 cores get a wide margin
    assertBetween(ms, 800, 15000, "shutdown took (ms)");
    console.log(`shutdown: ${before} processes of 500 sessions gone in ${ms} ms`);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* read to the end and closed already */ }
    }
    await server.stop().catch(() => {});
    await removeScriptDir(prog);
  }
});

Deno.test("hostile load: 1,000 sessions × 1,000 numbered lines arrive complete and in order, then close 1000", async () => {
  await using server = await startServerUlimit([
    "--loglevel=error",
    "--maxforks=0",
    "seq",
    "1",
    "1000",
  ]);
  const t0 = Date.now();
  const results = await pool(1000, 100, () =>
    leanSession(server.port, {
      onText: (t, i) => (t === String(i + 1) ? undefined : `line ${i} was ${JSON.stringify(t)}`),
      timeoutMs: 60000,
    }));
  const ms = Date.now() - t0;
  const bad = results.filter((r) =>
    r.status !== 101 || r.error || r.messages !== 1000 || r.closeCode !== 1000 ||
    r.closeReason !== "exit 0"
  );
  assertEquals(bad.slice(0, 3), []);
  const total = results.reduce((n, r) => n + r.messages, 0);
  assertEquals(total, 1_000_000);
  console.log(`no loss: 1,000,000 lines over 1000 sessions in ${ms} ms`);
  assertEquals(await settle(() => descendants(server.pid), (d) => d.length === 0, 5000), []);
});

/** Pids whose command line contains `tag`. */
function pidsOf(tag: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (cmd.includes(tag) && !/\) Z /.test(stat)) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: number[] = [];
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(...buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return new Uint8Array(parts);
}

/** The close code of the last close frame in a stream of server frames (101 already read). */
function closeCode(bytes: Uint8Array): number | null {
  let off = 0;
  let code: number | null = null;
  while (off + 2 <= bytes.length) {
    let len = bytes[off + 1]! & 0x7f;
    let at = off + 2;
    if (len === 126) {
      len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
      at += 2;
    }
    if ((bytes[off]! & 0x0f) === 0x8 && len >= 2) code = (bytes[at]! << 8) | bytes[at + 1]!;
    off = at + len;
  }
  return code;
}
