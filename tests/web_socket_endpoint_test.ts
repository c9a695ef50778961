/**
 * The embedded socket endpoint on its own, over a fake WebSocket: what it
 * does where the WebSocket API cannot do what a raw socket does (held
 * output before the open, joined fragments, held input while paused, close
 * codes the API refuses, a guarded handler that throws).
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { FrameBuilder } from "../lib/ws/frames.ts";
import { Close, Op } from "../lib/ws/protocol.ts";
import type { CloseInfo, MessageSink } from "../lib/session/endpoints.ts";
import { apiCloseCode, WebSocketEndpoint } from "../lib/ws/web_socket_endpoint.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The part of a server WebSocket the endpoint uses, recording what it is asked to do. */
class FakeWs extends EventTarget {
  binaryType: BinaryType = "blob";
  bufferedAmount = 0;
  readyState: number = WebSocket.CONNECTING;
  sent: (string | number[])[] = [];
  closes: [number, string][] = [];
  /** Refuse codes as the WHATWG API does for scripts (only 1000 and 3000-4999). */
  strict = false;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;

  send(data: string | Uint8Array): void {
    if (this.readyState !== WebSocket.OPEN) throw new DOMException("not open", "InvalidStateError");
    this.sent.push(typeof data === "string" ? data : [...data]);
  }
  close(code: number, reason: string): void {
    if (this.strict && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException("bad code", "InvalidAccessError");
    }
    this.closes.push([code, reason]);
    this.readyState = WebSocket.CLOSING;
  }
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.onopen?.(new Event("open"));
  }
  message(data: string | Uint8Array): void {
    const d = typeof data === "string" ? data : data.slice().buffer;
    this.onmessage?.(new MessageEvent("message", { data: d }));
  }
  closeEvent(code: number, reason = "", wasClean = true): void {
    this.readyState = WebSocket.CLOSED;
    this.onclose?.(new CloseEvent("close", { code, reason, wasClean }));
  }
}

function endpoint(
  opts: Partial<{ maxMessage: number; maxQueuedInput: number; maxLine: number }> = {},
) {
  const ws = new FakeWs();
  const reports: string[] = [];
  const ep = new WebSocketEndpoint(ws as unknown as WebSocket, {
    maxMessage: opts.maxMessage ?? 1024,
    maxQueuedInput: opts.maxQueuedInput ?? 100,
    maxLine: opts.maxLine ?? 1 << 20,
    report: (m) => reports.push(m),
  });
  const got: string[] = [];
  const sink: MessageSink = {
    message: (binary, payload) => got.push(`${binary ? "b" : "t"}:${dec.decode(payload)}`),
    batchEnd: () => got.push("|"),
  };
  ep.start(sink);
  return { ws, ep, got, reports };
}

/** Server frames as the framer builds them. */
function frames(...list: [number, boolean, string][]): Uint8Array {
  const b = new FrameBuilder(64);
  for (const [op, fin, text] of list) b.frame(op, fin, enc.encode(text));
  return b.result()!;
}

/** Settles the endpoint's closed promise (its close timer) for the sanitizers. */
async function settle(ep: WebSocketEndpoint, ws: FakeWs): Promise<CloseInfo> {
  ws.closeEvent(1005);
  return await ep.closed;
}

Deno.test("close codes the API refuses map to 4000 + (code - 1000)", () => {
  assertEquals(
    [1000, 1001, 1003, 1008, 1009, 1011, 3000, 4999].map(apiCloseCode),
    [1000, 4001, 4003, 4008, 4009, 4011, 3000, 4999],
  );
});

Deno.test("close sends our code as it is; where close() refuses it, the mapped code with the reason", async () => {
  const plain = endpoint();
  plain.ws.open();
  plain.ep.close(Close.policyViolation, "program is not reading its input");
  assertEquals(plain.ws.closes, [[1008, "program is not reading its input"]]);
  assertEquals(await settle(plain.ep, plain.ws), {
    code: 1008,
    reason: "program is not reading its input",
    by: "server",
  });

  const strict = endpoint();
  strict.ws.strict = true;
  strict.ws.open();
  strict.ep.close(Close.tooBig, "message over 10 bytes");
  assertEquals(strict.ws.closes, [[4009, "message over 10 bytes"]]);
  // the session still records our own code
  assertEquals((await settle(strict.ep, strict.ws)).code, 1009);
});

Deno.test("output before the open is held, then sent in order, then the close", async () => {
  const { ws, ep } = endpoint();
  ep.send(frames([Op.text, true, "one"], [Op.text, true, "two"]));
  ep.send(frames([Op.binary, true, "AB"]));
  ep.close(Close.normal, "exit 0");
  assertEquals(ws.sent, []);
  assertEquals(ep.queued, 8);
  ws.open();
  assertEquals(ws.sent, ["one", "two", [65, 66]]);
  assertEquals(ws.closes, [[1000, "exit 0"]]);
  await settle(ep, ws);
});

