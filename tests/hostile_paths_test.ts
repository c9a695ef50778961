/**
 * Hostile paths against every root we serve (--dir, --staticdir, --cgidir):
 * several hundred generated request targets (dot-dot in every encoding we
 * could think of, doubled escapes, backslashes, `//`, NUL, Unicode
 * look-alike dots, very long paths, symlinks out of the root and symlink
 * loops), sent byte for byte over raw sockets so nothing normalises them.
 *
 * The guarantee: a canary outside the root is never served and never
 * executed, every answer is 301, 400 or 404 (431 only for a header block
 * too large to read), and a 301 leads nowhere outside either.
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { Canary, getRequest, type RawAnswer, rawRequest, upgradeRequest } from "../testing/load.ts";
import { startServer, type TestServer } from "../testing/server.ts";

const SECRET = `hostile-canary-${crypto.randomUUID()}`;

/** A tree: base/secret.txt, base/evil.sh, base/a/secret.txt, base/a/evil.sh, base/a/root/… */
interface Tree {
  base: string;
  root: string;
  /** Files that exist only if an outside script ran. */
  ranMarks: string[];
}

async function makeTree(): Promise<Tree> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-hostile-paths-" }));
  const mid = `${base}/a`;
  const root = `${mid}/root`;
  await Deno.mkdir(`${root}/sub/deeper`, { recursive: true });
  const ranMarks: string[] = [];
  for (const dir of [base, mid]) {
    await Deno.writeTextFile(`${dir}/secret.txt`, `${SECRET}\n`);
    // both a CGI header block and a plain line: whichever way it ran, we would see the canary
    const mark = `${dir}/ran`;
    ranMarks.push(mark);
    await Deno.writeTextFile(
      `${dir}/evil.sh`,
      `#!/bin/sh\ntouch '${mark}'\nprintf 'Content-Type: text/plain\\n\\n${SECRET}\\n'\n`,
    );
    await Deno.chmod(`${dir}/evil.sh`, 0o755);
  }
  // legitimate content, none of it named like the canaries
  await Deno.writeTextFile(`${root}/index.html`, "inside\n");
  await Deno.writeTextFile(`${root}/sub/page.txt`, "inside\n");
  await Deno.writeTextFile(`${root}/echo.sh`, "#!/bin/sh\nexec cat\n");
  await Deno.chmod(`${root}/echo.sh`, 0o755);
  // symlinks out of the root, to files and to directories, absolute and relative
  await Deno.symlink(`${base}/secret.txt`, `${root}/link-secret`);
  await Deno.symlink("../secret.txt", `${root}/rel-secret`);
  await Deno.symlink(`${base}/evil.sh`, `${root}/link-evil`);
  await Deno.symlink("../../evil.sh", `${root}/sub/rel-evil`);
  await Deno.symlink(base, `${root}/link-base`);
  await Deno.symlink("..", `${root}/link-up`);
  await Deno.symlink("/", `${root}/link-slash`);
  await Deno.symlink("/proc/self/root", `${root}/link-procroot`);
  // loops: two links pointing at each other, a self link, a dir link to itself
  await Deno.symlink("loop-b", `${root}/loop-a`);
  await Deno.symlink("loop-a", `${root}/loop-b`);
  await Deno.symlink("self", `${root}/self`);
  await Deno.symlink(".", `${root}/here`);
  return { base, root, ranMarks };
}

/** Ways to write `..`. */
const DOTDOTS = [
  "..",
  "%2e%2e",
  "%2E%2E",
  ".%2e",
  "%2e.",
  "%252e%252e", // double-encoded: must stay literal after one decode
  "%25%32%65%25%32%65",
  "%c0%ae%c0%ae", // overlong UTF-8 dots
  "%e0%80%ae%e0%80%ae",
  "%e2%80%a4%e2%80%a4", // U+2024 ONE DOT LEADER
  "%ef%bc%8e%ef%bc%8e", // U+FF0E FULLWIDTH FULL STOP
  "\u2024\u2024", // the same look-alikes as raw UTF-8 in the request line
  "\uff0e\uff0e",
  "..%00",
  "...",
  ". .",
];

/** Ways to write `/` between segments. */
const SEPARATORS = ["/", "%2f", "%2F", "\\", "%5c", "%5C", "//", "%252f", "/./", "%c0%af", ";/"];

/** Targets outside the root, relative to it: one and two levels up. */
const OUTSIDE = ["secret.txt", "evil.sh"];

