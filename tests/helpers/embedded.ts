/**
 * Starts the embedded handler in a small `Deno.serve` app (the fixture
 * `tests/fixtures/embedded_server.ts`) as a subprocess, with the standalone
 * server's flags, and hands back the same {@link TestServer} the standalone
 * tests use.
 *
 * @module
 */

import { ALL_PERMS, FIXTURES, launch, startServer, type TestServer } from "../../testing/server.ts";

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
export function startEmbedded(
  args: string[],
  embedFlags: string[] = [],
): Promise<TestServer> {
  return launch({
    command: (port) => ({
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
    }),
    ready: /Starting WebSocket server/,
    what: "embedded server",
  });
}

/** Starts either endpoint with the same flags and program. */
export function startEndpoint(
  kind: EndpointKind,
  args: string[],
  embedFlags: string[] = [],
): Promise<TestServer> {
  return kind === "standalone" ? startServer(args) : startEmbedded(args, embedFlags);
}
