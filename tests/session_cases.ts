/**
 * One list of session behaviour cases, run against both socket endpoints —
 * the standalone server (raw socket) and the embedded handler
 * (`Deno.upgradeWebSocket`) — so the two cannot drift apart. A case names
 * its server flags, its program, what the client does, and what it must
 * see; where the WebSocket API cannot do what the standalone server does,
 * the case says so in `differs` and checks the documented fallback for each
 * endpoint in `byEndpoint`.
 *
 * Runners: tests/session_cases_test.ts (behaviour) and
 * tests/serial/session_cases_bounds_test.ts (memory and timing bounds).
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { type EndpointKind, startEndpoint } from "./helpers/embedded.ts";
import { RawWs, type Received } from "./helpers/raw_ws.ts";
import { marker, sleep, TESTPROG, type TestServer, waitNoProcesses } from "../testing/server.ts";

/** What a case's functions get. */
export interface CaseContext {
  /** The endpoint under test. */
  kind: EndpointKind;
  /** The running server (either kind). */
  server: TestServer;
  /** Tags the case's processes (see {@link waitNoProcesses}). */
  marker: string;
  /** A temporary directory of the case's own. */
  dir: string;
}

/** One thing the client does. */
export type Step =
  | { send: string }
  | { sendBinary: number[] }
  /** Waits until this many data messages have arrived in all. */
  | { read: number }
  | { clientClose: number; reason?: string }
  /** Drops TCP without a close frame; nothing is read afterwards. */
  | { drop: true }
  | { sleep: number };

/** A message as a case writes it: text, or binary bytes. */
export type Message = string | { binary: number[] };

/** What the client must see. */
export interface Expect {
  /** Data messages in order. */
  messages?: Message[];
  /** Data messages in any order (e.g. stdout and stderr lines). */
  unordered?: Message[];
  /** Whether each message arrived in more than one frame, where it matters. */
  fragmented?: boolean[];
  /** The close frame. */
  close?: { code: number; reason: string | RegExp };
}

/** What the client saw. */
export interface Seen {
  /** Data messages. */
  messages: Message[];
  /** Frames per data message. */
  frames: number[];
  /** The close frame, or eof, or null after a drop. */
  end: Received | null;
  /** Everything, pings included. */
  log: Received[];
}

/** One behaviour case. */
export interface SessionCase {
  /** What it shows. */
  name: string;
  /** Standalone flags, given to both endpoints. */
  flags?: string[];
  /** Settings of the embedded endpoint only (`--embed-max-line=…`). */
  embedFlags?: string[];
  /** The program and its arguments. */
  program: (ctx: { marker: string; dir: string }) => string[];
  /** Request path (and query). */
  path?: string;
  /** Extra handshake headers. */
  headers?: Record<string, string>;
  /** What the client does before it reads to the end. */
  steps?: Step[];
  /** What both endpoints must show. */
  expect?: Expect | ((ctx: CaseContext) => Expect);
  /** Where the endpoints differ: what each must show instead. */
  byEndpoint?: Partial<Record<EndpointKind, Expect>>;
  /** Why they differ (the README's list of differences says the same). */
  differs?: string;
  /** A case that drives its connections itself (measurements, several handshakes). */
  custom?: (ctx: CaseContext) => Promise<void>;
  /** Checks once every program is gone. */
  after?: (ctx: CaseContext, seen: Seen) => Promise<void> | void;
  /** Memory or timing bounds: runs alone, in tests/serial. */
  serial?: boolean;
}

const enc = new TextEncoder();
const prog = (mode: string, ...args: string[]) => ({ marker }: { marker: string }) => [
  TESTPROG,
  marker,
  mode,
  ...args,
];
const MiB = 1024 * 1024;

