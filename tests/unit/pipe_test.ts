/**
 * `pipe()` in process, between a fake program and a fake client: every rule
 * the pipe owns (order, framing modes, exit status in the close, who stops
 * whom, backpressure both ways, the stall rule, half-closes, a program that
 * stops reading), each in milliseconds and step by step.
 */

import { pipe, type PipeOptions, type SessionSummary } from "../../lib/session/pipe.ts";
import { Close } from "../../lib/ws/protocol.ts";
import { assert, assertEquals } from "../../testing/assert.ts";
import {
  capturingLogger,
  FakeProcess,
  type FakeProcessOptions,
  FakeSocket,
  type FakeSocketOptions,
  type LogRecord,
  settle,
} from "./fakes.ts";

interface Run {
  proc: FakeProcess;
  sock: FakeSocket;
  done: Promise<SessionSummary>;
  logs: LogRecord[];
  firstMessage: number[];
}

/** Starts a pipe between fresh fakes. */
function run(
  opts: Partial<Omit<PipeOptions, "log" | "fields">> & {
    process?: FakeProcessOptions;
    socket?: FakeSocketOptions;
  } = {},
): Run {
  const proc = new FakeProcess(opts.process);
  const sock = new FakeSocket(opts.socket);
  const { log, lines } = capturingLogger();
  const firstMessage: number[] = [];
  const done = pipe(proc, sock, {
    binary: opts.binary ?? false,
    passStderr: opts.passStderr ?? false,
    inboundHighWater: opts.inboundHighWater ?? 1024,
    stallMs: opts.stallMs ?? 60_000,
    log,
    fields: { id: "t1" },
    onFirstMessage: (ms) => firstMessage.push(ms),
  });
  return { proc, sock, done, logs: lines, firstMessage };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- output: order and framing ----

Deno.test("pipe: lines arrive in order, CRLF loses its CR, a last line without newline comes at exit, then the close", async () => {
  const { proc, sock, done, firstMessage } = run();
  assert(sock.started, "the socket is started at once");
  proc.stdout.push("one\ntw");
  proc.stdout.push("o\r\nthree\r\n\nlast");
  proc.exit(0);
  const summary = await done;
  assertEquals(sock.received(), [
    { type: "text", text: "one", frames: 1 },
    { type: "text", text: "two", frames: 1 },
    { type: "text", text: "three", frames: 1 },
    { type: "text", text: "", frames: 1 },
    { type: "text", text: "last", frames: 1 },
    { type: "close", code: Close.normal, reason: "exit 0" },
  ]);
  assertEquals(summary.status, "exit 0");
  assertEquals(summary.close, { code: 1000, reason: "exit 0", by: "server" });
  assertEquals([summary.messagesOut, summary.bytesOut], [5, "one\ntwo\r\nthree\r\n\nlast".length]);
  assertEquals(firstMessage.length, 1, "onFirstMessage is told once");
  assertEquals(sock.sentAfterClose, 0);
});

Deno.test("pipe: binary mode sends each read as one binary message and passes input byte for byte", async () => {
  const { proc, sock, done } = run({ binary: true });
  proc.stdout.push(new Uint8Array([0, 1, 10, 255]));
  proc.stdout.push(new Uint8Array([13, 10]));
  await settle();
  sock.deliver(new Uint8Array([1, 2, 3]), new Uint8Array([4]));
  await settle();
  proc.exit(0);
  await done;
  const got = sock.received();
  assertEquals(got.slice(0, 2), [
    { type: "binary", bytes: new Uint8Array([0, 1, 10, 255]), frames: 1 },
    { type: "binary", bytes: new Uint8Array([13, 10]), frames: 1 },
  ]);
  assertEquals(got[2], { type: "close", code: 1000, reason: "exit 0" });
  // one batch, one write; nothing appended in binary mode
  assertEquals(proc.writes, [new Uint8Array([1, 2, 3, 4])]);
});

Deno.test("pipe: text mode writes each message as a line, one write per network read", async () => {
  const { proc, sock, done } = run();
  sock.deliver("a", "b c");
  sock.deliver("é");
  await settle();
  proc.exit(0);
  const summary = await done;
  assertEquals(proc.writes.length, 2);
  assertEquals(proc.stdinText, "a\nb c\né\n");
  assertEquals([summary.messagesIn, summary.bytesIn], [
    3,
    new TextEncoder().encode("a\nb c\né\n").length,
  ]);
});

Deno.test("pipe: --passstderr wraps stdout and stderr lines as JSON, and stderr is still logged", async () => {
  const { proc, sock, done, logs } = run({ passStderr: true });
  proc.stdout.push('say "hi"\n');
  await settle();
  proc.stderr.push("oops\r\n");
  await settle();
  proc.stdout.push("tail");
  proc.stderr.push("late");
  proc.exit(0);
  const summary = await done;
  const texts = sock.texts().map((t) => JSON.parse(t));
  assertEquals(texts, [
    { stream: "stdout", data: 'say "hi"' },
    { stream: "stderr", data: "oops" },
    { stream: "stdout", data: "tail" },
    { stream: "stderr", data: "late" },
  ]);
  assertEquals(sock.received().at(-1), { type: "close", code: 1000, reason: "exit 0" });
  assertEquals(summary.messagesOut, 4);
  assertEquals(
    logs.filter((l) => l.category === "stderr").map((l) => [l.level, l.msg, l.id]),
    [["error", "oops", "t1"], ["error", "late", "t1"]],
  );
});

Deno.test("pipe: without --passstderr, stderr only goes to the log at ERROR", async () => {
  const { proc, sock, done, logs } = run();
  proc.stderr.push("warn 1\nwarn 2");
  proc.stdout.push("out\n");
  proc.exit(0);
  await done;
  assertEquals(sock.texts(), ["out"]);
  assertEquals(logs.filter((l) => l.category === "stderr").map((l) => l.msg), [
    "warn 1",
    "warn 2",
  ]);
});

// ---- how it ends ----

Deno.test("pipe: the exit status is the close reason: exit 3, signal SIGKILL", async () => {
  for (
    const [status, reason] of [
      [{ code: 3, signal: null }, "exit 3"],
      [{ code: 137, signal: "SIGKILL" as Deno.Signal }, "signal SIGKILL"],
    ] as const
  ) {
    const { proc, sock, done } = run();
    proc.stdout.push("x\n");
    proc.exit(status);
    const summary = await done;
    assertEquals(sock.closeFrame(), { code: Close.normal, reason });
    assertEquals(summary.status, reason);
    assertEquals(summary.close.by, "server");
    // the program had ended: stop() still runs (it reaps), but finds nothing to stop
    assertEquals(proc.stopCalls >= 1, true);
  }
});

Deno.test("pipe: the client closing stops the program at once; the summary says by peer", async () => {
  const { proc, sock, done } = run({
    process: { onStop: { status: { code: 130, signal: "SIGINT" }, step: "SIGINT" } },
  });
  proc.stdout.push("hello\n");
  await settle();
  assertEquals(proc.stopCalls, 0);
  sock.peerClose(Close.goingAway, "bye");
  const summary = await done;
  assert(proc.stopCalls >= 1, "stop() called");
  assertEquals(summary.close, { code: 1001, reason: "bye", by: "peer" });
  assertEquals(summary.status, "signal SIGINT");
  assertEquals(sock.closeCalls, [], "the pipe does not close a socket the peer closed");
  assertEquals(sock.texts(), ["hello"]);
});

Deno.test("pipe: a connection lost without a close frame stops the program too (by network)", async () => {
  const { proc, sock, done } = run();
  sock.drop();
  const summary = await done;
  assertEquals(proc.stopCalls >= 1, true);
  assertEquals(summary.close, { code: Close.abnormal, reason: "connection lost", by: "network" });
});

// ---- backpressure ----

Deno.test("pipe: a congested client makes the pipe wait for drain before reading more stdout", async () => {
  const { proc, sock, done } = run();
  sock.congested = true;
  proc.stdout.push("a\n");
  proc.stdout.push("b\n");
  proc.stdout.push("c\n");
  await settle();
  // one read, one send, then waiting for the client
  assertEquals(proc.stdout.reads, 1);
  assertEquals(sock.texts(), ["a"]);
  assertEquals(sock.drainCalls, 1);
  assertEquals(proc.stdout.pending, 2, "the program's output stays in its pipe");
  await sleep(5);
  assertEquals(proc.stdout.reads, 1, "still waiting, however long it takes");
  sock.congested = false;
  await settle();
  assertEquals(sock.texts(), ["a", "b", "c"]);
  assertEquals(proc.stdout.pending, 0);
  proc.exit(0);
  await done;
  // drain is asked for only while congested
  assertEquals(sock.drainCalls, 1);
});

Deno.test("pipe: inbound backpressure: stdin writes over the high water pause the socket; half of it resumes", async () => {
  const { proc, sock, done } = run({ process: { stdin: "block" }, inboundHighWater: 10 });
  sock.deliver("hello"); // 6 bytes pending
  await settle();
  assertEquals(sock.paused, false);
  sock.deliver("world"); // 12 > 10
  await settle();
  assertEquals(sock.paused, true);
  assertEquals(sock.events.filter((e) => e === "pause").length, 1);
  sock.deliver("again"); // a read already in flight still arrives (18): no second pause
  await settle();
  assertEquals(sock.events.filter((e) => e === "pause").length, 1);
  proc.release(1); // 12 left > 5
  await settle();
  assertEquals(sock.paused, true);
  proc.release(1); // 6 left > 5
  await settle();
  assertEquals(sock.paused, true);
  proc.release(1); // 0 left <= 5
  await settle();
  assertEquals(sock.paused, false);
  assertEquals(sock.events.filter((e) => e === "resume").length, 1);
  proc.exit(0);
  const summary = await done;
  assertEquals(proc.stdinText, "hello\nworld\nagain\n");
  assertEquals([summary.messagesIn, summary.bytesIn], [3, 18]);
});

Deno.test("pipe: a program that takes no input for stallMs while paused is given up with 1008", async () => {
  const started = performance.now();
  const { proc, sock, done, logs } = run({
    process: { stdin: "block", onStop: { status: { code: 143, signal: "SIGTERM" } } },
    inboundHighWater: 4,
    stallMs: 20,
  });
  sock.deliver("too much");
  await settle();
  assertEquals(sock.paused, true);
  const summary = await done;
  const waited = performance.now() - started;
  // the stall clock is Date.now() (1 ms steps), counted from the last progress (here: the start)
  assert(waited >= 18, `gave up after ${waited} ms, before stallMs`);
  assertEquals(sock.closeCalls[0], {
    code: Close.policyViolation,
    reason: "program is not reading its input",
  });
  assertEquals(summary.close, {
    code: 1008,
    reason: "program is not reading its input",
    by: "server",
  });
  assert(proc.stopCalls >= 1, "the program is stopped");
  const stall = logs.filter((l) => /has not read its input for 20ms with 9 bytes/.test(l.msg));
  assertEquals(stall.length, 1);
  assertEquals(stall[0]!.level, "error");
});

Deno.test("pipe: a paused program that keeps taking input, however slowly, is not given up", async () => {
  const { proc, sock, done } = run({
    process: { stdin: "block" },
    inboundHighWater: 4,
    stallMs: 250,
  });
  sock.deliver("aaaa");
  sock.deliver("bbbb");
  sock.deliver("cccc");
  await settle();
  assertEquals(sock.paused, true);
  // one write taken every 100 ms: 300 ms paused in all, but progress within every stallMs
  // (wide margins: timers run late on a loaded machine)
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    proc.release(1);
  }
  await settle();
  assertEquals(sock.closeCalls, []);
  assertEquals(sock.paused, false);
  proc.exit(0);
  const summary = await done;
  assertEquals(summary.close.code, 1000);
});

