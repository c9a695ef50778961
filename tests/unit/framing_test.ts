/**
 * Unit tests for the two codecs: program output → frames, client frames → messages.
 */

import { assert, assertEquals } from "../../testing/assert.ts";
import { BinaryFramer, FRAGMENT_BYTES, LineFramer } from "../../lib/session/framing.ts";
import { readServerFrames } from "../../lib/ws/frames.ts";
import { FrameParser } from "../../lib/ws/parser.ts";
import { Close, Op } from "../../lib/ws/protocol.ts";
import { clientFrame, closePayload } from "../../testing/wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Decodes server frames into [opcode, fin, text] triples. */
function frames(buf: Uint8Array | null): [number, boolean, string][] {
  return buf ? [...readServerFrames(buf)].map((f) => [f.opcode, f.fin, dec.decode(f.payload)]) : [];
}

Deno.test("lines split on \\n only; one CR before it is dropped; empty lines are messages", () => {
  const f = new LineFramer();
  assertEquals(frames(f.push(enc.encode("a\r\nb\n\nc\rd\ne\r\r\n"))).map((x) => x[2]), [
    "a",
    "b",
    "",
    "c\rd",
    "e\r",
  ]);
  assertEquals(f.finish(), null);
});

Deno.test("lines split across chunks are joined, and a CR split from its LF is still dropped", () => {
  const f = new LineFramer();
  assertEquals(frames(f.push(enc.encode("hel"))), []);
  assertEquals(frames(f.push(enc.encode("lo\r"))), []);
  assertEquals(frames(f.push(enc.encode("\nwor"))).map((x) => x[2]), ["hello"]);
  assertEquals(frames(f.finish()).map((x) => x[2]), ["wor"]);
});

Deno.test("a multi-byte character split across reads survives; invalid bytes become U+FFFD", () => {
  const f = new LineFramer();
  const e = enc.encode("é\n");
  assertEquals(frames(f.push(e.subarray(0, 1))), []);
  assertEquals(frames(f.push(e.subarray(1))).map((x) => x[2]), ["é"]);
  assertEquals(frames(f.push(new Uint8Array([0x61, 0xff, 0x62, 10]))).map((x) => x[2]), [
    "a\uFFFDb",
  ]);
});

Deno.test("an over-long line streams as fragments: text, continuations, FIN at the newline", () => {
  const f = new LineFramer();
  const big = "x".repeat(FRAGMENT_BYTES + 10);
  const first = frames(f.push(enc.encode(big)));
  assertEquals(first.map((x) => [x[0], x[1]]), [[Op.text, false]]);
  const second = frames(f.push(enc.encode("yz\r\nnext\n")));
  assertEquals(second.map((x) => [x[0], x[1]]), [[Op.continuation, true], [Op.text, true]]);
  assertEquals(first[0]![2] + second[0]![2], big + "yz");
  assertEquals(second[1]![2], "next");
});

Deno.test("a fragmented line without newline is finished at EOF", () => {
  const f = new LineFramer();
  f.push(enc.encode("y".repeat(FRAGMENT_BYTES + 1)));
  assertEquals(frames(f.finish()).map((x) => [x[0], x[1]]), [[Op.continuation, true]]);
});

Deno.test("JSON wrapping (--passstderr) escapes lines, including streamed ones", () => {
  const f = new LineFramer("stderr");
  assertEquals(frames(f.push(enc.encode('say "hi"\n'))).map((x) => x[2]), [
    '{"stream":"stderr","data":"say \\"hi\\""}',
  ]);
  const long = "q".repeat(FRAGMENT_BYTES + 5);
  const a = frames(f.push(enc.encode(long)));
  const b = frames(f.push(enc.encode("\n")));
  assertEquals(JSON.parse(a[0]![2] + b[0]![2]), { stream: "stderr", data: long });
});

Deno.test("binary framer: one binary message per chunk", () => {
  const f = new BinaryFramer();
  assertEquals(frames(f.push(new Uint8Array([1, 2, 3]))).map((x) => [x[0], x[1]]), [[
    Op.binary,
    true,
  ]]);
  assertEquals(f.push(new Uint8Array(0)), null);
});

