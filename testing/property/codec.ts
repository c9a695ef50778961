/**
 * Properties of the client frame parser (`FrameParser`, lib/ws/parser.ts).
 *
 * Frames are generated as specs (FIN, reserved bits, opcode, mask, which of
 * the three length encodings, payload, or a length announced with no payload
 * behind it), encoded to bytes, and fed to the parser in random chunk splits
 * (1-byte chunks included). A small reference model, written from RFC 6455
 * and the module's documented limits, says what each spec list must produce.
 *
 * @module
 */

import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { FrameParser, MAX_FRAGMENTS, MESSAGE_CEILING } from "../../lib/ws/parser.ts";
import { concatAll } from "../wire.ts";
import { property, type PropertyCase } from "./harness.ts";

/** Bytes a parser may hold besides the message: a partial header and a control payload. */
const FIXED_HELD = 14 + 125;

/** One frame as generated: every field of the wire format is free. */
export interface FrameSpec {
  fin: boolean;
  /** RSV1-3 as a 3-bit number. */
  rsv: number;
  opcode: number;
  masked: boolean;
  mask: number[];
  /** 0: the shortest length encoding; 1: 16-bit when it fits; 2: always 64-bit. */
  lenForm: 0 | 1 | 2;
  payload: Uint8Array;
  /** A length announced in the header with no payload behind it (an oversized frame). */
  declared?: bigint;
}

// ---------------------------------------------------------------------------
// encoding

/** The frame's bytes as a client would send them. */
export function encodeFrame(f: FrameSpec): Uint8Array {
  const len = f.declared ?? BigInt(f.payload.length);
  const form = len > 0xffffn || f.lenForm === 2 ? 2 : len > 125n || f.lenForm === 1 ? 1 : 0;
  const extra = form === 2 ? 8 : form === 1 ? 2 : 0;
  const body = f.declared === undefined ? f.payload.length : 0;
  const out = new Uint8Array(2 + extra + (f.masked ? 4 : 0) + body);
  out[0] = (f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0f);
  out[1] = (f.masked ? 0x80 : 0) | (form === 2 ? 127 : form === 1 ? 126 : Number(len));
  if (form === 1) new DataView(out.buffer).setUint16(2, Number(len));
  if (form === 2) new DataView(out.buffer).setBigUint64(2, len);
  let at = 2 + extra;
  if (f.masked) {
    out.set(f.mask, at);
    at += 4;
  }
  for (let i = 0; i < body; i++) {
    out[at + i] = f.payload[i]! ^ (f.masked ? f.mask[i & 3]! : 0);
  }
  return out;
}

// ---------------------------------------------------------------------------
// events, as the parser reports them and as the model predicts them

const hex = (p: Uint8Array) => Array.from(p, (b) => b.toString(16).padStart(2, "0")).join("");

/** What a parse produced, one string per handler call, plus the invariants seen on the way. */
interface Parse {
  events: string[];
  /** A handler call after `fail`, or a second `fail` (must never happen). */
  afterFail: string[];
}

/**
 * Parses `bytes` in the chunks given by `cuts` (offsets), checking after
 * every push that the parser holds no more than its budget, and no more than
 * the bytes it was actually given allow (an announced length costs nothing).
 */
function parse(bytes: Uint8Array, cuts: number[], maxMessage: number): Parse {
  const events: string[] = [];
  const afterFail: string[] = [];
  let failed = false;
  const record = (e: string) => {
    if (failed) afterFail.push(e);
    else events.push(e);
  };
  const parser = new FrameParser({
    message: (binary, p) => record(`message ${binary ? "binary" : "text"} ${hex(p)}`),
    ping: (p) => record(`ping ${hex(p)}`),
    pong: () => record("pong"),
    close: (code, reason) => record(`close ${code} ${JSON.stringify(reason)}`),
    fail: (code, reason) => {
      record(`fail ${code} ${reason}`);
      failed = true;
    },
  }, maxMessage);
  // the parser unmasks in place: every parse gets its own copy
  const own = bytes.slice();
  let start = 0;
  let pushed = 0;
  for (const end of [...cuts, own.length]) {
    if (end <= start) continue;
    parser.push(own.subarray(start, end));
    pushed += end - start;
    start = end;
    const held = parser.heldBytes;
    assert(
      held <= parser.budget,
      `heldBytes ${held} over the budget ${parser.budget} after ${pushed} bytes`,
    );
    // the message buffer grows by doubling (from 256) and only with bytes received
    assert(
      held - FIXED_HELD <= Math.max(256, 2 * pushed),
      `heldBytes ${held} after only ${pushed} bytes: memory for bytes never sent`,
    );
    assertEquals(parser.failed, failed, "parser.failed disagrees with the fail handler");
  }
  return { events, afterFail };
}