Deno.test("a fragmented line is sent whole; one over maxLine closes with 1009", async () => {
  const a = endpoint();
  a.ws.open();
  a.ep.send(frames([Op.text, false, "ab"], [Op.continuation, false, "cd"]));
  assertEquals(a.ws.sent, []);
  a.ep.send(frames([Op.continuation, true, "e"], [Op.text, true, "next"]));
  assertEquals(a.ws.sent, ["abcde", "next"]);
  a.ep.close(Close.normal);
  await settle(a.ep, a.ws);

  const b = endpoint({ maxLine: 4 });
  b.ws.open();
  b.ep.send(frames([Op.text, false, "abc"], [Op.continuation, false, "de"], [Op.text, true, "x"]));
  assertEquals(b.ws.sent, []);
  assertEquals(b.ws.closes, [[1009, "output line over 4 bytes"]]);
  assertEquals(b.reports, ["An output line is over 4 bytes; closing"]);
  await settle(b.ep, b.ws);
});

Deno.test("while paused, input is held up to maxQueuedInput and delivered in order on resume", async () => {
  const { ws, ep, got } = endpoint({ maxQueuedInput: 10 });
  ws.open();
  ws.message("a");
  ep.pause();
  ws.message("bcd");
  ws.message(enc.encode("efg"));
  assertEquals(got, ["t:a", "|"]);
  ep.resume();
  // a message that arrives before the held ones went on queues behind them
  ws.message("h");
  await Promise.resolve();
  assertEquals(got, ["t:a", "|", "t:bcd", "b:efg", "t:h", "|"]);
  ep.pause();
  ws.message("0123456789");
  ws.message("x"); // 11 bytes held: one too many
  assertEquals(ws.closes, [[1008, "program is not reading its input"]]);
  await settle(ep, ws);
});

Deno.test("a message over maxMessage closes with 1009; nothing after our close reaches the program", async () => {
  const { ws, ep, got } = endpoint({ maxMessage: 4 });
  ws.open();
  ws.message("1234");
  ws.message("12345");
  ws.message("late");
  assertEquals(got, ["t:1234", "|"]);
  assertEquals(ws.closes, [[1009, "message over 4 bytes"]]);
  await settle(ep, ws);
});

Deno.test("how it ended: the peer's close, Deno's ping timeout, a lost connection", async () => {
  const peer = endpoint();
  peer.ws.open();
  peer.ws.closeEvent(4321, "bye");
  assertEquals(await peer.ep.closed, { code: 4321, reason: "bye", by: "peer" });

  const ping = endpoint();
  ping.ws.open();
  ping.ws.onerror?.(new ErrorEvent("error", { message: "No response from ping frame." }));
  ping.ws.closeEvent(1001, "No response from ping frame.", false);
  assertEquals(await ping.ep.closed, { code: 1001, reason: "ping timeout", by: "server" });

  const lost = endpoint();
  lost.ws.open();
  lost.ws.onerror?.(new ErrorEvent("error", { message: "Unexpected EOF" }));
  lost.ws.closeEvent(0, "", false);
  assertEquals(await lost.ep.closed, { code: 1006, reason: "Unexpected EOF", by: "network" });
});

Deno.test("input held when the peer closes still reaches the program", async () => {
  const { ws, ep, got } = endpoint();
  ws.open();
  ep.pause();
  ws.message("kept");
  ws.closeEvent(1000);
  assertEquals(got, ["t:kept", "|"]);
  assertEquals((await ep.closed).by, "peer");
});

Deno.test("an exception in a handler ends the connection (1011), not the process", async () => {
  const ws = new FakeWs();
  const reports: string[] = [];
  const ep = new WebSocketEndpoint(ws as unknown as WebSocket, {
    maxMessage: 100,
    maxQueuedInput: 100,
    maxLine: 100,
    report: (m) => reports.push(m),
  });
  ep.start({
    message() {
      throw new Error("boom");
    },
    batchEnd() {},
  });
  ws.open();
  ws.message("x"); // must not throw
  assertEquals(ws.closes, [[1011, ""]]);
  assert(reports[0]?.startsWith("WebSocket handler failed: Error: boom"), reports[0]);
  assertEquals((await ep.closed).code, 1011);
});

Deno.test("congested follows bufferedAmount; drain resolves once it falls", async () => {
  const { ws, ep } = endpoint();
  ws.open();
  ws.bufferedAmount = 1 << 20;
  assert(ep.congested);
  let drained = false;
  const d = ep.drain().then(() => (drained = true));
  await new Promise((r) => setTimeout(r, 5));
  assert(!drained, "drained while still congested");
  ws.bufferedAmount = 0;
  await d;
  assert(!ep.congested);
  ep.close(Close.normal);
  await settle(ep, ws);
});

Deno.test("a socket that never opens counts as lost (Deno fires nothing for a client gone before the 101)", async () => {
  const ws = new FakeWs();
  const ep = new WebSocketEndpoint(ws as unknown as WebSocket, {
    maxMessage: 100,
    maxQueuedInput: 100,
    maxLine: 100,
    openWaitMs: 20,
  });
  ep.send(frames([Op.text, true, "held"]));
  assertEquals(await ep.closed, {
    code: 1006,
    reason: "the socket never opened",
    by: "network",
  });
});