type Event = [string, ...unknown[]];
function parse(chunks: Uint8Array[], max = 0): Event[] {
  const events: Event[] = [];
  const p = new FrameParser({
    message: (binary, payload) => events.push(["message", binary, dec.decode(payload)]),
    ping: (payload) => events.push(["ping", dec.decode(payload)]),
    pong: () => events.push(["pong"]),
    close: (code, reason) => events.push(["close", code, reason]),
    fail: (code, reason) => events.push(["fail", code, reason]),
  }, max);
  for (const c of chunks) p.push(c);
  return events;
}

Deno.test("parser: messages split at every byte boundary come out whole", () => {
  const wire = new Uint8Array([
    ...clientFrame(Op.text, enc.encode("hello")),
    ...clientFrame(Op.binary, new Uint8Array(300).fill(0x41)),
    ...clientFrame(Op.text, enc.encode("x".repeat(70000))),
  ]);
  for (const step of [1, 2, 3, 7, 1000, wire.length]) {
    const chunks = [];
    for (let i = 0; i < wire.length; i += step) chunks.push(wire.slice(i, i + step));
    const ev = parse(chunks);
    assertEquals(ev.length, 3, `step ${step}`);
    assertEquals(ev[0], ["message", false, "hello"]);
    assertEquals(ev[1], ["message", true, "A".repeat(300)]);
    assertEquals((ev[2]![2] as string).length, 70000);
  }
});

Deno.test("parser: control frames may interleave with fragments", () => {
  const ev = parse([
    clientFrame(Op.text, enc.encode("a"), { fin: false }),
    clientFrame(Op.ping, enc.encode("p")),
    clientFrame(Op.continuation, enc.encode("b")),
  ]);
  assertEquals(ev, [["ping", "p"], ["message", false, "ab"]]);
});

Deno.test("parser: protocol violations fail with 1002, 1007 or 1009", () => {
  const cases: [Uint8Array, number][] = [
    [clientFrame(Op.text, enc.encode("x"), { mask: false }), Close.protocolError],
    [clientFrame(Op.text, enc.encode("x"), { rsv: 4 }), Close.protocolError],
    [clientFrame(3, enc.encode("x")), Close.protocolError],
    [clientFrame(Op.ping, new Uint8Array(126)), Close.protocolError],
    [clientFrame(Op.ping, new Uint8Array(1), { fin: false }), Close.protocolError],
    [clientFrame(Op.continuation, enc.encode("x")), Close.protocolError],
    [clientFrame(Op.close, closePayload(1005)), Close.protocolError],
    [clientFrame(Op.close, closePayload(999)), Close.protocolError],
    [clientFrame(Op.close, new Uint8Array([3])), Close.protocolError],
    [clientFrame(Op.text, new Uint8Array([0x61, 0xff])), Close.invalidPayload],
    [clientFrame(Op.text, new Uint8Array(11)), Close.tooBig],
  ];
  for (const [wire, code] of cases) {
    const ev = parse([wire], 10);
    assertEquals(ev.length, 1);
    assertEquals(ev[0]![0], "fail");
    assertEquals(ev[0]![1], code);
  }
  const nested = parse([
    clientFrame(Op.text, enc.encode("a"), { fin: false }),
    clientFrame(Op.text, enc.encode("b")),
  ]);
  assertEquals(nested[0]![1], Close.protocolError);
});

Deno.test("parser: an oversized frame is refused from its header, before any payload arrives", () => {
  const header = clientFrame(Op.binary, new Uint8Array(100000)).subarray(0, 14);
  const ev = parse([header], 65536);
  assertEquals(ev[0]?.[0], "fail");
  assertEquals(ev[0]?.[1], Close.tooBig);
});

Deno.test("parser: valid close frames report code and reason", () => {
  assertEquals(parse([clientFrame(Op.close, closePayload(4001, "bye"))]), [["close", 4001, "bye"]]);
  assertEquals(parse([clientFrame(Op.close, new Uint8Array(0))]), [["close", undefined, ""]]);
  assert(true);
});