/** Chunk boundaries: 1-byte chunks, or offsets drawn at random. */
type Split = { kind: "bytes" } | { kind: "cuts"; cuts: number[] };

const splitArb: fc.Arbitrary<Split> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: "bytes" as const }) },
  {
    weight: 3,
    arbitrary: fc.array(fc.nat(), { maxLength: 24 }).map((cuts) => ({
      kind: "cuts" as const,
      cuts,
    })),
  },
);

function cutsFor(split: Split, length: number): number[] {
  // 1-byte chunks of a 100 KB frame are slow and teach nothing new: every 7th byte instead
  if (split.kind === "bytes") {
    const step = length > 20_000 ? 7 : 1;
    return Array.from({ length: Math.floor(length / step) }, (_, i) => (i + 1) * step);
  }
  return [...new Set(split.cuts.map((c) => c % (length + 1)))].sort((a, b) => a - b);
}

/**
 * The core invariants, for any input: no throw, nothing after `fail`, the
 * byte budget (checked in {@link parse}), and chunking changes nothing: the
 * events of a chunked parse are those of a one-shot parse.
 */
function parseBothWays(bytes: Uint8Array, split: Split, maxMessage: number): string[] {
  const once = parse(bytes, [], maxMessage);
  const chunked = parse(bytes, cutsFor(split, bytes.length), maxMessage);
  assertEquals(once.afterFail, [], "handlers called after fail (one-shot)");
  assertEquals(chunked.afterFail, [], "handlers called after fail (chunked)");
  assertEquals(chunked.events, once.events, "chunked parse differs from one-shot parse");
  return once.events;
}

/** Events without the fail reason (the model predicts codes, not wording). */
const codesOnly = (events: string[]) =>
  events.map((e) => (e.startsWith("fail ") ? e.split(" ", 2).join(" ") : e));

// ---------------------------------------------------------------------------
// the reference model

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function validUtf8(p: Uint8Array): boolean {
  try {
    strictUtf8.decode(p);
    return true;
  } catch {
    return false;
  }
}

/** Close codes a peer may send (RFC 6455 §7.4.1, §7.4.2; IANA registry). */
function sendableCloseCode(code: number): boolean {
  return [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014].includes(code) ||
    (code >= 3000 && code <= 4999);
}

function effectiveMax(maxMessage: number): number {
  return maxMessage > 0 ? Math.min(maxMessage, MESSAGE_CEILING) : MESSAGE_CEILING;
}

/**
 * What the parser must report for these frames: RFC 6455 §5 checks on each
 * header (reserved bits, masking, opcodes, control frame rules, continuation
 * rules), the message limit (1009, judged from the header), at most
 * MAX_FRAGMENTS fragments (1008), UTF-8 of text messages (1007) and close
 * frames (1-byte payload and bad codes 1002, a bad reason 1007). Ends at the
 * first failure.
 */