/** Every generated request target (a path, as it goes on the request line). */
function generatedTargets(): string[] {
  const out = new Set<string>();
  for (const dd of DOTDOTS) {
    for (const sep of SEPARATORS) {
      for (const depth of [1, 2]) {
        for (const name of OUTSIDE) {
          out.add("/" + `${dd}${sep}`.repeat(depth) + name);
        }
      }
      // traversal that starts from a real subdirectory
      out.add(`/sub${sep}${dd}${sep}${dd}${sep}${dd}${sep}secret.txt`);
    }
  }
  const more = [
    "/link-secret",
    "/rel-secret",
    "/link-evil",
    "/sub/rel-evil",
    "/link-base/secret.txt",
    "/link-base/evil.sh",
    "/link-base/a/secret.txt",
    "/link-up/secret.txt",
    "/link-up/evil.sh",
    "/link-slash/etc/passwd",
    `/link-slash${"/x".repeat(0)}${"/"}tmp`,
    "/link-procroot/etc/passwd",
    "/link-base/",
    "/link-up/",
    "/loop-a",
    "/loop-b",
    "/self",
    "/self/x",
    "/loop-a/evil.sh",
    "/here/".repeat(45) + "secret.txt",
    "/here/".repeat(45) + "echo.sh-not-there",
    "/here/../secret.txt",
    "/here/link-up/secret.txt",
    "/%2e%2e",
    "/..",
    "/../",
    "/%2e",
    "/.",
    "/secret.txt%00",
    "/secret.txt%00.html",
    "/%00/../secret.txt",
    "/sub/%00",
    "/..%00/secret.txt",
    "/%2e%2e%00/secret.txt",
    "/%ZZ/../secret.txt",
    "/%2/../secret.txt",
    "/%/../secret.txt",
    "/%u002e%u002e/secret.txt",
    "/..\\..\\secret.txt",
    "/..\\secret.txt",
    "\\..\\secret.txt",
    "/\\/\\/secret.txt",
    "//../secret.txt",
    "///../../secret.txt",
    "/./../secret.txt",
    "/sub/./../../secret.txt",
    "/sub/deeper/../../../../../secret.txt",
    "/" + "../".repeat(40) + "etc/passwd",
    "/" + "%2e%2e%2f".repeat(40) + "etc/passwd",
    "/" + "a/".repeat(400) + "../".repeat(402) + "secret.txt",
    "/" + "x".repeat(4000) + "/../../secret.txt",
    "/" + "x".repeat(255) + ".txt",
    "/" + "x".repeat(300) + "/secret.txt",
    "/" + "y".repeat(5000),
    "http://127.0.0.1/../secret.txt",
    "http://evil/%2e%2e/secret.txt",
    "HTTP://127.0.0.1/..%2fsecret.txt",
    "../secret.txt",
    "secret.txt",
    "*",
    "/%3f/../secret.txt",
    "/#/../secret.txt",
    "/sub?x=/../../secret.txt",
    "/sub/page.txt/../../../secret.txt",
    "/sub/page.txt/..%2f..%2f..%2fsecret.txt",
    "/index.html/../../secret.txt",
    "/echo.sh/../../secret.txt",
  ];
  for (const t of more) out.add(t);
  return [...out];
}

/** Request targets big enough that the header block may be refused outright (431/400). */
const OVERSIZED = ["/" + "z".repeat(70_000), "/" + "../".repeat(30_000) + "secret.txt"];

/** Encodes a target for the request line: non-ASCII as raw UTF-8 bytes, the rest as is. */
function requestBytes(make: (target: string) => string, target: string): Uint8Array {
  return new TextEncoder().encode(make(target));
}

/** What a followed redirect may answer: it names a clean path inside the root. */
const allowedAfterRedirect = [101, 200, 301, 400, 404];

/** Checks one answer, following a 301 once; returns a failure description or null. */
async function check(
  port: number,
  make: (target: string) => string,
  target: string,
  allowed: number[],
  tally?: Map<number, number>,
): Promise<string | null> {
  const first: RawAnswer = await rawRequest(port, requestBytes(make, target));
  tally?.set(first.status, (tally.get(first.status) ?? 0) + 1);
  const bad = (a: RawAnswer, what: string) => {
    if (a.text.includes(SECRET) || a.head.includes(SECRET)) return `${what}: canary served`;
    if (!allowed.includes(a.status)) {
      return `${what}: status ${a.status} ${a.head.split("\r\n")[0]}`;
    }
    return null;
  };
  const problem = bad(first, JSON.stringify(target));
  if (problem) return problem;
  if (first.status === 301) {
    const location = /\r\nlocation:\s*([^\r\n]*)/i.exec(first.head)?.[1];
    if (!location) return `${JSON.stringify(target)}: 301 without Location`;
    const next = new URL(location, `http://127.0.0.1${target.startsWith("/") ? "" : "/"}${"/x"}`);
    // follow with the path exactly as the Location gave it
    const path = location.startsWith("/") ? location : next.pathname + next.search;
    const second = await rawRequest(port, requestBytes(make, path));
    // the clean path may name something legitimate inside the root (`/..` → `/`): any
    // answer is fine there as long as nothing from outside comes back
    const p2 = bad(second, `${JSON.stringify(target)} → ${location}`);
    if (p2 && !allowedAfterRedirect.includes(second.status)) return p2;
    if (p2?.endsWith("canary served")) return p2;
  }
  return null;
}

