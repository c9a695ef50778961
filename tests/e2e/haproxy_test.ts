/**
 * A rolling restart behind a health-checking balancer (docs/deploy/haproxy.md)
 * and, for comparison, behind nginx OSS with passive checks only
 * (docs/deploy/scaling.md, "Rolling restarts"). Both run the scenario of
 * ./rolling.ts; both tests live in this one file so they never run at the
 * same time and disturb each other's timing.
 *
 * Missing haproxy/nginx or a C compiler prints `SKIP:` and passes, unless
 * REQUIRE_E2E=1.
 */

import { assert, assertBetween, assertEquals } from "../../testing/assert.ts";
import {
  compileExample,
  docBlock,
  findTools,
  makeRunDir,
  skipOrFail,
  startHaproxy,
  startNginx,
  Teardown,
} from "./helpers.ts";
import {
  describe,
  DRAIN_MS,
  type Figures,
  figures,
  MAX_GAP_MS,
  rollingRestart,
  type RollingResult,
  SESSIONS,
  startInstances,
} from "./rolling.ts";

/** What both balancers must deliver; returns the figures. */
function assertCommon(r: RollingResult, proxy: string): Figures {
  const f = figures(r);
  console.log(describe(proxy, r, f));
  // both instances took part of the 200 sessions
  assert((r.spread.A ?? 0) > 0 && (r.spread.B ?? 0) > 0, `spread ${JSON.stringify(r.spread)}`);
  assertEquals(
    (r.spread.A ?? 0) + (r.spread.B ?? 0),
    SESSIONS,
    `spread ${JSON.stringify(r.spread)}`,
  );
  assertEquals(f.failedProbes.length, 0, "new connections that failed");
  assertEquals(f.failedLegs.length, 0, "session connections that failed");
  // no stream on B goes silent for MAX_GAP_MS, unless the machine had no CPU for it
  // (see STARVED_SHARE: the gap and what explains it are printed either way)
  assert(
    f.gapBOwn < MAX_GAP_MS,
    `B's sessions went silent for ${Math.round(f.gapBOwn)} ms that CPU starvation does not explain`,
  );
  assertEquals(f.lost, 0, "lines lost");
  assertEquals(f.foreign, 0, "lines from another instance within one connection");
  // every session on A ran until the drain ended, then got 1001 and came back on B
  assertEquals(f.closed1001, f.onA, "A's sessions closed with 1001");
  assertEquals(f.movedToB, f.onA, "A's sessions that reconnected to B");
  assertBetween(f.drainFirst, DRAIN_MS - 50, DRAIN_MS + 1500, "SIGTERM to the first 1001 (ms)");
  assertEquals(r.aCode, 0, "A's exit code");
  return f;
}

Deno.test({
  name: "HAProxy (haproxy.md): a rolling restart with active checks loses no connection",
  fn: async () => {
    const tools = await findTools(["haproxy"]);
    if (tools.missing.length) return skipOrFail(`HAProxy e2e: ${tools.missing.join(", ")}`);
    const teardown = new Teardown();
    try {
      const { dir } = await makeRunDir("haproxy");
      teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
      const ticker = await compileExample(dir, "ticker");
      if (!ticker) return skipOrFail("HAProxy e2e: no C compiler (cc/gcc) for examples/ticker.c");
      const instances = await startInstances(teardown, ticker);
      const { haproxy, port } = await startHaproxy(
        "haproxy",
        tools.paths.haproxy!,
        dir,
        {
          main: await docBlock("haproxy.md", "haproxy-main"),
          site: await docBlock("haproxy.md", "haproxy-site"),
        },
        { BACKEND_PORT_1: instances.a.port, BACKEND_PORT_2: instances.b.port },
      );
      teardown.add(haproxy, (h) => h.stop());
      const r = await rollingRestart(teardown, instances, {
        url: `ws://127.0.0.1:${port}/ws/`,
        watch: { output: () => haproxy.output, pattern: /^Server websocketd_pool\/a is (UP|DOWN)/ },
        pid: haproxy.pid,
      }, 5000);
      const f = assertCommon(r, "HAProxy");
      // A was marked down because its health said 503, well before its sessions were closed
      const down = r.events.find((e) => / is DOWN/.test(e.line));
      assert(down, `HAProxy never marked A down:\n${haproxy.output}`);
      assert(/code: 503/.test(down.line), `A went down for another reason: ${down.line}`);
      assertBetween(down.at - r.sigterm, 0, DRAIN_MS / 2, "SIGTERM to A marked down (ms)");
      const up = r.events.find((e) => / is UP/.test(e.line) && e.at > r.aRestarted - 1000);
      assert(up, `HAProxy never marked the restarted A up:\n${haproxy.output}`);
      // one check interval (200 ms) after A listens again, new connections reach it
      assertBetween(f.aBack, 0, 3000, "A restarted to its first new connection (ms)");
    } finally {
      await teardown.run();
    }
  },
});

Deno.test({
  name: "nginx (scaling.md): a rolling restart with passive checks loses no connection",
  fn: async () => {
    const tools = await findTools(["nginx"]);
    if (tools.missing.length) return skipOrFail(`nginx drain e2e: ${tools.missing.join(", ")}`);
    const teardown = new Teardown();
    try {
      const { dir } = await makeRunDir("nginx-drain");
      teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
      const ticker = await compileExample(dir, "ticker");
      if (!ticker) {
        return skipOrFail("nginx drain e2e: no C compiler (cc/gcc) for examples/ticker.c");
      }
      const instances = await startInstances(teardown, ticker);
      const { nginx, port } = await startNginx(
        "nginx (drain)",
        tools.paths.nginx!,
        dir,
        {
          main: await docBlock("nginx.md", "nginx-main"),
          site: await docBlock("scaling.md", "nginx-upstream-drain"),
        },
        { BACKEND_PORT_1: instances.a.port, BACKEND_PORT_2: instances.b.port },
        "HTTP_PORT",
      );
      teardown.add(nginx, (n) => n.stop());
      // nginx tries a benched server again only after fail_timeout (2 s in the block)
      const r = await rollingRestart(teardown, instances, {
        url: `ws://127.0.0.1:${port}/ws/`,
        pid: nginx.pid,
      }, 5000);
      const f = assertCommon(r, "nginx");
      // nginx learns that A drains only from a handshake A refused (and retries it on B)
      assert(r.refusedByA >= 1, "nginx never tried the draining A");
      // and tries A again only once fail_timeout (2 s) has passed since its last failure
      assertBetween(f.aBack, 0, 5000, "A restarted to its first new connection (ms)");
    } finally {
      await teardown.run();
    }
  },
});
