/**
 * Least privilege: the server runs with the narrow flags `deno task compile`
 * bakes in, and anything outside the grant is refused; the compiled binary
 * itself is built and run where a `denort` runtime is available.
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import {
  freePort,
  marker,
  ROOT,
  startServer,
  TESTPROG,
  waitNoProcesses,
} from "../testing/server.ts";
import { readCommandLine } from "../lib/cli/config.ts";
import { permissionFlags } from "../lib/cli/permissions.ts";

function grant(args: string[], groupSignals = false): string[] {
  const s = readCommandLine(args);
  if (s.kind !== "run") throw new Error(`bad args: ${s.stderr}${s.stdout}`);
  return permissionFlags(s.config, { groupSignals });
}

Deno.test("derived flags are scoped: listen address, the one program, its files, the passenv names", () => {
  const flags = grant(["--address=127.0.0.1", "--port=8080", `${ROOT}/examples/greeter.sh`]);
  assertEquals(flags, [
    "--allow-net=127.0.0.1:8080",
    `--allow-run=${ROOT}/examples/greeter.sh`,
    `--allow-read=${ROOT}/examples/greeter.sh`,
    "--allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE",
  ]);
});

Deno.test("with the derived flags (not -A) the server works, and a program outside the grant cannot be spawned", async () => {
  const dir = await Deno.makeTempDir();
  const script = (name: string, line: string) =>
    Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\necho ${line}\n`).then(() =>
      Deno.chmod(`${dir}/${name}`, 0o755)
    );
  await script("allowed.sh", "allowed-ran");
  const port = freePort();
  const args = ["--address=127.0.0.1", `--port=${port}`, `--dir=${dir}`];
  const perms = grant(args);
  assert(!perms.includes("--allow-run") && !perms.includes("-A"));
  // a program that appears after the grant was made is outside it
  await script("intruder.sh", "intruder-ran");
  try {
    await using server = await startServer(args, { perms, noListenFlags: true, port });
    const ok = await RawWs.connect(port, { path: "/allowed.sh" });
    assertEquals(await ok.text(), "allowed-ran");
    await ok.drop();
    const denied = await RawWs.connect(port, { path: "/intruder.sh" });
    assertEquals(denied.response.status, 101);
    const end = await denied.nextData();
    await denied.drop();
    assertEquals(end.type === "close" && end.code, 1011);
    assertMatch(
      end.type === "close" ? end.reason : "",
      /could not launch program: Requires run access/,
    );
    await server.waitLog(/Could not launch process .*intruder\.sh/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without NODE_V8_COVERAGE in --allow-env the server refuses to start and names the fix", async () => {
  const port = freePort();
  const args = ["--address=127.0.0.1", `--port=${port}`, `${ROOT}/examples/greeter.sh`];
  const perms = grant(args).map((f) => f.replace(",NODE_V8_COVERAGE", ""));
  assert(perms.includes("--allow-env=PATH,LD_LIBRARY_PATH"));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, `${ROOT}/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 1, text);
  assertMatch(
    text,
    /FATAL .*add it to --allow-env \(for example --allow-env=PATH,LD_LIBRARY_PATH,NODE_V8_COVERAGE\)/,
  );
});

Deno.test("our NODE_V8_COVERAGE never reaches a program: it gets only --passenv and CGI variables", async () => {
  await using server = await startServer(["/usr/bin/env"], { env: { NODE_V8_COVERAGE: "/tmp/x" } });
  const ws = await RawWs.connect(server.port);
  const { texts, end } = await ws.collect();
  await ws.drop();
  assertEquals(end.type === "close" && end.code, 1000);
  assert(texts.some((t) => t.startsWith("PATH=")), texts.join("\n"));
  assertEquals(texts.filter((t) => t.startsWith("NODE_")), []);
});

Deno.test("the --group-signals grant finds setsid(1): programs get a group, grandchildren die", async () => {
  const m = marker();
  const pidFile = await Deno.makeTempFile();
  const port = freePort();
  const args = ["--address=127.0.0.1", `--port=${port}`, TESTPROG, m, "grandchild", pidFile];
  const perms = grant(args, true);
  assert(perms.includes("--allow-run") && !perms.includes("-A"));
  try {
    await using server = await startServer(args, { perms, noListenFlags: true, port });
    // without read access to setsid(1) it would fall back to Deno's slow detached spawn
    await server.waitLog(/process group through \/(usr\/)?bin\/setsid$/);
    const ws = await RawWs.connect(port);
    assertEquals(await ws.text(), "ready");
    assert(Number((await Deno.readTextFile(pidFile)).trim()) > 0);
    await ws.close();
    assertEquals(await waitNoProcesses(m, 5000), []);
  } finally {
    await Deno.remove(pidFile);
  }
});

Deno.test("deno task compile --print: the printed grant runs the server, with V8 sized for memory by default; --fast leaves it out", async () => {
  const port = freePort();
  const args = ["--address=127.0.0.1", `--port=${port}`, TESTPROG, marker(), "echo"];
  const printed = async (...own: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/scripts/compile.ts`, "--print", ...own, "--", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const line = new TextDecoder().decode(out.stdout).trim().split(" ");
    // deno run PERMS… MAIN ARGS…: the printed words have no quoting here (no special characters)
    return line.slice(2, line.findIndex((w) => w.endsWith("/main.ts")));
  };
  const fast = await printed("--fast");
  assert(!fast.includes("--v8-flags=--optimize-for-size"), fast.join(" "));
  const perms = await printed();
  assert(perms.includes("--v8-flags=--optimize-for-size"), perms.join(" "));
  assert(!perms.includes("-A") && !perms.includes("--allow-all"), perms.join(" "));
  await using _server = await startServer(args, { perms, noListenFlags: true, port });
  const ws = await RawWs.connect(port);
  await ws.sendText("lean");
  assertEquals(await ws.text(), "lean");
  await ws.close();
});

function denortAvailable(): string | null {
  const bin = Deno.env.get("DENORT_BIN");
  if (bin) return Deno.statSync(bin).isFile ? `DENORT_BIN=${bin}` : null;
  const home = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const zip = `${home}/dl/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`;
  try {
    return Deno.statSync(zip).isFile ? zip : null;
  } catch {
    return null;
  }
}

Deno.test("deno task compile builds one executable with the grant baked in, and it serves", async () => {
  const found = denortAvailable();
  if (!found) {
    console.log(
      "SKIP: deno compile needs the denort runtime, which is downloaded from dl.deno.land (unreachable here); " +
        "set DENORT_BIN or cache denort-x86_64-unknown-linux-gnu.zip to run this test",
    );
    return;
  }
  const dir = await Deno.makeTempDir();
  const port = freePort();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "compile",
        `--output=${dir}/websocketd`,
        "--",
        "--address=127.0.0.1",
        `--port=${port}`,
        "./examples/greeter.sh",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const child = new Deno.Command(`${dir}/websocketd`, { stdout: "piped", stderr: "null" })
      .spawn();
    try {
      for (let i = 0; i < 100; i++) {
        const ok = await Deno.connect({ hostname: "127.0.0.1", port }).then(
          (c) => (c.close(), true),
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const ws = await RawWs.connect(port);
      await ws.sendText("binary");
      assertEquals(await ws.text(), "Hello binary!");
      await ws.close();
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
