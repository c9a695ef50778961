/**
 * docs/deploy/scaling.md: two instances of our server behind one nginx
 * upstream or one Apache balancer. New connections must reach both, and
 * each stays a working session on its own instance.
 *
 * Missing nginx/apache2 prints `SKIP:` and passes, unless REQUIRE_E2E=1.
 */

import { assertEquals } from "../../testing/assert.ts";
import { RawWs } from "../helpers/raw_ws.ts";
import type { TestServer } from "../../testing/server.ts";
import {
  type Daemon,
  docBlock,
  EXAMPLES,
  findTools,
  makeRunDir,
  skipOrFail,
  startApache,
  startBackends,
  startNginx,
  Teardown,
} from "./helpers.ts";

const CONNECTIONS = 4;

/**
 * Opens several connections at once through the proxy, checks each answers
 * as the greeter, and returns how many each instance took.
 */
async function spread(port: number, backends: TestServer[], proxy: Daemon): Promise<number[]> {
  const clients: RawWs[] = [];
  try {
    for (let i = 0; i < CONNECTIONS; i++) {
      // held open together, so a least-busy balancer must use both instances
      const ws = await RawWs.connect(port, { path: "/ws/", hostname: "127.0.0.1" });
      clients.push(ws);
      assertEquals(ws.response.status, 101, await proxy.diagnostics());
      await ws.sendText(`client ${i}`);
      assertEquals(await ws.text(10000), `Hello client ${i}!`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return backends.map((b) => b.grep(/\| CONNECT$/).length);
}

Deno.test("nginx upstream from scaling.md spreads new connections over two instances", async () => {
  const tools = await findTools(["nginx"]);
  if (tools.missing.length) return skipOrFail(`nginx scaling e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir } = await makeRunDir("nginx-pool");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    const backends = await startBackends(teardown, [
      [`${EXAMPLES}/greeter.sh`, { scoped: true }],
      [`${EXAMPLES}/greeter.sh`, { scoped: true }],
    ]);
    const site = await docBlock("scaling.md", "nginx-upstream");
    const main = await docBlock("nginx.md", "nginx-main");
    const { nginx, port } = await startNginx(
      "nginx (pool)",
      tools.paths.nginx!,
      dir,
      {
        main,
        site,
      },
      { BACKEND_PORT_1: backends[0]!.port, BACKEND_PORT_2: backends[1]!.port },
      "HTTP_PORT",
    );
    teardown.add(nginx, (n) => n.stop());
    const counts = await spread(port, backends, nginx);
    console.log(`connections per instance: ${counts.join(", ")}`);
    assertEquals(counts.reduce((a, b) => a + b), CONNECTIONS);
    assertEquals(counts.every((c) => c > 0), true, `one instance got none: ${counts}`);
  } finally {
    await teardown.run();
  }
});

Deno.test("Apache balancer from scaling.md spreads new connections over two instances", async () => {
  const tools = await findTools(["apache2"]);
  if (tools.missing.length) return skipOrFail(`Apache scaling e2e: ${tools.missing.join(", ")}`);
  const teardown = new Teardown();
  try {
    const { dir, www } = await makeRunDir("apache-pool");
    teardown.add(dir, (d) => Deno.remove(d, { recursive: true }));
    const backends = await startBackends(teardown, [
      [`${EXAMPLES}/greeter.sh`, { scoped: true }],
      [`${EXAMPLES}/greeter.sh`, { scoped: true }],
    ]);
    const templates = [
      await docBlock("apache.md", "apache-main"),
      await docBlock("scaling.md", "apache-balancer-modules"),
      await docBlock("scaling.md", "apache-balancer"),
    ];
    const { apache, port } = await startApache(
      "apache2 (balancer)",
      tools.paths.apache2!,
      {
        dir,
        www,
      },
      templates,
      { BACKEND_PORT_1: backends[0]!.port, BACKEND_PORT_2: backends[1]!.port },
    );
    teardown.add(apache, (a) => a.stop());
    const counts = await spread(port, backends, apache);
    console.log(`connections per instance: ${counts.join(", ")}`);
    assertEquals(counts.reduce((a, b) => a + b), CONNECTIONS);
    assertEquals(counts.every((c) => c > 0), true, `one instance got none: ${counts}`);
  } finally {
    await teardown.run();
  }
});
