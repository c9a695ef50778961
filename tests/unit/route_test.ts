/**
 * The route table (lib/server/route.ts ROUTES) in process: its order is the
 * one its module documentation (and the README) states, and the routes that
 * need nothing but the request and a few settings answer as documented.
 * Whole requests through a real server: tests/handshake_test.ts, ops_test.ts.
 */

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { RequestFacts } from "../../lib/http/request.ts";
import type { ServerContext } from "../../lib/server/context.ts";
import { Metrics } from "../../lib/server/metrics.ts";
import { type Exchange, ROUTES } from "../../lib/server/route.ts";
import { assert, assertEquals } from "../../testing/assert.ts";
import { capturingLogger, type LogRecord, requestFacts } from "./fakes.ts";

Deno.test("ROUTES: the names, in the order the module's table documents", async () => {
  const source = await Deno.readTextFile(new URL("../../lib/server/route.ts", import.meta.url));
  const documented = [...source.matchAll(/^ \* \|\s*(\d+)\s*\|\s*([a-z ]+?)\s*\|/gm)]
    .map((m) => [Number(m[1]), m[2]] as const);
  assertEquals(documented.map(([n]) => n), documented.map((_, i) => i + 1), "rows numbered 1..n");
  assertEquals(ROUTES.map((r) => r.name), documented.map(([, name]) => name));
  assertEquals(ROUTES.map((r) => r.name), [
    "draining",
    "malformed path",
    "host",
    "http version",
    "clean path",
    "health",
    "credentials",
    "metrics",
    "websocket",
    "console",
    "cgi",
    "static",
    "not found",
  ]);
});

/** The settings the cheap routes read; everything else is absent (null). */
interface FakeSettings {
  draining?: boolean;
  healthPath?: string;
  metricsPath?: string;
}

function context(s: FakeSettings = {}): { ctx: ServerContext; logs: LogRecord[] } {
  const { log, lines } = capturingLogger();
  const metrics = new Metrics();
  const ctx = {
    config: { healthPath: s.healthPath ?? null, metricsPath: s.metricsPath ?? null },
    log,
    metrics,
    auth: null,
    cgi: null,
    scripts: null,
    draining: s.draining ?? false,
    httpHeaders: [],
  } as unknown as ServerContext;
  return { ctx, logs: lines };
}

function exchange(facts: Partial<RequestFacts> = {}, upgrade = false): Exchange {
  return {
    req: { headers: {} } as IncomingMessage,
    facts: { ...requestFacts(), ...facts } as RequestFacts,
    upgrade: upgrade ? { socket: {} as Duplex, head: new Uint8Array(0) } : null,
    fields: { id: "r1" },
    auth: null,
  };
}

/** What a route answered. */
interface Seen {
  by: string;
  status: number;
  headers: Headers;
  body: string;
}

/**
 * Runs the table as `route()` does, but only up to `last` (the routes after
 * it need real sockets, programs or files); returns who answered and how.
 */
async function answerOf(ex: Exchange, ctx: ServerContext, last = "metrics"): Promise<Seen | null> {
  for (const r of ROUTES) {
    const answer = await r.answer(ex, ctx);
    if (answer === "taken") throw new Error(`${r.name} took the socket`);
    if (answer !== null) {
      return {
        by: r.name,
        status: answer.status,
        headers: answer.headers,
        body: await answer.text(),
      };
    }
    if (r.name === last) return null;
  }
  return null;
}

Deno.test("route: a WebSocket request while draining is 503 with Retry-After, before anything else", async () => {
  const { ctx, logs } = context({ draining: true });
  const a = await answerOf(exchange({ path: null, httpVersion: "2.0" }, true), ctx);
  assertEquals([a?.by, a?.status, a?.headers.get("retry-after")], ["draining", 503, "1"]);
  assertEquals(a?.body, "503 Service Unavailable: draining\n");
  assertEquals(logs.map((l) => l.msg), ["Unable to Upgrade: draining"]);
  // plain requests are still answered while draining (health checks must see the 503 there)
  assertEquals(await answerOf(exchange(), ctx), null);
});