// ---- half-closes ----

Deno.test("pipe: a program that closes stdout but keeps running is stopped, and the close comes after", async () => {
  const { proc, sock, done } = run({
    process: { onStop: { status: { code: 143, signal: "SIGTERM" }, step: "SIGTERM" } },
  });
  proc.stdout.push("bye\n");
  proc.stdout.end();
  proc.stderr.end();
  await settle();
  assert(proc.stopCalls >= 1, "stop ladder started once stdout ended");
  const summary = await done;
  assertEquals(sock.received(), [
    { type: "text", text: "bye", frames: 1 },
    { type: "close", code: 1000, reason: "signal SIGTERM" },
  ]);
  // stop, then exit, then (only then) the close frame with the status
  assertEquals(proc.events.indexOf("stop") < proc.events.indexOf("exit"), true);
  assertEquals(summary.status, "signal SIGTERM");
});

Deno.test("pipe: a program slow to die after its stdout closed: the close waits for its status", async () => {
  const { proc, sock, done } = run({ process: { onStop: "manual" } });
  proc.stdout.end();
  proc.stderr.end();
  await sleep(5);
  assertEquals(proc.stopCalls >= 1, true);
  assertEquals(sock.closeCalls, [], "no close before the status is known");
  proc.exit(5);
  await done;
  assertEquals(sock.closeFrame(), { code: 1000, reason: "exit 5" });
});

