/**
 * Hostile clients at the protocol level: malformed and odd handshakes,
 * frames pipelined with the handshake, oversize and malformed frames,
 * invalid UTF-8, TCP resets at every stage of a connection, and slowloris
 * header trickles.
 *
 * Throughout, a canary session on the same server keeps echoing: after
 * each attack its round trip must still work, every program the attack
 * started must be gone, and the server must not have logged an uncaught
 * error.
 */

import { assert, assertBetween, assertEquals } from "../testing/assert.ts";
import { leanSession, rawRequest, rssKiB, underAttack, upgradeRequest } from "../testing/load.ts";
import { clientFrame, concatAll, writeAll } from "../testing/wire.ts";
import { marker, sleep, startServer, TESTPROG, type TestServer } from "../testing/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server running the echo program, with a canary session on it. */
async function withCanary(
  args: string[],
  fn: (server: TestServer, after: (what: string) => Promise<void>) => Promise<void>,
): Promise<void> {
  const m = marker();
  await using server = await startServer([...args, TESTPROG, m, "echo"]);
  await underAttack(server, "/", (after) => fn(server, after));
}

/** Reads everything until EOF (or `ms`), returning the raw bytes. */
async function readAll(conn: Deno.Conn, ms = 5000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return concatAll(parts);
}

/** Server frames after the 101 header block: [opcode, payload]. */
function framesAfterHandshake(
  bytes: Uint8Array,
): { status: number; frames: [number, Uint8Array][] } {
  const text = dec.decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  const end = text.indexOf("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
  const frames: [number, Uint8Array][] = [];
  let off = end + 4;
  while (end >= 0 && off + 2 <= bytes.length) {
    let len = bytes[off + 1]! & 0x7f;
    let at = off + 2;
    if (len === 126) {
      len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
      at += 2;
    } else if (len === 127) {
      len = Number(new DataView(bytes.buffer, bytes.byteOffset + off + 2, 8).getBigUint64(0));
      at += 8;
    }
    if (at + len > bytes.length) break;
    frames.push([bytes[off]! & 0x0f, bytes.slice(at, at + len)]);
    off = at + len;
  }
  return { status, frames };
}

/** Reads until `n` server frames have arrived (or EOF, or `ms`). */
async function untilFrames(
  conn: Deno.Conn,
  n: number,
  ms = 5000,
): Promise<{ status: number; frames: [number, Uint8Array][] }> {
  let bytes = new Uint8Array(0);
  const buf = new Uint8Array(64 * 1024);
  const deadline = Date.now() + ms;
  let got = framesAfterHandshake(bytes);
  while (got.frames.length < n && Date.now() < deadline) {
    const read = conn.read(buf);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((
      r,
    ) => (timer = setTimeout(() => r(null), deadline - Date.now())));
    const k = await Promise.race([read, late]);
    clearTimeout(timer);
    if (k === null) break;
    bytes = new Uint8Array([...bytes, ...buf.subarray(0, k)]);
    got = framesAfterHandshake(bytes);
  }
  return got;
}

function closeCodeOf(frames: [number, Uint8Array][]): number | null {
  const close = frames.find(([op]) => op === 0x8);
  return close && close[1].length >= 2 ? (close[1][0]! << 8) | close[1][1]! : null;
}

/** Opens a session, sends `bytes` after the handshake in one write, returns the close code seen. */
async function sendAndClose(port: number, bytes: Uint8Array, ms = 5000): Promise<number | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = enc.encode(upgradeRequest("/"));
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  await writeAll(conn, all).catch(() => {});
  const { status, frames } = framesAfterHandshake(await readAll(conn, ms));
  try {
    conn.close();
  } catch { /* closed by readAll */ }
  assertEquals(status, 101);
  return closeCodeOf(frames);
}

