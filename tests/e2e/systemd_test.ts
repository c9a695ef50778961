/**
 * The systemd unit in docs/deploy/systemd.md, exercised without systemd:
 * its ExecStart (paths swapped for test files) must start our server with
 * exactly the documented permissions, ExecReload's signal must leave it
 * serving, and KillSignal must stop it cleanly within TimeoutStopSec.
 */

import { assert, assertEquals } from "../../testing/assert.ts";
import { RawWs } from "../helpers/raw_ws.ts";
import { entry, freePort, startServer } from "../../testing/server.ts";
import { countProgram, docBlock, findTool, findTools, makeRunDir, skipOrFail } from "./helpers.ts";
import { makeCerts } from "../helpers/certs.ts";

/** `Key=value` settings of a unit, continuation lines joined (last value wins). */
function unitSettings(unit: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of unit.replace(/\\\n\s*/g, " ").split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1]!, m[2]!.trim());
  }
  return settings;
}

Deno.test("systemd unit: ExecStart's scoped permissions serve wss://, ExecReload keeps sessions, KillSignal stops with 0", async () => {
  const tools = await findTools(["openssl"]);
  if (tools.missing.length) return skipOrFail(`systemd unit e2e: ${tools.missing.join(", ")}`);
  const unit = await docBlock("systemd.md", "systemd-unit");
  const settings = unitSettings(unit);
  const { dir } = await makeRunDir("systemd");
  try {
    const certs = await makeCerts({ openssl: tools.paths.openssl!, dir });
    const program = await countProgram(dir);
    const port = freePort();
    // the unit's concrete paths and port, and what stands in for them here
    const swaps: [string, string][] = [
      ["/usr/local/bin/deno", Deno.execPath()],
      ["/opt/websocketd/main.ts", entry()],
      ["/usr/local/bin/count", program],
      ["/etc/websocketd/tls/server.crt", certs.certFile],
      ["/etc/websocketd/tls/server.key", certs.keyFile],
      [":8080", `:${port}`],
      ["=8080", `=${port}`],
    ];
    const swap = (s: string) => swaps.reduce((acc, [from, to]) => acc.replaceAll(from, to), s);
    const argv = swap(settings.get("ExecStart") ?? "").split(/\s+/);
    const script = argv.indexOf(entry());
    assertEquals(argv.slice(0, 2), [Deno.execPath(), "run"], "ExecStart runs deno run");
    assert(script > 0, `ExecStart does not run ${entry()}: ${argv.join(" ")}`);
    const perms = argv.slice(2, script);
    const args = argv.slice(script + 1);
    for (const word of [...perms, ...args]) {
      assert(
        !/\/etc\/|\/opt\/|\/usr\/local|8080/.test(word),
        `unswapped path in ExecStart: ${word}`,
      );
    }
    assert(perms.every((p) => /^--allow-[a-z]+=./.test(p)), `unscoped permission: ${perms}`);

    if (await findTool("systemd-analyze")) {
      const file = `${dir}/websocketd-count.service`;
      await Deno.writeTextFile(file, swap(unit));
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", file],
        stdin: "null",
      }).output();
      const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert(out.success, `systemd-analyze verify:\n${text}`);
    } else {
      console.log("NOTE: systemd-analyze not found: unit syntax not verified");
    }

    const reload = /kill -(\w+) \$MAINPID/.exec(settings.get("ExecReload") ?? "")?.[1];
    assertEquals(reload, "HUP", "ExecReload sends SIGHUP");
    const killSignal = settings.get("KillSignal") as Deno.Signal;
    const timeoutStopMs = Number(settings.get("TimeoutStopSec")) * 1000;
    assert(timeoutStopMs > 0, "TimeoutStopSec is set");

    const server = await startServer(args, { perms, port, noListenFlags: true });
    let stopped = false;
    try {
      const tls = { caCerts: [certs.ca], hostname: "localhost" };
      const ws = await RawWs.connect(port, { tls });
      try {
        assertEquals(ws.response.status, 101);
        assertEquals([await ws.text(), await ws.text()], ["1", "2"]);
        server.kill("SIGHUP");
        // the session in progress carries on through the reload
        const { texts, end } = await ws.collect(20000);
        assertEquals(
          texts,
          ["3", "4", "5", "6", "7", "8", "9", "10"],
          `session after SIGHUP ended with ${JSON.stringify(end)}; server log:\n${
            server.lines.join("\n")
          }\n${server.stderr}`,
        );
        assertEquals(end.type === "close" ? end.code : end.type, 1000);
      } finally {
        await ws.close();
      }
      // and new connections are still accepted after it
      const again = await RawWs.connect(port, { tls });
      try {
        assertEquals(await again.text(), "1");
      } finally {
        await again.close();
      }
      const t0 = Date.now();
      const status = await server.stop(killSignal);
      stopped = true;
      assertEquals(status.code, 0, `exit after ${killSignal}:\n${server.lines.join("\n")}`);
      assert(Date.now() - t0 < timeoutStopMs, `stop took ${Date.now() - t0} ms`);
      assertEquals(server.grep(/Signals reach each program's pid only/).length, 1);
    } finally {
      if (!stopped) await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
