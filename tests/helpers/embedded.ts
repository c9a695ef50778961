/**
 * Starts the embedded handler in a small `Deno.serve` app (the fixture
 * `tests/fixtures/embedded_server.ts`) as a subprocess, with the standalone
 * server's flags, and hands back the same {@link TestServer} the standalone
 * tests use.
 *
 * @module
 */

import {
  ALL_PERMS,
  FIXTURES,
  freePort,
  ROOT,
  startServer,
  TestServer,
} from "../../testing/server.ts";

/** The embedded app under test. */
export const EMBEDDED_SERVER = `${FIXTURES}/embedded_server.ts`;

/** Which endpoint a shared case runs against. */
export type EndpointKind = "standalone" | "embedded";

/** The endpoints every shared case runs against. */
export const ENDPOINTS: readonly EndpointKind[] = ["standalone", "embedded"];

/**
 * Starts the embedded app on a free port of 127.0.0.1.
 * @param embedFlags `--embed-*` settings of the embedded endpoint only.
 * @param args Standalone flags, then the program and its arguments.
 */
export async function startEmbedded(
  args: string[],
  embedFlags: string[] = [],
): Promise<TestServer> {
  for (let attempt = 0;; attempt++) {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        ...ALL_PERMS,
        EMBEDDED_SERVER,
        ...embedFlags,
        "--address=127.0.0.1",
        `--port=${port}`,
        ...args,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new TestServer(child, port);
    const result = await Promise.race([
      server.waitLog(/Starting WebSocket server/, 15000).then(() => "ready", () => "timeout"),
      server.exited().then(() => "exited"),
    ]);
    if (result === "ready") return server;
    await server.stop();
    // the port was taken between freePort() and listen: try another
    if (/AddrInUse|address already in use/i.test(server.stderr) && attempt < 3) continue;
    throw new Error(`embedded server did not start (${result}):\n${server.stderr}`);
  }
}

/** Starts either endpoint with the same flags and program. */
export function startEndpoint(
  kind: EndpointKind,
  args: string[],
  embedFlags: string[] = [],
): Promise<TestServer> {
  return kind === "standalone" ? startServer(args) : startEmbedded(args, embedFlags);
}