async function withTree(
  args: (t: Tree) => string[],
  fn: (server: TestServer, tree: Tree) => Promise<void>,
): Promise<void> {
  const tree = await makeTree();
  try {
    {
      await using server = await startServer(args(tree));
      await fn(server, tree);
      // nothing the server did may have taken it down
      assertEquals(server.grep(/Uncaught|Unhandled/), []);
    }
    for (const mark of tree.ranMarks) {
      assertEquals(
        await Deno.lstat(mark).then(() => `${mark} ran`, () => "never ran"),
        "never ran",
      );
    }
  } finally {
    await Deno.remove(tree.base, { recursive: true });
  }
}

/** Runs every generated target (and the oversized ones) through `make`; returns all failures. */
async function attack(port: number, make: (t: string) => string): Promise<string[]> {
  const failures: string[] = [];
  const targets = generatedTargets();
  assert(targets.length >= 300, `only ${targets.length} generated targets`);
  const tally = new Map<number, number>();
  for (const t of targets) {
    const f = await check(port, make, t, [301, 400, 404], tally);
    if (f) failures.push(f);
  }
  // each kind of refusal happened: the variants reach the cleaning, decoding and lookup stages
  for (const status of [301, 400, 404]) {
    if (!tally.get(status)) failures.push(`no ${status} at all: ${JSON.stringify([...tally])}`);
  }
  for (const t of OVERSIZED) {
    const f = await check(port, make, t, [301, 400, 404, 414, 431]);
    if (f) failures.push(f);
  }
  return failures;
}

Deno.test("hostile paths: --dir never runs anything outside its root; every answer is 301/400/404", async () => {
  await withTree((t) => ["--dir", t.root], async (server) => {
    // a session inside the root keeps working throughout
    const canary = await Canary.open(server.port, "/echo.sh");
    canary.start(100);
    const failures = await attack(server.port, (t) => upgradeRequest(t));
    // a plain GET to a --dir server is never a program run either
    for (const t of ["/link-evil", "/../evil.sh", "/%2e%2e/evil.sh", "/echo.sh"]) {
      const f = await check(server.port, getRequest, t, [301, 400, 404]);
      if (f) failures.push(`GET ${f}`);
    }
    const stats = await canary.stop();
    canary.close();
    assertEquals(failures, []);
    assertEquals(stats.failures, []);
    assert(stats.ok >= 3, `canary made only ${stats.ok} round trips`);
  });
});

Deno.test("hostile paths: --staticdir never serves a byte from outside its root; every answer is 301/400/404", async () => {
  await withTree((t) => ["--staticdir", t.root], async (server) => {
    const failures = await attack(server.port, (t) => getRequest(t));
    // HEAD and Range must not open a way out either
    for (const t of ["/link-secret", "/link-base/secret.txt", "/%2e%2e/secret.txt"]) {
      const head = await rawRequest(
        server.port,
        `HEAD ${t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      if (![301, 400, 404].includes(head.status)) failures.push(`HEAD ${t}: ${head.status}`);
      const f = await check(server.port, (p) => getRequest(p, { Range: "bytes=0-5" }), t, [
        301,
        400,
        404,
      ]);
      if (f) failures.push(`Range ${f}`);
    }
    // the legitimate file is still served, so the 404s above are not a broken server
    const ok = await rawRequest(server.port, getRequest("/sub/page.txt"));
    assertEquals([ok.status, ok.text], [200, "inside\n"]);
    assertEquals(failures, []);
  });
});

Deno.test("hostile paths: --cgidir never executes anything outside its root; every answer is 301/400/404", async () => {
  await withTree((t) => ["--cgidir", t.root], async (server) => {
    const failures = await attack(server.port, (t) => getRequest(t));
    for (const t of ["/link-evil", "/sub/rel-evil", "/link-base/evil.sh"]) {
      const post = await rawRequest(
        server.port,
        `POST ${t} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
      );
      if (![301, 400, 404].includes(post.status)) failures.push(`POST ${t}: ${post.status}`);
      if (post.text.includes(SECRET)) failures.push(`POST ${t}: canary ran`);
    }
    assertEquals(failures, []);
  });
});