Deno.test("pipe: after the client left, the program is stopped and its output drained, not sent", async () => {
  const { proc, sock, done } = run({ process: { onStop: "manual" } });
  proc.stdout.push("before\n");
  await settle();
  sock.peerClose();
  await settle();
  assertEquals(proc.stopCalls >= 1, true);
  // the program still writes while it dies: read and dropped, so it never blocks on a full pipe
  proc.stdout.push("after 1\n");
  proc.stdout.push("after 2\n");
  await settle();
  assertEquals(proc.stdout.pending, 0, "drained");
  proc.exit({ code: 130, signal: "SIGINT" });
  const summary = await done;
  assertEquals(sock.texts(), ["before"]);
  assertEquals(sock.sentAfterClose, 0);
  assertEquals(summary.bytesOut, "before\nafter 1\nafter 2\n".length);
  assertEquals(summary.status, "signal SIGINT");
  assertEquals(summary.close.by, "peer");
  assert(proc.stdout.cancelled && proc.stderr.cancelled, "readers cancelled at the end");
});

// ---- a program that stops reading ----

Deno.test("pipe: input for a program that closed its stdin is dropped and logged once", async () => {
  const { proc, sock, done, logs } = run({ process: { stdin: "refuse" } });
  sock.deliver("one");
  await settle();
  sock.deliver("two", "three");
  await settle();
  proc.stdout.push("still talking\n");
  proc.exit(0);
  const summary = await done;
  assertEquals(sock.texts(), ["still talking"]);
  assertEquals(summary.messagesIn, 3);
  assertEquals(summary.bytesIn, 0);
  const errors = logs.filter((l) => l.level === "error" && l.category === "session");
  assertEquals(errors.map((l) => l.msg), [
    "Program closed its stdin; input from the client is discarded from now on",
  ]);
  // the first batch was offered (and refused); later ones are not even offered
  assertEquals(proc.writes.length, 1);
  assertEquals(
    logs.filter((l) => l.level === "debug" && /^Discarded/.test(l.msg)).map((l) => l.msg),
    ["Discarded 4 bytes of input", "Discarded 10 bytes of input"],
  );
});

Deno.test("pipe: input refused while the session ends is not reported as a broken stdin", async () => {
  const { proc, sock, done, logs } = run({ process: { stdin: "block", onStop: "manual" } });
  sock.deliver("pending");
  await settle();
  sock.peerClose();
  await settle();
  proc.exit(0); // the pending write fails now: expected, the session is over
  await done;
  assertEquals(logs.filter((l) => l.level === "error"), []);
});