Deno.test("hostile protocol: odd handshakes get a proper status (or a session), never a hang", async () => {
  await withCanary([], async (server, after) => {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    const base = (lines: string[], first = "GET / HTTP/1.1") =>
      `${first}\r\n${lines.map((l) => l + "\r\n").join("")}\r\n`;
    const std = ["Host: x", "Upgrade: websocket", "Connection: Upgrade"];
    const cases: [string, string, number[]][] = [
      ["no key", base([...std, "Sec-WebSocket-Version: 13"]), [400]],
      ["empty key", base([...std, "Sec-WebSocket-Key: ", "Sec-WebSocket-Version: 13"]), [400]],
      ["short key", base([...std, "Sec-WebSocket-Key: AAAA", "Sec-WebSocket-Version: 13"]), [400]],
      [
        "key of 24 odd chars",
        base([...std, "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!", "Sec-WebSocket-Version: 13"]),
        [400],
      ],
      [
        "two keys",
        base([
          ...std,
          `Sec-WebSocket-Key: ${key}`,
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
        ]),
        [400],
      ],
      ["no version", base([...std, `Sec-WebSocket-Key: ${key}`]), [400]],
      ["version 8", base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 8"]), [400]],
      ["version 013", base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 013"]), [
        400,
      ]],
      [
        "version list",
        base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13, 8"]),
        [400],
      ],
      [
        "POST",
        base([
          ...std,
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
          "Content-Length: 0",
        ], "POST / HTTP/1.1"),
        [405],
      ],
      [
        "PUT",
        base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13"], "PUT / HTTP/1.1"),
        [405],
      ],
      [
        "lower-case method",
        base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13"], "get / HTTP/1.1"),
        [400, 405],
      ],
      // node hands CONNECT to a handler we do not have: the connection is simply closed
      ["CONNECT", base(["Host: x"], "CONNECT 127.0.0.1:1 HTTP/1.1"), [0, 400, 404, 405]],
      [
        "HTTP/1.0 without Host",
        base([
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
        ], "GET / HTTP/1.0"),
        [101, 400],
      ],
      ["HTTP/0.9", "GET /\r\n\r\n", [0, 400, 404]],
      // node's parser takes any major version; Go would say 505 (harmless either way)
      [
        "HTTP/2.0 line",
        base([...std, `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13"], "GET / HTTP/2.0"),
        [101, 400, 505],
      ],
      [
        "HTTP/1.1 without Host",
        base([
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
        ]),
        [101, 400],
      ],
      [
        "Upgrade: h2c",
        base([
          "Host: x",
          "Upgrade: h2c",
          "Connection: Upgrade, HTTP2-Settings",
          "HTTP2-Settings: AAMAAABkAAQAAP__",
        ]),
        [404, 400],
      ],
      [
        "chunked upgrade",
        base([
          ...std,
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
          "Transfer-Encoding: chunked",
        ]) + "0\r\n\r\n",
        [101, 400],
      ],
      [
        "Content-Length and TE",
        base([
          ...std,
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
          "Content-Length: 5",
          "Transfer-Encoding: chunked",
        ]),
        [400],
      ],
      ["garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n", [0, 400]],
      ["binary noise", "\x00\xff\x00\xff\r\n\r\n", [0, 400]],
    ];
    const failures: string[] = [];
    for (const [what, req, want] of cases) {
      const t0 = Date.now();
      const r = await rawRequest(server.port, enc.encode(req), 8000);
      if (!want.includes(r.status)) failures.push(`${what}: ${r.status} ${r.head.slice(0, 60)}`);
      if (Date.now() - t0 > 6000) failures.push(`${what}: took ${Date.now() - t0} ms`);
    }
    assertEquals(failures, []);
    await after("odd handshakes");
  });
});

Deno.test("hostile protocol: 1,000 frames pipelined with the handshake are all echoed in order", async () => {
  // a close frame in the same write as the handshake: tests/hostile_regressions_test.ts
  await withCanary([], async (server, after) => {
    const parts: number[] = [...enc.encode(upgradeRequest("/"))];
    for (let i = 0; i < 1000; i++) parts.push(...clientFrame(0x1, enc.encode(`pipelined ${i}`)));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, new Uint8Array(parts));
    // read the 1,000 echoes, then say goodbye
    const echoed: string[] = [];
    const buf = new Uint8Array(64 * 1024);
    let bytes = new Uint8Array(0);
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const n = await conn.read(buf);
      if (n === null) break;
      bytes = new Uint8Array([...bytes, ...buf.subarray(0, n)]);
      const got = framesAfterHandshake(bytes);
      if (got.frames.length >= 1000) {
        for (const [, p] of got.frames) echoed.push(dec.decode(p));
        break;
      }
    }
    await writeAll(conn, clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
    const end = framesAfterHandshake(new Uint8Array([...bytes, ...await readAll(conn)]));
    conn.close();
    assertEquals(end.status, 101);
    assertEquals(echoed.length, 1000);
    assert(echoed.every((t, i) => t === `pipelined ${i}`), "echoes out of order");
    assertEquals(closeCodeOf(end.frames), 1000);
    await after("pipelined frames");
  });
});

Deno.test("hostile protocol: a frame sent one byte per write is reassembled", async () => {
  await withCanary([], async (server, after) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, enc.encode(upgradeRequest("/")));
    const frame = clientFrame(0x1, enc.encode("x".repeat(300)));
    for (let i = 0; i < frame.length; i++) {
      await writeAll(conn, frame.subarray(i, i + 1));
      if (i % 50 === 0) await sleep(1);
    }
    // wait for the echo before saying goodbye (output after a close is not sent)
    let bytes = new Uint8Array(0);
    const buf = new Uint8Array(4096);
    while (framesAfterHandshake(bytes).frames.length < 1) {
      const n = await conn.read(buf);
      if (n === null) break;
      bytes = new Uint8Array([...bytes, ...buf.subarray(0, n)]);
    }
    await writeAll(conn, clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
    const got = framesAfterHandshake(new Uint8Array([...bytes, ...await readAll(conn)]));
    conn.close();
    assertEquals(got.frames.filter(([op]) => op === 0x1).map(([, p]) => p.length), [300]);
    await after("byte-by-byte frame");
  });
});

Deno.test("hostile protocol: oversize frames are refused from their header, before any buffering", async () => {
  await withCanary([], async (server, after) => {
    const rss0 = rssKiB(server.pid);
    const header = (len: bigint, op = 0x2, fin = true) => {
      const h = new Uint8Array(14);
      h[0] = (fin ? 0x80 : 0) | op;
      h[1] = 0x80 | 127;
      new DataView(h.buffer).setBigUint64(2, len);
      return h;
    };
    // declared sizes: just over the 1 MiB default, 1 GiB, 2^53, 2^63-1 (the MSB must be 0)
    const cases: [string, Uint8Array, number][] = [
      ["1 MiB + 1", header(1048577n), 1009],
      ["1 GiB", header(1n << 30n), 1009],
      ["2^53", header(1n << 53n), 1009],
      ["2^63 - 1", header((1n << 63n) - 1n), 1009],
      ["2^63 (most significant bit set)", header(1n << 63n), 1002],
      ["2^64 - 1", header((1n << 64n) - 1n), 1002],
      ["1 GiB text", header(1n << 30n, 0x1), 1009],
      ["1 GiB first fragment", header(1n << 30n, 0x2, false), 1009],
    ];
    for (const [what, bytes, want] of cases) {
      const t0 = Date.now();
      assertEquals(await sendAndClose(server.port, bytes), want, what);
      assert(Date.now() - t0 < 3000, `${what}: took ${Date.now() - t0} ms`);
    }
    // fragments that add up past the limit: many small continuation frames
    const frag = new Uint8Array(64 * 1024);
    const parts = [clientFrame(0x2, frag, { fin: false })];
    for (let i = 0; i < 20; i++) parts.push(clientFrame(0x0, frag, { fin: false }));
    assertEquals(await sendAndClose(server.port, concatAll(parts)), 1009, "fragments past 1 MiB");
    const grown = rssKiB(server.pid) - rss0;
    assert(grown < 48 * 1024, `server RSS grew by ${grown} KiB`);
    await after("oversize frames");
  });
});

Deno.test("hostile protocol: --maxframesize=0 still answers absurd declared lengths with a close, not a crash", async () => {
  await withCanary(["--maxframesize=0"], async (server, after) => {
    const rss0 = rssKiB(server.pid);
    // lengths that cannot be allocated (2^40): tests/hostile_regressions_test.ts
    for (const len of [1n << 53n, (1n << 63n) - 1n]) {
      const h = new Uint8Array(14);
      h[0] = 0x82;
      h[1] = 0x80 | 127;
      new DataView(h.buffer).setBigUint64(2, len);
      const code = await sendAndClose(server.port, h, 5000);
      assert(
        code !== null && [1002, 1009, 1011].includes(code),
        `2^${len.toString(2).length - 1}: close ${code}`,
      );
    }
    const grown = rssKiB(server.pid) - rss0;
    assert(grown < 48 * 1024, `server RSS grew by ${grown} KiB`);
    await after("absurd lengths without a limit");
  });
});

Deno.test("hostile protocol: malformed frames close with 1002, invalid UTF-8 with 1007; valid UTF-8 split across fragments passes", async () => {
  await withCanary([], async (server, after) => {
    const raw = (b0: number, payload: number[]) => {
      const p = new Uint8Array(payload);
      const f = clientFrame(b0 & 0x0f, p, { fin: (b0 & 0x80) !== 0 });
      f[0] = b0;
      return f;
    };
    const cases: [string, Uint8Array, number][] = [
      ["reserved bit 1", raw(0xc1, [0x61]), 1002],
      ["reserved bit 3", raw(0x91, [0x61]), 1002],
      ["opcode 3", raw(0x83, [0x61]), 1002],
      ["opcode 0xB", raw(0x8b, []), 1002],
      ["continuation first", raw(0x80, [0x61]), 1002],
      ["ping of 126 bytes", clientFrame(0x9, new Uint8Array(126)), 1002],
      ["fragmented ping", raw(0x09, []), 1002],
      ["fragmented close", raw(0x08, [0x03, 0xe8]), 1002],
      ["close of one byte", raw(0x88, [0x03]), 1002],
      ["close code 999", raw(0x88, [0x03, 0xe7]), 1002],
      ["close code 1005", raw(0x88, [0x03, 0xed]), 1002],
      ["close code 1006", raw(0x88, [0x03, 0xee]), 1002],
      ["close code 5000", raw(0x88, [0x13, 0x88]), 1002],
      ["close reason not UTF-8", raw(0x88, [0x03, 0xe8, 0xff]), 1007],
      ["0xFF", raw(0x81, [0x61, 0xff]), 1007],
      ["overlong slash", raw(0x81, [0xc0, 0xaf]), 1007],
      ["overlong NUL", raw(0x81, [0xe0, 0x80, 0x80]), 1007],
      ["UTF-16 surrogate", raw(0x81, [0xed, 0xa0, 0x80]), 1007],
      ["past U+10FFFF", raw(0x81, [0xf4, 0x90, 0x80, 0x80]), 1007],
      ["truncated sequence", raw(0x81, [0x61, 0xe2, 0x82]), 1007],
      ["lone continuation", raw(0x81, [0x80]), 1007],
    ];
    const failures: string[] = [];
    for (const [what, bytes, want] of cases) {
      const code = await sendAndClose(server.port, bytes);
      if (code !== want) failures.push(`${what}: ${code} (want ${want})`);
    }
    // text inside a fragmented message, and invalid UTF-8 across two fragments
    const split = new Uint8Array([
      ...raw(0x01, [0x61, 0xe2]),
      ...raw(0x80, [0x28, 0xa1]),
    ]);
    const codeSplit = await sendAndClose(server.port, split);
    if (codeSplit !== 1007) failures.push(`invalid UTF-8 across fragments: ${codeSplit}`);
    const nested = new Uint8Array([...raw(0x01, [0x61]), ...raw(0x81, [0x62])]);
    const codeNested = await sendAndClose(server.port, nested);
    if (codeNested !== 1002) failures.push(`text inside a fragmented message: ${codeNested}`);
    assertEquals(failures, []);

    // a snowman split across three fragments is one valid message
    const snowman = [0xe2, 0x98, 0x83];
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const frames = new Uint8Array([
      ...enc.encode(upgradeRequest("/")),
      ...raw(0x01, [snowman[0]!]),
      ...raw(0x00, [snowman[1]!]),
      ...raw(0x80, [snowman[2]!]),
    ]);
    await writeAll(conn, frames);
    const got = await untilFrames(conn, 1);
    conn.close();
    assertEquals(got.frames.filter(([op]) => op === 1).map(([, p]) => dec.decode(p)), ["\u2603"]);
    await after("malformed frames");
  });
});

Deno.test("hostile protocol: 10,000 tiny fragments of one message are reassembled, bounded by --maxframesize", async () => {
  await withCanary([], async (server, after) => {
    const parts: number[] = [];
    const one = (op: number, fin: boolean) => [...clientFrame(op, new Uint8Array([0x61]), { fin })];
    parts.push(...one(0x1, false));
    for (let i = 0; i < 9998; i++) parts.push(...one(0x0, false));
    parts.push(...one(0x0, true));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, new Uint8Array([...enc.encode(upgradeRequest("/")), ...parts]));
    const got = await untilFrames(conn, 1, 10000);
    conn.close();
    const texts = got.frames.filter(([op]) => op === 1).map(([, p]) => p.length);
    assertEquals(texts, [10000]);
    await after("tiny fragments");
  });
});

/** Opens a connection to the server, runs `stage` with it, then closes it abruptly. */
async function abort(
  port: number,
  stage: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await stage(conn);
  } catch { /* the server may have closed first: that is fine */ }
  // closing with unread bytes in our receive buffer makes the kernel send a RST
  conn.close();
}

Deno.test("hostile protocol: TCP resets at every stage leave no program behind and the server serving", async () => {
  await withCanary([], async (server, after) => {
    const m = marker();
    const port = server.port;
    const hs = enc.encode(upgradeRequest("/"));
    const waitBytes = async (conn: Deno.Conn, ms = 300) => {
      await sleep(ms);
      void conn; // let the server's answer land unread in our buffer
    };
    const stages: [string, (c: Deno.Conn) => Promise<void>][] = [
      ["after connect", async () => {}],
      ["mid request line", (c) => writeAll(c, hs.subarray(0, 7))],
      ["mid headers", (c) => writeAll(c, hs.subarray(0, hs.length - 10))],
      ["before the blank line", (c) => writeAll(c, hs.subarray(0, hs.length - 2))],
      ["right after the handshake, 101 unread", async (c) => {
        await writeAll(c, hs);
        await waitBytes(c, 100);
      }],
      ["right after the handshake, at once", (c) => writeAll(c, hs)],
      ["mid frame header", async (c) => {
        await writeAll(c, hs);
        await writeAll(c, clientFrame(0x1, enc.encode("hello")).subarray(0, 3));
        await waitBytes(c);
      }],
      ["mid frame payload", async (c) => {
        await writeAll(c, hs);
        await writeAll(c, clientFrame(0x2, new Uint8Array(100000)).subarray(0, 50000));
        await waitBytes(c);
      }],
      ["mid fragmented message", async (c) => {
        await writeAll(c, hs);
        await writeAll(c, clientFrame(0x1, enc.encode("part one "), { fin: false }));
        await writeAll(c, clientFrame(0x0, enc.encode("part two "), { fin: false }));
        await waitBytes(c);
      }],
      ["while the program's output is unread", async (c) => {
        await writeAll(c, hs);
        for (let i = 0; i < 200; i++) await writeAll(c, clientFrame(0x1, enc.encode(`m${i} ${m}`)));
        await waitBytes(c);
      }],
      ["right after our close frame", async (c) => {
        await writeAll(c, hs);
        await writeAll(c, clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
      }],
      ["half-close after the handshake", async (c) => {
        await writeAll(c, hs);
        await (c as Deno.TcpConn).closeWrite();
        await waitBytes(c);
      }],
    ];
    for (const [what, stage] of stages) {
      // several of each, some in parallel, to catch races between teardown paths
      await Promise.all(Array.from({ length: 5 }, () => abort(port, stage)));
      await after(`reset ${what}`);
    }
    // nothing was logged as a failure of ours
    assertEquals(server.grep(/ERROR .*(Upgrade failed|Request failed)/), []);
  });
});

Deno.test("hostile protocol: slowloris header trickles are dropped by the header timeout while others are served", async () => {
  // the 10-16 s bound of the 10 s header timeout: tests/hostile_regressions_test.ts
  await withCanary([], async (server, after) => {
    const port = server.port;
    const hs = enc.encode(upgradeRequest("/"));
    const t0 = Date.now();
    /** Sends the handshake one byte every `everyMs` until the server drops us; returns when. */
    const trickle = async (everyMs: number, bytes = hs): Promise<number> => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      let dropped = -1;
      const reader = (async () => {
        const buf = new Uint8Array(1024);
        // any answer or EOF means the server gave up on us
        await conn.read(buf).catch(() => null);
        dropped = Date.now() - t0;
      })();
      try {
        for (let i = 0; i < bytes.length - 2 && dropped < 0 && Date.now() - t0 < 45000; i++) {
          await writeAll(conn, bytes.subarray(i, i + 1));
          await sleep(everyMs);
        }
        while (dropped < 0 && Date.now() - t0 < 45000) await sleep(100);
      } catch {
        if (dropped < 0) dropped = Date.now() - t0;
      } finally {
        conn.close();
        await reader;
      }
      return dropped;
    };
    /** Connects and says nothing at all. */
    const silent = () => trickle(100000, new Uint8Array(0));
    /** Blank lines (allowed before a request line), then nothing. */
    const blank = () => trickle(1, enc.encode("\r\n\r\n\r\n\r\n"));
    /** Sends every header but the final blank line, then waits. */
    const almost = () => trickle(1, hs.subarray(0, hs.length - 2));
    const attacks = [
      ...Array.from({ length: 6 }, (_, i) => trickle(400 + i * 100)),
      silent(),
      silent(),
      almost(),
      almost(),
      blank(),
    ];
    // while the trickles run, new sessions still open and the canary still echoes
    for (let i = 0; i < 8; i++) {
      await sleep(1000);
      const r = await leanSession(port, { send: ["during"], closeAfter: 1, timeoutMs: 5000 });
      assertEquals([r.status, r.messages], [101, 1], `session ${i} during the attack`);
    }
    const times = await Promise.all(attacks);
    for (const t of times) assertBetween(t, 9000, 42000, `dropped after (ms) [${times}]`);
    await after("slowloris");
  });
});