/** Every case. */
export const CASES: SessionCase[] = [
  {
    name:
      "lines arrive in order: one trailing CR dropped, empty lines kept, a last line without newline delivered",
    program: prog("printf", "a\\r\\nb\\n\\nx\\na\\rb\\nc\\r\\r\\nlast"),
    expect: {
      messages: ["a", "b", "", "x", "a\rb", "c\r", "last"],
      close: { code: 1000, reason: "exit 0" },
    },
  },
  {
    name: "100,000 lines arrive in order, then the close with the exit status",
    program: () => ["seq", "1", "100000"],
    expect: {
      messages: Array.from({ length: 100000 }, (_, i) => String(i + 1)),
      close: { code: 1000, reason: "exit 0" },
    },
  },
  {
    name: "the exit status is the close reason, after the last line",
    program: prog("exit", "3", "bye"),
    expect: { messages: ["bye"], close: { code: 1000, reason: "exit 3" } },
  },
  {
    name: "a program killed by a signal closes with its name",
    program: ({ marker }) => ["sh", "-c", "echo x; kill -9 $$", marker],
    expect: { messages: ["x"], close: { code: 1000, reason: "signal SIGKILL" } },
  },
  {
    name: "invalid UTF-8 output is replaced with U+FFFD",
    program: prog("printf", "bad\\377utf8\\nok\\n"),
    expect: { messages: ["bad\uFFFDutf8", "ok"], close: { code: 1000, reason: "exit 0" } },
  },
  {
    name: "each message is a line of stdin; the client's close code is echoed",
    program: prog("echo"),
    steps: [{ send: "hello" }, { send: "a\nb" }, { read: 3 }, { clientClose: 1000 }],
    expect: { messages: ["hello", "a", "b"], close: { code: 1000, reason: "" } },
  },
  {
    name: "a 200,000-byte line arrives as one message",
    program: prog("bigline", "200000"),
    expect: { messages: ["x".repeat(200000)], close: { code: 1000, reason: "exit 0" } },
    byEndpoint: { standalone: { fragmented: [true] }, embedded: { fragmented: [false] } },
    differs: "the WebSocket API cannot send fragments: the embedded endpoint joins them",
  },
  {
    name: "a line longer than the embedded line bound",
    embedFlags: ["--embed-max-line=100000"],
    program: prog("bigline", "200000"),
    byEndpoint: {
      standalone: { messages: ["x".repeat(200000)], close: { code: 1000, reason: "exit 0" } },
      embedded: { messages: [], close: { code: 1009, reason: "output line over 100000 bytes" } },
    },
    differs: "the embedded endpoint holds a line whole, so it has a bound (maxLine); " +
      "the standalone server streams lines of any length",
  },
  {
    name: "binary mode: bytes both ways, nothing added",
    flags: ["--binary"],
    program: prog("echo"),
    steps: [{ sendBinary: [0, 1, 255] }, { read: 1 }, { send: "hi" }, { read: 2 }, {
      clientClose: 1000,
    }],
    expect: {
      messages: [{ binary: [0, 1, 255] }, { binary: [104, 105] }],
      close: { code: 1000, reason: "" },
    },
  },
  {
    name: "--passstderr: stdout and stderr lines as JSON",
    flags: ["--passstderr"],
    program: prog("stderr"),
    expect: {
      unordered: [
        '{"stream":"stderr","data":"to-stderr-1"}',
        '{"stream":"stdout","data":"to-stdout-1"}',
        '{"stream":"stderr","data":"stderr-fragment"}',
      ],
      close: { code: 1000, reason: "exit 0" },
    },
  },
  {
    name: "the CGI environment: client address, query, path, headers",
    program: prog("env"),
    path: "/ws/a%20b?x=1&y=%20z",
    headers: { "X-Custom": "hello", Origin: "http://app.example" },
    expect: { close: { code: 1000, reason: "exit 0" } },
    after: ({ server }, seen) => checkEnvironment(seen, server.port),
  },
  {
    name: "a message over --maxframesize closes with 1009",
    flags: ["--maxframesize=100"],
    program: prog("echo"),
    steps: [{ send: "x".repeat(100) }, { read: 1 }, { send: "y".repeat(101) }],
    expect: {
      messages: ["x".repeat(100)],
      close: { code: 1009, reason: "message over 100 bytes" },
    },
  },
  {
    name: "a program that cannot start: 101, then close 1011 with the reason",
    program: ({ dir }) => {
      const script = `${dir}/bad-interpreter.sh`;
      Deno.writeTextFileSync(script, "#!/nonexistent/interpreter\necho never\n");
      Deno.chmodSync(script, 0o755);
      return [script];
    },
    expect: { messages: [], close: { code: 1011, reason: /^could not launch program: / } },
  },
  {
    name: "--pingms: a client that never answers pings is dropped with 1001",
    flags: ["--pingms=300"],
    program: prog("echo"),
    byEndpoint: {
      standalone: { messages: [], close: { code: 1001, reason: "ping timeout" } },
      embedded: { messages: [], close: { code: 1001, reason: "No response from ping frame." } },
    },
    differs: "Deno's idleTimeout sends the close itself, with its own reason",
    after: (_ctx, seen) => assert(seen.log.some((r) => r.type === "ping"), "no ping received"),
  },
  {
    name:
      "the stop ladder when the client leaves: stdin EOF, SIGINT after 100 ms, SIGTERM after 250 ms more",
    program: ({ marker, dir }) => [TESTPROG, marker, "trap", `${dir}/signals`],
    steps: [{ read: 1 }, { drop: true }],
    expect: { messages: ["ready"] },
    after: async ({ dir }) => {
      const lines = (await Deno.readTextFile(`${dir}/signals`)).trim().split("\n");
      assertEquals(lines.map((l) => l.split(" ")[0]), ["EOF", "INT", "TERM"]);
      const [eof, int, term] = lines.map((l) => Number(l.split(" ")[1]) / 1e6);
      assertBetweenMs(int! - eof!, 80, 1000, "EOF to SIGINT");
      // the program records a signal only once its `sleep 0.02` is over, plus a fork for the
      // clock: SIGINT seen late shortens the span (CI saw 225 ms); a ladder that skipped the
      // wait would show a few ms
      assertBetweenMs(term! - int!, 200, 1500, "SIGINT to SIGTERM");
    },
  },
  {
    name: "handshake answers in the standalone order: 429, 405, 400, 403, 400",
    flags: ["--maxforks=1", "--origin=http://good.example", "--subprotocol=chat"],
    program: ({ marker }) => ["sh", "-c", 'echo "protocol=$WEBSOCKET_PROTOCOL"; cat', marker],
    custom: checkHandshakeOrder,
  },
  {
    name: "a program that never reads: 1008 after --stallms while input waits",
    flags: ["--stallms=1000"],
    program: prog("noread", "0.2"),
    custom: async ({ server }) => {
      const ws = await RawWs.connect(server.port);
      const started = Date.now();
      // 1.5 MiB: past the 1 MiB high water, within what the embedded endpoint holds
      const sent = ws.send(manyMessages(24, 65536)).catch(() => {});
      const { end } = await ws.collect(10000);
      await sent;
      await ws.drop();
      assertEquals(end, { type: "close", code: 1008, reason: "program is not reading its input" });
      assertBetweenMs(Date.now() - started, 900, 5000, "time to 1008");
    },
    serial: true,
  },
  {
    name: "a client flooding a program that never reads",
    flags: ["--stallms=10000"],
    embedFlags: ["--embed-max-queued-input=262144"],
    program: prog("noread", "0.2"),
    differs: "the WebSocket API cannot stop reading a client: the embedded endpoint holds " +
      "up to maxQueuedInput bytes and then closes with 1008 at once (a client still " +
      "sending may see a reset instead: Deno drops TCP at a data frame after our close); " +
      "the standalone server stops reading (TCP pushes back on the client) and closes " +
      "only after --stallms",
    custom: async ({ server, kind }) => {
      const ws = await RawWs.connect(server.port);
      const sent = ws.send(manyMessages(48, 65536)).catch(() => {}); // 3 MiB
      let end: Received | null = null;
      try {
        end = (await ws.collect(2500)).end;
      } catch { /* still open after 2.5 s */ }
      await ws.drop();
      await sent;
      if (kind === "embedded") {
        // the close frame is sent, but Deno drops TCP at the next message that is not the
        // client's close, and the reset may discard the frame before this client reads it
        assert(
          end?.type === "eof" ||
            (end?.type === "close" && end.code === 1008 &&
              end.reason === "program is not reading its input"),
          `expected close 1008 or a reset, got ${JSON.stringify(end)}`,
        );
        await server.waitLog(/More than 262144 bytes of input wait/);
        await server.waitLog(/close:'1008'.*DISCONNECT/);
      } else assertEquals(end, null, "the standalone server holds the client, no close yet");
    },
    serial: true,
  },
  {
    name: "backpressure: a client that stops reading blocks the program, not our memory",
    program: ({ marker }) => ["yes", `${marker}-${"x".repeat(200)}`],
    custom: async ({ server, marker }) => {
      const conn = await handshakeOnly(server.port);
      try {
        await sleep(1000);
        const [pid] = await pidsOf(marker);
        assert(pid, "yes is not running");
        const rss0 = rssOf(server.pid);
        const wrote0 = wcharOf(pid);
        await sleep(2000);
        const grew = rssOf(server.pid) - rss0;
        const wrote = wcharOf(pid) - wrote0;
        // without backpressure, yes writes gigabytes in 2 s and we would hold them
        assert(wrote < 4 * MiB, `the program wrote ${wrote} bytes while nobody read`);
        assert(grew < 32 * MiB, `the server grew by ${grew} bytes while nobody read`);
      } finally {
        conn.close();
      }
    },
    serial: true,
  },
];

