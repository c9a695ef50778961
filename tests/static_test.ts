/**
 * `--staticdir` end to end: Go http.FileServer behaviour (index, redirects,
 * listings, content types, conditional GET, ranges) and confinement to the
 * real root (symlinks and encoded traversal never reach a file outside).
 */

import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import {
  marker,
  startServer,
  TESTPROG,
  type TestServer,
  waitNoProcesses,
} from "../testing/server.ts";

const CANARY = `canary-${crypto.randomUUID()}`;

/** A static root with a canary file beside it (outside the root). */
interface Site {
  base: string;
  root: string;
}

async function makeSite(): Promise<Site> {
  const base = await Deno.makeTempDir({ prefix: "wsd-static-" });
  const root = `${base}/root`;
  await Deno.mkdir(`${root}/sub/nested`, { recursive: true });
  await Deno.mkdir(`${root}/list/nested`, { recursive: true });
  await Deno.mkdir(`${root}/empty`);
  await Deno.writeTextFile(`${base}/canary.txt`, CANARY);
  await Deno.writeTextFile(`${root}/index.html`, "<h1>index page</h1>\n");
  await Deno.writeTextFile(`${root}/sub/index.html`, "<p>sub index</p>\n");
  await Deno.writeTextFile(`${root}/a.css`, "body { color: red }\n");
  await Deno.writeTextFile(`${root}/list/f.txt`, "f\n");
  await Deno.writeTextFile(`${root}/list/<b>&.txt`, "escaped\n");
  await Deno.writeTextFile(`${root}/list/a b?#.txt`, "odd\n");
  await Deno.writeTextFile(`${root}/digits.txt`, "0123456789");
  await Deno.writeTextFile(`${root}/.hidden`, "dotfile\n");
  await Deno.writeTextFile(`${root}/README`, "plain text without an extension\n");
  await Deno.writeFile(`${root}/blob`, new Uint8Array([0, 1, 2, 3, 0xff]));
  await Deno.writeFile(`${root}/empty.txt`, new Uint8Array(0));
  for (const name of ["app.js", "mod.mjs", "data.json", "pic.png", "icon.svg", "m.wasm", "x.TXT"]) {
    await Deno.writeTextFile(`${root}/${name}`, "x");
  }
  await Deno.symlink("../canary.txt", `${root}/out.txt`);
  await Deno.symlink(base, `${root}/outdir`);
  await Deno.symlink("a.css", `${root}/in.css`);
  await Deno.symlink("list", `${root}/listlink`);
  return { base, root };
}

/** Runs `fn` against a server for a fresh site; everything is removed after. */
async function withSite(
  args: (site: Site) => string[],
  fn: (server: TestServer, site: Site) => Promise<void>,
): Promise<void> {
  const site = await makeSite();
  try {
    await using server = await startServer(args(site));
    await fn(server, site);
  } finally {
    await Deno.remove(site.base, { recursive: true });
  }
}

const staticOnly = (s: Site) => ["--staticdir", s.root];

/** fetch that never follows redirects and always consumes the body. */
async function get(
  server: TestServer,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(server.http(path), { redirect: "manual", ...init });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** One request with the target sent byte for byte (fetch would normalise `%2e%2e`). */
async function rawGet(
  port: number,
  target: string,
): Promise<{ status: number; headers: Map<string, string>; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const req = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
    const text = await new Response(conn.readable).text();
    const [head = ""] = text.split("\r\n\r\n", 1);
    const [statusLine = "", ...lines] = head.split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const i = line.indexOf(":");
      headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers, text };
  } catch (e) {
    try {
      conn.close();
    } catch { /* readable already closed it */ }
    throw e;
  }
}

