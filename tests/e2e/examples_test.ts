/**
 * The example programs users copy, run behind our server exactly as
 * examples/README.md says, so every command there is known to work.
 */

import { assert, assertEquals } from "../../testing/assert.ts";
import { RawWs } from "../helpers/raw_ws.ts";
import { marker, startServer, waitNoProcesses } from "../../testing/server.ts";
import { EXAMPLES, findTool, skipOrFail } from "./helpers.ts";

Deno.test("examples/README.md lists every example, and each example says how to run it", async () => {
  const readme = await Deno.readTextFile(`${EXAMPLES}/README.md`);
  const problems: string[] = [];
  const files: string[] = [];
  for await (const entry of Deno.readDir(EXAMPLES)) {
    if (entry.isFile && entry.name !== "README.md") files.push(entry.name);
    if (!entry.isDirectory) continue;
    for await (const inner of Deno.readDir(`${EXAMPLES}/${entry.name}`)) {
      if (inner.isFile) files.push(`${entry.name}/${inner.name}`);
    }
  }
  // and no row for an example that is gone
  for (const [, listed] of readme.matchAll(/^\| `([^`]+)`/gm)) {
    if (!files.includes(listed!)) problems.push(`README.md lists ${listed}, which does not exist`);
  }
  for (const name of files) {
    if (!readme.includes(`\`${name}\``)) problems.push(`${name} is not in README.md`);
    const head = (await Deno.readTextFile(`${EXAMPLES}/${name}`)).slice(0, 1200);
    // the opening comment must carry a command, so a reader never guesses
    if (!/main\.ts|websocketd/.test(head)) problems.push(`${name} has no command up top`);
  }
  assertEquals(problems, []);
});

Deno.test("greeter.sh, greeter.py and greeter.ts each answer a line with Hello <line>!", async () => {
  const python = await findTool("python3");
  const programs = ["greeter.sh", "greeter.ts", ...(python ? ["greeter.py"] : [])];
  const servers = await Promise.all(programs.map((p) => startServer([`${EXAMPLES}/${p}`])));
  try {
    for (const [i, server] of servers.entries()) {
      const ws = await RawWs.connect(server.port);
      try {
        assertEquals(ws.response.status, 101);
        await ws.sendText("world");
        // a fresh `deno run` compiles before it answers: allow for a busy machine
        assertEquals(await ws.text(20000), "Hello world!", programs[i]);
        await ws.sendText("again");
        assertEquals(await ws.text(), "Hello again!", programs[i]);
      } finally {
        await ws.close();
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  if (!python) skipOrFail("greeter.py: python3 not found");
});

Deno.test("count.py pushes 1..10 over about 4.5 s, then the session closes with 1000", async () => {
  if (!(await findTool("python3"))) return skipOrFail("count.py: python3 not found");
  await using server = await startServer([`${EXAMPLES}/count.py`]);
  const ws = await RawWs.connect(server.port);
  try {
    const started = Date.now();
    const { texts, end } = await ws.collect(20000);
    assertEquals(texts, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assertEquals(end.type === "close" ? end.code : end.type, 1000);
    // flushing each line spreads them out; a buffered program would send all ten at exit
    assert(Date.now() - started >= 3000, `took only ${Date.now() - started} ms`);
  } finally {
    await ws.close();
  }
});

Deno.test("chat.sh: a line one user types reaches every user; leaving stops tail -f", async () => {
  const m = marker();
  const dir = await Deno.makeTempDir({ prefix: `${m}-` });
  const log = `${dir}/chat.log`;
  try {
    await using server = await startServer(["--passenv=PATH,CHAT_LOG", `${EXAMPLES}/chat.sh`], {
      env: { CHAT_LOG: log },
    });
    const alice = await RawWs.connect(server.port);
    const bob = await RawWs.connect(server.port);
    try {
      assertEquals(await alice.text(), "Welcome! Type your name and press enter.");
      assertEquals(await bob.text(), "Welcome! Type your name and press enter.");
      await alice.sendText("alice");
      assertEquals(await alice.text(), "[alice joined]");
      await bob.sendText("bob");
      assertEquals(await bob.text(), "[bob joined]");
      assertEquals(await alice.text(), "[bob joined]");
      await bob.sendText("hi all");
      assertEquals(await alice.text(), "[bob] hi all");
      assertEquals(await bob.text(), "[bob] hi all");
      await bob.close();
      assertEquals(await alice.text(), "[bob left]");
    } finally {
      await alice.close();
      await bob.drop();
    }
    // the tail -f of each user is killed when that user's shell ends
    assertEquals(await waitNoProcesses(m), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