export function model(frames: FrameSpec[], maxMessage: number): string[] {
  const max = effectiveMax(maxMessage);
  const out: string[] = [];
  let msgOp = 0;
  let msg: Uint8Array[] = [];
  let msgLen = 0;
  let fragments = 0;
  const fail = (code: number) => {
    out.push(`fail ${code}`);
    return out;
  };
  for (const f of frames) {
    const len = f.declared ?? BigInt(f.payload.length);
    if (len >= 2n ** 63n) return fail(1002); // the 64-bit length's top bit must be 0
    if (f.rsv !== 0) return fail(1002);
    if (!f.masked) return fail(1002);
    const op = f.opcode;
    if (op >= 8) {
      if (op > 10 || !f.fin || len > 125n) return fail(1002);
    } else if (op === 0) {
      if (msgOp === 0) return fail(1002);
      if (fragments + 1 > MAX_FRAGMENTS) return fail(1008);
    } else if (op === 1 || op === 2) {
      if (msgOp !== 0) return fail(1002);
    } else return fail(1002);
    if (op < 8 && BigInt(msgLen) + len > BigInt(max)) return fail(1009);
    if (f.declared !== undefined) {
      throw new Error("model: a frame with an announced length passed its header checks");
    }
    const p = f.payload;
    if (op === 9) out.push(`ping ${hex(p)}`);
    else if (op === 10) out.push("pong");
    else if (op === 8) {
      if (p.length === 0) out.push(`close undefined ""`);
      else if (p.length === 1) return fail(1002);
      else {
        const code = (p[0]! << 8) | p[1]!;
        if (!sendableCloseCode(code)) return fail(1002);
        if (!validUtf8(p.subarray(2))) return fail(1007);
        out.push(`close ${code} ${JSON.stringify(new TextDecoder().decode(p.subarray(2)))}`);
      }
    } else {
      if (op !== 0) msgOp = op;
      msg.push(p);
      msgLen += p.length;
      fragments++;
      if (f.fin) {
        const whole = concatAll(msg);
        if (msgOp === 1 && !validUtf8(whole)) return fail(1007);
        out.push(`message ${msgOp === 2 ? "binary" : "text"} ${hex(whole)}`);
        msgOp = 0;
        msg = [];
        msgLen = 0;
        fragments = 0;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// generators

const maskArb = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const lenFormArb = fc.constantFrom<0 | 1 | 2>(0, 0, 0, 1, 2);

/** Deterministic filler for payloads too large for fast-check to generate byte by byte. */
function filler(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Payload bytes: mostly short, some past 125 (16-bit length), a few past 65535 (64-bit). */
function bytesArb(maxLength: number): fc.Arbitrary<Uint8Array> {
  const small = fc.uint8Array({ maxLength: Math.min(maxLength, 160) });
  const options: fc.WeightedArbitrary<Uint8Array>[] = [{ weight: 12, arbitrary: small }];
  if (maxLength > 125) {
    options.push({
      weight: 2,
      arbitrary: fc.uint8Array({ minLength: 120, maxLength: Math.min(maxLength, 400) }),
    });
  }
  if (maxLength > 65_535) {
    options.push({
      weight: 1,
      arbitrary: fc.tuple(
        fc.integer({ min: 65_530, max: Math.min(maxLength, 70_000) }),
        fc.integer(),
      ).map(([n, seed]) => filler(n, seed)),
    });
  }
  return fc.oneof(...options);
}

const enc = new TextEncoder();
/** Text whose UTF-8 is valid: any code points (lone surrogates become U+FFFD). */
function utf8Arb(maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.string({ unit: "binary", maxLength: 60 }).map((s) => {
    let bytes = enc.encode(s);
    while (bytes.length > maxLength) bytes = enc.encode(s = s.slice(0, -1));
    return bytes;
  });
}

interface Frame {
  spec: FrameSpec;
}

function frameSpec(
  opcode: number,
  fin: boolean,
  payload: Uint8Array,
  mask: number[],
  lenForm: 0 | 1 | 2,
): FrameSpec {
  return { fin, rsv: 0, opcode, masked: true, mask, lenForm, payload };
}

/** A valid control frame and the event it must produce. */
const controlArb: fc.Arbitrary<Frame & { event: string }> = fc.oneof(
  fc.tuple(fc.uint8Array({ maxLength: 125 }), maskArb, lenFormArb).map(([p, m, l]) => ({
    spec: frameSpec(9, true, p, m, l),
    event: `ping ${hex(p)}`,
  })),
  fc.tuple(fc.uint8Array({ maxLength: 125 }), maskArb, lenFormArb).map(([p, m, l]) => ({
    spec: frameSpec(10, true, p, m, l),
    event: "pong",
  })),
  fc.tuple(maskArb, lenFormArb).map(([m, l]) => ({
    spec: frameSpec(8, true, new Uint8Array(0), m, l),
    event: `close undefined ""`,
  })),
  fc.tuple(
    fc.oneof(
      fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014),
      fc.integer({ min: 3000, max: 4999 }),
    ),
    fc.string({ unit: "binary", maxLength: 40 }),
    maskArb,
    lenFormArb,
  ).map(([code, reason, m, l]) => {
    let r = enc.encode(reason);
    while (r.length > 123) r = enc.encode(reason = reason.slice(0, -1));
    const p = new Uint8Array(2 + r.length);
    p[0] = code >> 8;
    p[1] = code & 0xff;
    p.set(r, 2);
    return {
      spec: frameSpec(8, true, p, m, l),
      event: `close ${code} ${JSON.stringify(new TextDecoder().decode(r))}`,
    };
  }),
);

/**
 * A valid data message: text (valid UTF-8, split anywhere, even inside a
 * character) or binary (any bytes), in 1-8 fragments with control frames
 * between them.
 */
interface MessageItem {
  kind: "message";
  binary: boolean;
  payload: Uint8Array;
  /** Each fragment, with the control frames that follow it. */
  frames: { spec: FrameSpec; controls: (Frame & { event: string })[] }[];
}

function messageArb(maxLength: number): fc.Arbitrary<MessageItem> {
  return fc.tuple(
    fc.boolean(),
    bytesArb(maxLength),
    utf8Arb(maxLength),
    fc.array(fc.nat(), { maxLength: 7 }),
    fc.array(fc.tuple(maskArb, lenFormArb, fc.array(controlArb, { maxLength: 2 })), {
      minLength: 8,
      maxLength: 8,
    }),
  ).map(([binary, bin, text, cutsRaw, per]) => {
    const payload = binary ? bin : text;
    const cuts = [...new Set(cutsRaw.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
    const bounds = [0, ...cuts, payload.length];
    const frames = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const [mask, lenForm, controls] = per[i]!;
      const last = i + 2 === bounds.length;
      const opcode = i === 0 ? (binary ? 2 : 1) : 0;
      const spec = frameSpec(
        opcode,
        last,
        payload.subarray(bounds[i], bounds[i + 1]),
        mask,
        lenForm,
      );
      // control frames may come between fragments, not after the last one of this item
      frames.push({ spec, controls: last ? [] : controls });
    }
    return { kind: "message" as const, binary, payload, frames };
  });
}

type Item = MessageItem | ({ kind: "control" } & Frame & { event: string });

function itemsArb(maxLength: number): fc.Arbitrary<Item[]> {
  return fc.array(
    fc.oneof(
      { weight: 3, arbitrary: messageArb(maxLength) },
      { weight: 1, arbitrary: controlArb.map((c) => ({ kind: "control" as const, ...c })) },
    ),
    { maxLength: 8 },
  );
}

function itemFrames(items: Item[]): FrameSpec[] {
  const out: FrameSpec[] = [];
  for (const it of items) {
    if (it.kind === "control") out.push(it.spec);
    else {for (const f of it.frames) {
        out.push(f.spec);
        for (const c of f.controls) out.push(c.spec);
      }}
  }
  return out;
}

/**
 * What valid items must produce under a message limit, straight from what
 * was generated: each message whole and byte-equal, control frames in place;
 * the first fragment that takes a message over the limit ends it all with
 * 1009, before any byte of that message is delivered.
 */
function expectedEvents(items: Item[], maxMessage: number): string[] {
  const max = effectiveMax(maxMessage);
  const out: string[] = [];
  for (const it of items) {
    if (it.kind === "control") {
      out.push(it.event);
      continue;
    }
    let size = 0;
    for (const f of it.frames) {
      size += f.spec.payload.length;
      if (size > max) return [...out, "fail 1009"];
      for (const c of f.controls) out.push(c.event);
    }
    out.push(`message ${it.binary ? "binary" : "text"} ${hex(it.payload)}`);
  }
  return out;
}

const encodeAll = (frames: FrameSpec[]) => concatAll(frames.map(encodeFrame));

/** A limit at least as large as every message (0 = the ceiling), or any limit at all. */
function limitFor(items: Item[], slack: number, zero: boolean): number {
  if (zero) return 0;
  const biggest = Math.max(
    0,
    ...items.map((it) => (it.kind === "message" ? it.payload.length : 0)),
  );
  return biggest + slack;
}

// ---------------------------------------------------------------------------
// hostile frames: one violation after a valid prefix, and its close code

interface Violation {
  /** What is wrong, for the counterexample report. */
  what: string;
  /** The close code RFC 6455 and the module doc require. */
  code: number;
  /** Frames that open a fragmented message first (when the violation needs one). */
  open: FrameSpec[];
  frame: FrameSpec;
}

function violationArb(maxMessage: number): fc.Arbitrary<Violation> {
  const max = effectiveMax(maxMessage);
  const base = fc.record({
    fin: fc.boolean(),
    mask: maskArb,
    lenForm: lenFormArb,
    payload: fc.uint8Array({ maxLength: 40 }),
  });
  const dataOp = fc.constantFrom(1, 2);
  const anyOp = fc.constantFrom(0, 1, 2, 8, 9, 10);
  /** A fragmented message left open: a first fragment and maybe continuations, FIN clear. */
  const openArb = fc.tuple(dataOp, fc.array(base, { minLength: 1, maxLength: 3 })).map(
    ([op, parts]) => {
      let room = max;
      return parts.map((b, i) => {
        // within the limit, so the violation that follows is what fails
        const p = b.payload.subarray(0, room);
        room -= p.length;
        // ASCII keeps a text message's validity out of the picture
        return frameSpec(i === 0 ? op : 0, false, p.map((x) => x & 0x7f), b.mask, b.lenForm);
      });
    },
  );
  const v = (what: string, code: number, frame: FrameSpec, open: FrameSpec[] = []) => ({
    what,
    code,
    frame,
    open,
  });
  const oversize = (floor: number) =>
    fc.bigInt({ min: BigInt(floor) + 1n, max: 2n ** 63n - 1n }).chain((hi) =>
      fc.oneof(
        fc.constant(hi),
        fc.bigInt({ min: BigInt(floor) + 1n, max: BigInt(floor) + 70_000n }),
      )
    );
  return fc.oneof(
    fc.tuple(base, anyOp, fc.integer({ min: 1, max: 7 })).map(([b, op, rsv]) =>
      v("reserved bits", 1002, { ...frameSpec(op, true, b.payload, b.mask, b.lenForm), rsv })
    ),
    fc.tuple(base, anyOp).map(([b, op]) =>
      v("unmasked", 1002, { ...frameSpec(op, true, b.payload, b.mask, b.lenForm), masked: false })
    ),
    fc.tuple(base, fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15)).map(([b, op]) =>
      v("bad opcode", 1002, frameSpec(op, b.fin, b.payload, b.mask, b.lenForm))
    ),
    fc.tuple(base, fc.constantFrom(8, 9, 10), fc.integer({ min: 126, max: 300 })).map((
      [b, op, n],
    ) => v("control frame over 125", 1002, frameSpec(op, true, filler(n, n), b.mask, b.lenForm))),
    fc.tuple(base, fc.constantFrom(8, 9, 10), oversize(125)).map(([b, op, d]) =>
      v("control frame announcing over 125", 1002, {
        ...frameSpec(op, true, b.payload, b.mask, b.lenForm),
        declared: d,
      })
    ),
    fc.tuple(base, fc.constantFrom(8, 9, 10)).map(([b, op]) =>
      v(
        "fragmented control frame",
        1002,
        frameSpec(op, false, b.payload.subarray(0, 125), b.mask, b.lenForm),
      )
    ),
    base.map((b) =>
      v("continuation with nothing to continue", 1002, frameSpec(0, b.fin, b.payload, b.mask, 0))
    ),
    fc.tuple(base, dataOp, openArb).map(([b, op, open]) =>
      v(
        "data frame inside a fragmented message",
        1002,
        frameSpec(op, b.fin, b.payload, b.mask, b.lenForm),
        open,
      )
    ),
    fc.tuple(base, fc.integer({ min: 0, max: 255 })).map(([b, x]) =>
      v("close payload of 1 byte", 1002, frameSpec(8, true, Uint8Array.of(x), b.mask, b.lenForm))
    ),
    fc.tuple(
      base,
      fc.oneof(
        fc.integer({ min: 0, max: 999 }),
        fc.constantFrom(1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535),
        fc.integer({ min: 1015, max: 2999 }),
        fc.integer({ min: 5000, max: 65535 }),
      ),
    ).map(([b, code]) =>
      v(
        `bad close code ${code}`,
        1002,
        frameSpec(
          8,
          true,
          Uint8Array.of(code >> 8, code & 0xff, ...b.payload.subarray(0, 20)),
          b.mask,
          b.lenForm,
        ),
      )
    ),
    fc.tuple(base, fc.integer({ min: 1000, max: 1003 })).map(([b, code]) =>
      v(
        "close reason not UTF-8",
        1007,
        frameSpec(8, true, Uint8Array.of(code >> 8, code & 0xff, 0x61, 0xc3), b.mask, b.lenForm),
      )
    ),
    // within the limit, or the limit (1009) is what fails first
    fc.tuple(base, fc.uint8Array({ minLength: 1, maxLength: Math.min(60, max) }))
      .filter(([, p]) => !validUtf8(p)).map(([b, p]) =>
        v("text not UTF-8", 1007, frameSpec(1, true, p, b.mask, b.lenForm))
      ),
    fc.tuple(base, dataOp, oversize(max)).map(([b, op, d]) =>
      v("message announcing more than the limit", 1009, {
        ...frameSpec(op, b.fin, b.payload, b.mask, b.lenForm),
        declared: d,
      })
    ),
    fc.tuple(base, openArb, fc.nat()).map(([b, open, extra]) => {
      const have = open.reduce((n, f) => n + f.payload.length, 0);
      const d = BigInt(max - have) + 1n + BigInt(extra % 1000);
      return v(
        "fragment taking the message over the limit",
        1009,
        { ...frameSpec(0, b.fin, b.payload, b.mask, b.lenForm), declared: d },
        open,
      );
    }),
    fc.tuple(base, dataOp, fc.bigInt({ min: 2n ** 63n, max: 2n ** 64n - 1n })).map((
      [b, op, d],
    ) =>
      v("64-bit length with its top bit set", 1002, {
        ...frameSpec(op, true, b.payload, b.mask, 2),
        declared: d,
      })
    ),
  );
}

// ---------------------------------------------------------------------------
// the properties

/** Any frame spec at all: every field random, small payloads. */
const anyFrameArb: fc.Arbitrary<FrameSpec> = fc.record({
  fin: fc.boolean(),
  rsv: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 7 })),
  opcode: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(0, 1, 2) },
    { weight: 5, arbitrary: fc.constantFrom(8, 9, 10) },
    fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15),
  ),
  masked: fc.oneof({ weight: 20, arbitrary: fc.constant(true) }, fc.constant(false)),
  mask: maskArb,
  lenForm: lenFormArb,
  payload: fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 30 }) },
    fc.constantFrom(Uint8Array.of(0x03, 0xe8), Uint8Array.of(0x03, 0xe8, 0xff), Uint8Array.of(1)),
  ),
});