/** Open file descriptors of a process (Linux). */
async function openFds(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

Deno.test("staticdir: / serves index.html; /index.html and directories redirect relatively like Go", async () => {
  await withSite(staticOnly, async (server) => {
    const root = await get(server, "/");
    assertEquals(root.status, 200);
    assertEquals(root.body, "<h1>index page</h1>\n");
    assertEquals(root.headers.get("content-type"), "text/html; charset=utf-8");

    const index = await get(server, "/index.html");
    assertEquals([index.status, index.headers.get("location")], [301, "./"]);
    const subIndex = await get(server, "/sub/index.html");
    assertEquals([subIndex.status, subIndex.headers.get("location")], [301, "./"]);
    const sub = await get(server, "/sub");
    assertEquals([sub.status, sub.headers.get("location")], [301, "sub/"]);
    const nested = await get(server, "/sub/nested?q=1");
    assertEquals([nested.status, nested.headers.get("location")], [301, "nested/?q=1"]);
    const fileSlash = await get(server, "/a.css/");
    assertEquals([fileSlash.status, fileSlash.headers.get("location")], [301, "../a.css"]);
    const subSlash = await get(server, "/sub/");
    assertEquals([subSlash.status, subSlash.body], [200, "<p>sub index</p>\n"]);
  });
});

Deno.test("staticdir: a directory without index.html gets an HTML listing with escaped names", async () => {
  await withSite(staticOnly, async (server) => {
    const list = await get(server, "/list/");
    assertEquals(list.status, 200);
    assertEquals(list.headers.get("content-type"), "text/html; charset=utf-8");
    assert(list.headers.get("last-modified"));
    assertMatch(list.body, /<pre>\n/);
    assert(list.body.includes(`<a href="f.txt">f.txt</a>`), list.body);
    assert(list.body.includes(`<a href="nested/">nested/</a>`), list.body);
    assert(
      list.body.includes(`<a href="%3Cb%3E%26.txt">&lt;b&gt;&amp;.txt</a>`),
      list.body,
    );
    assert(list.body.includes(`<a href="a%20b%3F%23.txt">a b?#.txt</a>`), list.body);
    assert(!list.body.includes("<b>"), "a file name must not become markup");
    // names are sorted
    assert(list.body.indexOf("a%20b") < list.body.indexOf("f.txt"));
    const empty = await get(server, "/empty/");
    assertEquals(empty.status, 200);
    assert(!empty.body.includes("<a "));
  });
});

Deno.test("staticdir: a missing file is 404 `404 page not found`; dotfiles are served as Go does", async () => {
  await withSite(staticOnly, async (server) => {
    const missing = await get(server, "/nope");
    assertEquals(missing.status, 404);
    assertEquals(missing.body, "404 page not found\n");
    assertEquals(missing.headers.get("content-type"), "text/plain; charset=utf-8");
    assertEquals((await get(server, "/sub/nope/")).status, 404);
    const hidden = await get(server, "/.hidden");
    assertEquals([hidden.status, hidden.body], [200, "dotfile\n"]);
  });
});

Deno.test("staticdir: Content-Type comes from the extension; unknown files are text or octet-stream by content", async () => {
  await withSite(staticOnly, async (server) => {
    const expected: Record<string, string> = {
      "/a.css": "text/css; charset=utf-8",
      "/app.js": "text/javascript; charset=utf-8",
      "/mod.mjs": "text/javascript; charset=utf-8",
      "/data.json": "application/json",
      "/pic.png": "image/png",
      "/icon.svg": "image/svg+xml",
      "/m.wasm": "application/wasm",
      "/x.TXT": "text/plain; charset=utf-8",
      "/README": "text/plain; charset=utf-8",
      "/blob": "application/octet-stream",
    };
    for (const [path, type] of Object.entries(expected)) {
      const r = await get(server, path);
      assertEquals([path, r.status, r.headers.get("content-type")], [path, 200, type]);
    }
  });
});

Deno.test("staticdir: HEAD has the GET headers (length, type, validators) and no body", async () => {
  await withSite(staticOnly, async (server) => {
    const full = await get(server, "/a.css");
    const head = await get(server, "/a.css", { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(head.body, "");
    for (const h of ["content-type", "content-length", "last-modified", "etag", "accept-ranges"]) {
      assertEquals(head.headers.get(h), full.headers.get(h), h);
    }
    assertEquals(head.headers.get("content-length"), String(full.body.length));
    assertEquals(head.headers.get("accept-ranges"), "bytes");
  });
});

Deno.test("staticdir: If-Modified-Since and If-None-Match give 304; a changed file gives 200 again", async () => {
  await withSite(staticOnly, async (server, site) => {
    const first = await get(server, "/a.css");
    const lastModified = first.headers.get("last-modified")!;
    const etag = first.headers.get("etag")!;
    assertMatch(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);

    const ims = await get(server, "/a.css", { headers: { "If-Modified-Since": lastModified } });
    assertEquals([ims.status, ims.body], [304, ""]);
    const inm = await get(server, "/a.css", { headers: { "If-None-Match": etag } });
    assertEquals([inm.status, inm.headers.get("etag")], [304, etag]);
    const star = await get(server, "/a.css", { headers: { "If-None-Match": "*" } });
    assertEquals(star.status, 304);
    const old = await get(server, "/a.css", {
      headers: { "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT" },
    });
    assertEquals(old.status, 200);
    const otherTag = await get(server, "/a.css", { headers: { "If-None-Match": `W/"0-0"` } });
    assertEquals(otherTag.status, 200);

    // a newer mtime (set explicitly: no waiting for the clock) invalidates both validators
    await Deno.writeTextFile(`${site.root}/a.css`, "body { color: blue }\n");
    await Deno.utime(`${site.root}/a.css`, new Date(), new Date(Date.now() + 5000));
    const changed = await get(server, "/a.css", { headers: { "If-None-Match": etag } });
    assertEquals([changed.status, changed.body], [200, "body { color: blue }\n"]);
    const changed2 = await get(server, "/a.css", {
      headers: { "If-Modified-Since": lastModified },
    });
    assertEquals(changed2.status, 200);

    // a directory listing honours If-Modified-Since too
    const list = await get(server, "/list/");
    const listAgain = await get(server, "/list/", {
      headers: { "If-Modified-Since": list.headers.get("last-modified")! },
    });
    assertEquals(listAgain.status, 304);
  });
});

Deno.test("staticdir: one byte range gives 206 with Content-Range; unsatisfiable gives 416 bytes */SIZE", async () => {
  await withSite(staticOnly, async (server) => {
    const cases: [string, string, string][] = [
      ["bytes=2-4", "234", "bytes 2-4/10"],
      ["bytes=7-", "789", "bytes 7-9/10"],
      ["bytes=-3", "789", "bytes 7-9/10"],
      ["bytes=8-100", "89", "bytes 8-9/10"],
      ["bytes=-100", "0123456789", "bytes 0-9/10"],
    ];
    for (const [range, body, contentRange] of cases) {
      const r = await get(server, "/digits.txt", { headers: { Range: range } });
      assertEquals(
        [range, r.status, r.body, r.headers.get("content-range")],
        [range, 206, body, contentRange],
      );
      assertEquals(r.headers.get("content-length"), String(body.length));
    }
    const beyond = await get(server, "/digits.txt", { headers: { Range: "bytes=10-" } });
    assertEquals([beyond.status, beyond.headers.get("content-range")], [416, "bytes */10"]);
    const zeroSuffix = await get(server, "/digits.txt", { headers: { Range: "bytes=-0" } });
    assertEquals(zeroSuffix.status, 416);
    const backwards = await get(server, "/digits.txt", { headers: { Range: "bytes=5-2" } });
    assertEquals(backwards.status, 416);
    const several = await get(server, "/digits.txt", { headers: { Range: "bytes=0-1,5-6" } });
    assertEquals([several.status, several.body], [200, "0123456789"]);
    // an empty file ignores Range, as Go does
    const empty = await get(server, "/empty.txt", { headers: { Range: "bytes=0-" } });
    assertEquals([empty.status, empty.body], [200, ""]);
    const headRange = await get(server, "/digits.txt", {
      method: "HEAD",
      headers: { Range: "bytes=2-4" },
    });
    assertEquals([headRange.status, headRange.headers.get("content-length")], [206, "3"]);

    // If-Range: a weak ETag never matches (strong comparison), the exact date does
    const full = await get(server, "/digits.txt");
    const byTag = await get(server, "/digits.txt", {
      headers: { Range: "bytes=0-1", "If-Range": full.headers.get("etag")! },
    });
    assertEquals(byTag.status, 200);
    const byDate = await get(server, "/digits.txt", {
      headers: { Range: "bytes=0-1", "If-Range": full.headers.get("last-modified")! },
    });
    assertEquals([byDate.status, byDate.body], [206, "01"]);
  });
});

Deno.test("staticdir: symlinks resolving outside the root are 404, symlinks inside are served", async () => {
  await withSite(staticOnly, async (server) => {
    const outFile = await get(server, "/out.txt");
    assertEquals(outFile.status, 404);
    assert(!outFile.body.includes(CANARY));
    const outDir = await get(server, "/outdir/canary.txt");
    assertEquals(outDir.status, 404);
    assert(!outDir.body.includes(CANARY));
    const outListing = await get(server, "/outdir/");
    assertEquals(outListing.status, 404);
    assert(!outListing.body.includes("canary.txt"), "no listing of a directory outside");

    const inFile = await get(server, "/in.css");
    assertEquals([inFile.status, inFile.body], [200, "body { color: red }\n"]);
    assertEquals(inFile.headers.get("content-type"), "text/css; charset=utf-8");
    const inDir = await get(server, "/listlink/f.txt");
    assertEquals([inDir.status, inDir.body], [200, "f\n"]);
    const inDirNoSlash = await get(server, "/listlink");
    assertEquals([inDirNoSlash.status, inDirNoSlash.headers.get("location")], [301, "listlink/"]);
  });
});

Deno.test("staticdir: encoded and literal traversal never reaches a file outside the root", async () => {
  await withSite(staticOnly, async (server) => {
    const attempts = [
      "/../canary.txt",
      "/%2e%2e/canary.txt",
      "/%2E%2E/canary.txt",
      "/..%2fcanary.txt",
      "/%2e%2e%2fcanary.txt",
      "/a/../../canary.txt",
      "/sub/..%2f..%2fcanary.txt",
      "/./../canary.txt",
      "/..%5ccanary.txt",
      "//../canary.txt",
      "/outdir/../canary.txt",
    ];
    for (const target of attempts) {
      const r = await rawGet(server.port, target);
      assert([301, 400, 404].includes(r.status), `${target} → ${r.status}`);
      assert(!r.text.includes(CANARY), `${target} leaked the canary`);
      const location = r.headers.get("location");
      if (r.status === 301 && location) {
        // following the redirect must not leak either
        const next = await rawGet(server.port, new URL(location, server.http(target)).pathname);
        assert([301, 404].includes(next.status), `${target} → ${location} → ${next.status}`);
        assert(!next.text.includes(CANARY), `${target} → ${location} leaked the canary`);
      }
    }
  });
});

Deno.test("staticdir: ranges, HEAD, 304s, listings and aborted downloads leave no file open", async () => {
  await withSite(staticOnly, async (server, site) => {
    const big = new Uint8Array(8 * 1024 * 1024);
    await Deno.writeFile(`${site.root}/big.bin`, big);
    await get(server, "/a.css"); // warm up: the first request opens lazily created resources
    const before = await openFds(server.pid);
    for (let i = 0; i < 20; i++) {
      await get(server, "/digits.txt", { headers: { Range: "bytes=1-2" } });
      await get(server, "/digits.txt", { method: "HEAD" });
      await get(server, "/digits.txt", { headers: { "If-None-Match": "*" } });
      await get(server, "/digits.txt", { headers: { Range: "bytes=50-" } });
      await get(server, "/list/");
      await get(server, "/README");
      const res = await fetch(server.http("/big.bin"));
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    // the server notices each aborted download asynchronously: poll (wide margin for a busy machine)
    let after = await openFds(server.pid);
    for (let i = 0; i < 100 && after > before + 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await openFds(server.pid);
    }
    assert(after <= before + 2, `open fds grew from ${before} to ${after}`);
  });
});

Deno.test("staticdir with a COMMAND: a WebSocket upgrade to /index.html still goes to the program", async () => {
  const m = marker();
  await withSite((s) => ["--staticdir", s.root, TESTPROG, m, "echo"], async (server) => {
    const page = await get(server, "/index.html");
    assertEquals(page.status, 301);
    const ws = await RawWs.connect(server.port, { path: "/index.html" });
    try {
      assertEquals(ws.response.status, 101);
      await ws.sendText("not a file");
      assertEquals(await ws.text(), "not a file");
    } finally {
      await ws.close();
    }
    assertEquals(await waitNoProcesses(m), []);
  });
});

Deno.test("staticdir alone: an upgrade request to / is answered with the static file and 200", async () => {
  await withSite(staticOnly, async (server) => {
    const ws = await RawWs.connect(server.port, { path: "/" });
    try {
      assertEquals(ws.response.status, 200);
      assertEquals(ws.response.body, "<h1>index page</h1>\n");
      assertEquals(ws.response.headers.get("content-type"), "text/html; charset=utf-8");
    } finally {
      await ws.drop();
    }
  });
});
