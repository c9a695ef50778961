/**
 * `--dir`: URL path → program, SCRIPT_NAME / PATH_INFO, and confinement.
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { startServer } from "../testing/server.ts";

const ENV_SCRIPT = "#!/bin/sh\nenv\n";

async function scriptDir(): Promise<{ root: string; outside: string; canary: string }> {
  const root = await Deno.makeTempDir({ prefix: "wsd-dir-" });
  const outside = await Deno.makeTempDir({ prefix: "wsd-outside-" });
  const canary = `${outside}/ran`;
  const write = async (path: string, text: string, mode = 0o755) => {
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, mode);
  };
  await Deno.mkdir(`${root}/sub`);
  await Deno.mkdir(`${root}/emptydir`);
  await write(`${root}/env.sh`, ENV_SCRIPT);
  await write(`${root}/sub/script.sh`, ENV_SCRIPT);
  await write(`${root}/sp ace.sh`, ENV_SCRIPT);
  await write(`${root}/notexec.txt`, ENV_SCRIPT, 0o644);
  await write(`${outside}/evil.sh`, `#!/bin/sh\ntouch "${canary}"\necho escaped\n`);
  await Deno.symlink(`${outside}/evil.sh`, `${root}/link-out`);
  await Deno.symlink(outside, `${root}/dir-out`);
  await Deno.symlink(`${root}/env.sh`, `${root}/link-in`);
  return { root, outside, canary };
}

Deno.test("--dir: SCRIPT_NAME, PATH_INFO and PATH_TRANSLATED as websocketd computes them", async () => {
  const { root, outside } = await scriptDir();
  try {
    await using server = await startServer(["--dir", root]);
    const cases: [string, Record<string, string>][] = [
      ["/env.sh/extra/path?q=1", {
        SCRIPT_NAME: "/env.sh",
        PATH_INFO: "/extra/path",
        PATH_TRANSLATED: "/env.sh/extra/path",
        QUERY_STRING: "q=1",
      }],
      ["/env.sh/", { SCRIPT_NAME: "/env.sh", PATH_INFO: "/" }],
      ["/sub/script.sh", { SCRIPT_NAME: "/sub/script.sh", PATH_INFO: "" }],
      ["/sp%20ace.sh", { SCRIPT_NAME: "/sp ace.sh" }],
      ["/link-in", { SCRIPT_NAME: "/link-in" }],
    ];
    for (const [path, want] of cases) {
      const ws = await RawWs.connect(server.port, { path });
      assertEquals(ws.response.status, 101, path);
      const { texts } = await ws.collect();
      await ws.drop();
      for (const [k, v] of Object.entries(want)) {
        assert(texts.includes(`${k}=${v}`), `${path}: ${k}=${v}`);
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("--dir: directories, missing and non-executable files are 404; nothing outside the root ever runs", async () => {
  const { root, outside, canary } = await scriptDir();
  try {
    await using server = await startServer(["--dir", root]);
    for (
      const path of [
        "/sub",
        "/sub/",
        "/",
        "/emptydir",
        "/nope.sh",
        "/notexec.txt",
        "/link-out",
        "/dir-out/evil.sh",
      ]
    ) {
      const ws = await RawWs.connect(server.port, { path });
      await ws.drop();
      assertEquals([path, ws.response.status, ws.response.body], [path, 404, "404 Not Found\n"]);
    }
    for (const path of ["/../evil.sh", "/%2e%2e/evil.sh", "/sub/..%2f..%2fevil.sh"]) {
      const ws = await RawWs.connect(server.port, { path });
      await ws.drop();
      assert([301, 404].includes(ws.response.status), `${path}: ${ws.response.status}`);
    }
    const plain = await fetch(server.http("/env.sh"));
    assertEquals([plain.status, await plain.text()], [404, "404 page not found\n"]);
    assertEquals(await Deno.lstat(canary).then(() => "ran", () => "never ran"), "never ran");
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