const maxMessageArb = fc.oneof(
  fc.integer({ min: 1, max: 200 }),
  fc.constant(0),
  fc.constant(1 << 20),
);

/** The frame parser's properties. */
export const codecProperties: PropertyCase[] = [
  property(
    "codec: random bytes never throw; chunked = one-shot; nothing after fail; budget",
    3000,
    fc.tuple(fc.uint8Array({ maxLength: 600 }), splitArb, maxMessageArb),
    ([bytes, split, maxMessage]) => {
      parseBothWays(bytes, split, maxMessage);
    },
  ),
  property(
    "codec: valid frame sequences deliver exactly the generated messages, pings and closes",
    300,
    fc.tuple(itemsArb(80_000), splitArb, fc.nat(300), fc.boolean()),
    ([items, split, slack, zero]) => {
      const maxMessage = limitFor(items, slack, zero);
      const events = parseBothWays(encodeAll(itemFrames(items)), split, maxMessage);
      assertEquals(events, expectedEvents(items, maxMessage));
    },
  ),
  property(
    "codec: a message over maxMessage fails 1009 with nothing of it delivered",
    1000,
    fc.tuple(itemsArb(2000), splitArb, fc.integer({ min: 1, max: 500 })),
    ([items, split, maxMessage]) => {
      const events = parseBothWays(encodeAll(itemFrames(items)), split, maxMessage);
      assertEquals(codesOnly(events), expectedEvents(items, maxMessage));
    },
  ),
  property(
    "codec: each protocol violation after valid frames fails with its close code",
    1000,
    maxMessageArb.chain((maxMessage) =>
      fc.tuple(
        fc.constant(maxMessage),
        itemsArb(Math.min(effectiveMax(maxMessage), 300)),
        violationArb(maxMessage),
        fc.uint8Array({ maxLength: 40 }),
        splitArb,
      )
    ),
    ([limit, prefix, violation, garbage, split]) => {
      // the prefix fits the limit (itemsArb's bound); a smaller limit is the previous property's
      const frames = [...itemFrames(prefix), ...violation.open, violation.frame];
      const expected = model(frames, limit);
      // the model agrees with the generator on what this violation is
      assertEquals(expected.at(-1), `fail ${violation.code}`, violation.what);
      const bytes = concatAll([...frames.map(encodeFrame), garbage]);
      const events = parseBothWays(bytes, split, limit);
      assertEquals(codesOnly(events), expected, violation.what);
      // everything before the violation arrived as generated
      assertEquals(expected.slice(0, -1), expectedEvents(prefix, limit));
    },
  ),
  property(
    "codec: arbitrary frame specs parse as the RFC 6455 model says",
    3000,
    fc.tuple(
      fc.array(anyFrameArb, { maxLength: 12 }),
      fc.integer({ min: 0, max: 60 }),
      splitArb,
    ),
    ([frames, maxMessage, split]) => {
      const events = parseBothWays(encodeAll(frames), split, maxMessage);
      assertEquals(codesOnly(events), model(frames, maxMessage));
    },
  ),
  property(
    `codec: at most ${MAX_FRAGMENTS} fragments per message, then 1008`,
    1,
    fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), fc.nat(), fc.boolean()),
    ([cuts, pingAt, binary]) => {
      // the limit exactly, and one fragment more
      for (const count of [MAX_FRAGMENTS, MAX_FRAGMENTS + 1]) {
        const mask = [1, 2, 3, 4];
        const frames: FrameSpec[] = [frameSpec(binary ? 2 : 1, false, Uint8Array.of(65), mask, 0)];
        for (let i = 1; i < count; i++) {
          frames.push(frameSpec(0, i === count - 1, new Uint8Array(0), mask, 0));
          if (i === pingAt % count) frames.push(frameSpec(9, true, Uint8Array.of(1), mask, 0));
        }
        const split: Split = { kind: "cuts", cuts: cuts.map((c) => c * 31) };
        const events = parseBothWays(encodeAll(frames), split, 16);
        assertEquals(codesOnly(events), model(frames, 16));
        assertEquals(events.at(-1)!.startsWith("fail 1008"), count > MAX_FRAGMENTS);
      }
    },
  ),
];