/** Runs one case against one endpoint, and checks that nothing is left behind. */
export async function runCase(c: SessionCase, kind: EndpointKind): Promise<void> {
  const m = marker();
  const dir = await Deno.makeTempDir({ prefix: "wsd-case-" });
  const server = await startEndpoint(
    kind,
    [...(c.flags ?? []), ...c.program({ marker: m, dir })],
    c.embedFlags,
  );
  const ctx: CaseContext = { kind, server, marker: m, dir };
  try {
    let seen: Seen = { messages: [], frames: [], end: null, log: [] };
    if (c.custom) await c.custom(ctx);
    else seen = await converse(c, ctx);
    assertEquals(await waitNoProcesses(m), [], "processes left behind");
    await c.after?.(ctx, seen);
  } finally {
    const status = await server.stop();
    await Deno.remove(dir, { recursive: true });
    assertEquals(status.code, 0, `server exit status; log:\n${server.lines.join("\n")}`);
  }
}

/** The declarative part: steps, then read to the end, then compare. */
async function converse(c: SessionCase, ctx: CaseContext): Promise<Seen> {
  const ws = await RawWs.connect(ctx.server.port, { path: c.path, headers: c.headers });
  assertEquals(ws.response.status, 101, ws.response.body);
  const seen: Seen = { messages: [], frames: [], end: null, log: ws.log };
  const take = (r: Received): boolean => {
    if (r.type === "text") seen.messages.push(r.text);
    else if (r.type === "binary") seen.messages.push({ binary: [...r.bytes] });
    else if (r.type === "close" || r.type === "eof") {
      seen.end = r;
      return false;
    } else return true;
    seen.frames.push(r.frames);
    return true;
  };
  let dropped = false;
  try {
    for (const step of c.steps ?? []) {
      if ("send" in step) await ws.sendText(step.send);
      else if ("sendBinary" in step) await ws.sendBinary(new Uint8Array(step.sendBinary));
      else if ("clientClose" in step) await ws.sendClose(step.clientClose, step.reason);
      else if ("sleep" in step) await sleep(step.sleep);
      else if ("drop" in step) {
        dropped = true;
        await ws.drop();
        break;
      } else {
        while (seen.messages.length < step.read && !seen.end) take(await ws.next(10000));
      }
    }
    while (!dropped && !seen.end) take(await ws.next(15000));
  } finally {
    await ws.drop();
  }
  const expected: Expect = {
    ...(typeof c.expect === "function" ? c.expect(ctx) : c.expect),
    ...c.byEndpoint?.[ctx.kind],
  };
  if (expected.messages) assertEquals(seen.messages, expected.messages);
  if (expected.unordered) {
    const key = (m: Message) => JSON.stringify(m);
    assertEquals(seen.messages.map(key).sort(), expected.unordered.map(key).sort());
  }
  if (expected.fragmented) assertEquals(seen.frames.map((n) => n > 1), expected.fragmented);
  if (expected.close) {
    const end = seen.end;
    assert(end?.type === "close", `expected a close frame, got ${JSON.stringify(end)}`);
    assertEquals(end.code, expected.close.code, `close reason: ${end.reason}`);
    if (typeof expected.close.reason === "string") assertEquals(end.reason, expected.close.reason);
    else assertMatch(end.reason, expected.close.reason);
  }
  return seen;
}