Deno.test("route: a malformed path is 400, before the Host and version checks", async () => {
  const { ctx } = context();
  const a = await answerOf(exchange({ path: null, rawHeaders: [], httpVersion: "2.0" }, true), ctx);
  assertEquals([a?.by, a?.status, a?.body], [
    "malformed path",
    400,
    "400 Bad Request: malformed URL path\n",
  ]);
});

Deno.test("route: HTTP/1.1 needs exactly one Host; HTTP/1.0 may go without", async () => {
  const { ctx } = context();
  const bodyOf = async (facts: Partial<RequestFacts>) =>
    (await answerOf(exchange(facts), ctx))?.body;
  assertEquals(await bodyOf({ rawHeaders: [] }), "400 Bad Request: missing Host header\n");
  assertEquals(
    await bodyOf({ rawHeaders: ["Host", "a", "host", "b"] }),
    "400 Bad Request: more than one Host header\n",
  );
  assertEquals(await answerOf(exchange({ rawHeaders: [], httpVersion: "1.0" }), ctx), null);
  assertEquals(
    await bodyOf({ rawHeaders: ["Host", "a", "Host", "a"], httpVersion: "1.0" }),
    "400 Bad Request: more than one Host header\n",
  );
});

Deno.test("route: a WebSocket request over another HTTP version is 505, before the clean-path redirect", async () => {
  const { ctx } = context();
  const a = await answerOf(exchange({ httpVersion: "2.0", path: "/a/../b" }, true), ctx);
  assertEquals([a?.by, a?.status], ["http version", 505]);
  // a plain request is not refused for its version
  const plain = await answerOf(exchange({ httpVersion: "2.0", path: "/a/../b" }), ctx);
  assertEquals([plain?.by, plain?.headers.get("location")], ["clean path", "/b"]);
});

Deno.test("route: an unclean path is 301 to the clean one, escaped, query kept; Go's body only for GET", async () => {
  const { ctx } = context();
  const a = await answerOf(exchange({ path: "/x/../a b//c/", query: "q=1" }), ctx);
  assertEquals([a?.by, a?.status, a?.headers.get("location"), a?.body], [
    "clean path",
    301,
    "/a%20b/c/?q=1",
    '<a href="/a%20b/c/?q=1">Moved Permanently</a>.\n',
  ]);
  const head = await answerOf(exchange({ path: "//x", method: "HEAD" }), ctx);
  assertEquals([head?.status, head?.headers.get("location"), head?.body], [301, "/x", ""]);
  assertEquals(await answerOf(exchange({ path: "/clean/" }), ctx), null);
});

Deno.test("route: --health answers plain requests on its path with live counts; 503 while draining", async () => {
  const { ctx } = context({ healthPath: "/healthz" });
  ctx.metrics.sessionStarted();
  const a = await answerOf(exchange({ path: "/healthz" }), ctx);
  assertEquals([a?.by, a?.status, a?.headers.get("cache-control")], ["health", 200, "no-store"]);
  assertEquals(JSON.parse(a!.body), { status: "ok", sessions: 1, processes: 1 });
  ctx.draining = true;
  const d = await answerOf(exchange({ path: "/healthz" }), ctx);
  assertEquals([d?.status, JSON.parse(d!.body).status], [503, "draining"]);
  // a WebSocket handshake to the health path is not a health check
  ctx.draining = false;
  assertEquals(await answerOf(exchange({ path: "/healthz" }, true), ctx, "health"), null);
});

Deno.test("route: --metrics renders the Prometheus text on its path only", async () => {
  const { ctx } = context({ metricsPath: "/metrics" });
  const a = await answerOf(exchange({ path: "/metrics" }), ctx);
  assertEquals(a?.by, "metrics");
  assert(a!.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
  assert(a!.body.includes("websocketd_sessions_active 0"));
  assertEquals(await answerOf(exchange({ path: "/other" }), ctx), null);
});

Deno.test("route: without a program, console, CGI or files, a plain request ends at 404", async () => {
  const { ctx, logs } = context();
  // the websocket route passes plain requests by; console, cgi and static pass without settings
  const a = await answerOf(exchange({ path: "/nothing" }), ctx, "not found");
  assertEquals([a?.by, a?.status, a?.body], ["not found", 404, "404 page not found\n"]);
  assertEquals(logs.map((l) => l.msg), ["NOT FOUND"]);
});