/** The program's environment, as the standalone server computes it. */
function checkEnvironment(seen: Seen, port: number): void {
  const env = new Map<string, string>();
  for (const m of seen.messages) {
    const line = m as string;
    const i = line.indexOf("=");
    env.set(line.slice(0, i), line.slice(i + 1));
  }
  const exact: Record<string, string> = {
    AUTH_TYPE: "",
    CONTENT_LENGTH: "",
    CONTENT_TYPE: "",
    GATEWAY_INTERFACE: "CGI/1.1",
    HTTP_CONNECTION: "Upgrade",
    HTTP_ORIGIN: "http://app.example",
    HTTP_SEC_WEBSOCKET_VERSION: "13",
    HTTP_UPGRADE: "websocket",
    HTTP_X_CUSTOM: "hello",
    PATH_INFO: "/ws/a b",
    PATH_TRANSLATED: "/ws/a b",
    QUERY_STRING: "x=1&y=%20z",
    REMOTE_ADDR: "127.0.0.1",
    REMOTE_HOST: "127.0.0.1",
    REMOTE_IDENT: "",
    REMOTE_USER: "",
    REQUEST_METHOD: "GET",
    REQUEST_URI: "/ws/a%20b?x=1&y=%20z",
    SCRIPT_NAME: "/",
    SERVER_NAME: "127.0.0.1",
    SERVER_PORT: String(port),
    SERVER_PROTOCOL: "HTTP/1.1",
  };
  const shaped: Record<string, RegExp> = {
    HTTP_SEC_WEBSOCKET_KEY: /^[A-Za-z0-9+/]{22}==$/,
    PATH: /./,
    PWD: /./, // set by the shell that runs testprog.sh
    REMOTE_PORT: /^\d+$/,
    SERVER_SOFTWARE: /^websocketd\//,
    UNIQUE_ID: /^\d+$/,
  };
  const want = [...Object.keys(exact), ...Object.keys(shaped)].sort();
  assertEquals([...env.keys()].sort(), want);
  for (const [k, v] of Object.entries(exact)) assertEquals(env.get(k), v, k);
  for (const [k, re] of Object.entries(shaped)) assertMatch(env.get(k)!, re, k);
}

/** The refusals of {@link SessionCase.custom} "handshake answers…", in order. */
async function checkHandshakeOrder({ server, kind }: CaseContext): Promise<void> {
  const good = { Origin: "http://good.example", "Sec-WebSocket-Protocol": "other, chat" };
  const answer = async (opts: Parameters<typeof RawWs.connect>[1]) => {
    const ws = await RawWs.connect(server.port, opts);
    await ws.drop();
    return `${ws.response.status} ${ws.response.body}`;
  };
  assertEquals(await answer({ method: "POST", headers: good }), "405 405 Method Not Allowed\n");
  assertEquals(
    await answer({ headers: { ...good, "Sec-WebSocket-Version": "12" } }),
    "400 400 Bad Request: unsupported Sec-WebSocket-Version (need 13)\n",
  );
  assertEquals(
    await answer({ headers: { ...good, Origin: "http://evil.example" } }),
    "403 403 Forbidden: origin not allowed\n",
  );
  assertEquals(
    await answer({ headers: { ...good, "Sec-WebSocket-Protocol": "other" } }),
    "400 400 Bad Request: none of the offered subprotocols is supported\n",
  );
  const held = await RawWs.connect(server.port, { headers: good });
  assertEquals(held.response.status, 101);
  assertEquals(held.response.headers.get("sec-websocket-protocol"), "chat");
  assertEquals(await held.text(), "protocol=chat");
  // the fork slot is taken first: a full server answers 429 even to a POST
  assertEquals(await answer({ method: "POST", headers: good }), "429 429 Too Many Requests\n");
  assertEquals(await answer({ headers: good }), "429 429 Too Many Requests\n");
  await held.close();
  // a plain HTTP request: the standalone server has nothing to serve (404); the handler
  // only speaks WebSocket (426 with Upgrade: websocket)
  const plain = await fetch(server.http("/ws"));
  const body = await plain.text();
  if (kind === "standalone") assertEquals(plain.status, 404);
  else {
    assertEquals([plain.status, plain.headers.get("upgrade")], [426, "websocket"]);
    assertEquals(body, "426 Upgrade Required: this URL speaks WebSocket only\n");
  }
}

/** `n` masked text messages of `size` bytes, in one buffer. */
function manyMessages(n: number, size: number): Uint8Array {
  const one = clientText(size);
  const out = new Uint8Array(one.length * n);
  for (let i = 0; i < n; i++) out.set(one, i * one.length);
  return out;
}

function clientText(size: number): Uint8Array {
  const payload = new Uint8Array(size).fill(0x61);
  const head = new Uint8Array([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  new DataView(head.buffer).setBigUint64(2, BigInt(size));
  // mask 0: the payload goes as it is
  const out = new Uint8Array(head.length + size);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** A handshake whose connection is never read again (a client that stopped reading). */
async function handshakeOnly(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(enc.encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  // read the 101 and nothing more (a byte at a time, so no frame is consumed)
  const one = new Uint8Array(1);
  let head = "";
  while (!head.endsWith("\r\n\r\n")) {
    if ((await conn.read(one)) === null) throw new Error("closed during the handshake");
    head += String.fromCharCode(one[0]!);
  }
  assertMatch(head, /^HTTP\/1.1 101/);
  return conn;
}

async function pidsOf(m: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-f", m], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
}

function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function wcharOf(pid: number): number {
  return Number(/wchar:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/io`))![1]);
}

function assertBetweenMs(ms: number, min: number, max: number, what: string): void {
  assert(ms >= min && ms <= max, `${what}: ${ms.toFixed(0)} ms, not within [${min}, ${max}]`);
}
