/**
 * Properties of request-target handling: lib/http/paths.ts (splitTarget,
 * decodePath, cleanPath, escapePath, withoutParam), the script lookup of
 * `--dir`/`--cgidir` (ScriptRoot.resolve, lib/http/scripts.ts) and
 * `--staticdir` (serveStatic, lib/http/static.ts).
 *
 * Targets are built from a vocabulary of the tree's own names and of
 * traversal tricks (`..` and `.` in every case and encoding, overlong UTF-8,
 * encoded slashes and backslashes, NUL, very long segments, `//`, absolute
 * form), run through the server's own pipeline (split → decode → clean, the
 * 301 to the clean path followed) and looked up in a temporary tree whose
 * outside holds canaries, reached by symlinks out of the root, a symlink
 * loop, a dangling link, and a sibling directory whose name extends the
 * root's (`root` / `rootevil`).
 *
 * @module
 */

import fc from "fast-check";
import { posix } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import {
  cleanPath,
  decodePath,
  escapePath,
  splitTarget,
  withoutParam,
} from "../../lib/http/paths.ts";
import { ScriptRoot } from "../../lib/http/scripts.ts";
import { serveStatic } from "../../lib/http/static.ts";
import { asyncProperty, property, type PropertyCase } from "./harness.ts";

/** In every file outside the root, and in the name of every entry outside it. */
const CANARY = "OUTSIDE-canary";

interface Tree {
  base: string;
  /** The root directory itself, and the same root through a symlink. */
  roots: string[];
  realRoot: string;
}

async function makeTree(): Promise<Tree> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "wsd-prop-paths-" }));
  const root = `${base}/root`;
  const inside = async (rel: string, exec = false) => {
    await Deno.writeTextFile(`${root}/${rel}`, `#!/bin/sh\necho inside ${rel}\n`);
    if (exec) await Deno.chmod(`${root}/${rel}`, 0o755);
  };
  const outside = async (rel: string) => {
    await Deno.writeTextFile(`${base}/${rel}`, `#!/bin/sh\necho ${CANARY}\n`);
    await Deno.chmod(`${base}/${rel}`, 0o755);
  };
  for (const d of ["sub/deeper", "dir-noindex", "ünï", "with index"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.mkdir(`${base}/${CANARY}-dir`);
  await Deno.mkdir(`${base}/rootevil`);
  await inside("index.html");
  await inside("a.txt");
  await inside("run.sh", true);
  await inside("sub/b.txt");
  await inside("sub/run.sh", true);
  await inside("sub/deeper/c.sh", true);
  await inside("dir-noindex/x.txt");
  await inside("ünï/u.sh", true);
  await inside("with index/index.html");
  await inside("back\\slash.sh", true);
  await inside("%2e%2e", true);
  await inside("q?x#y.txt");
  await outside(`${CANARY}.sh`);
  await outside(`${CANARY}-dir/${CANARY}.sh`);
  await outside(`rootevil/${CANARY}.sh`);
  await Deno.symlink(`../${CANARY}-dir`, `${root}/link-out`);
  await Deno.symlink(`${base}/${CANARY}-dir`, `${root}/link-abs`);
  await Deno.symlink(`../${CANARY}.sh`, `${root}/link-file`);
  await Deno.symlink(`../../${CANARY}.sh`, `${root}/sub/link-up2`);
  await Deno.symlink("../rootevil", `${root}/link-prefix`);
  await Deno.symlink("..", `${root}/link-parent`);
  await Deno.symlink("sub", `${root}/link-in`);
  await Deno.symlink(".", `${root}/link-self`);
  await Deno.symlink("loop2", `${root}/loop1`);
  await Deno.symlink("loop1", `${root}/loop2`);
  await Deno.symlink("missing", `${root}/dangling`);
  await Deno.symlink("root", `${base}/rootlink`);
  return { base, roots: [root, `${base}/rootlink`], realRoot: root };
}

const treeFixture = {
  setup: makeTree,
  cleanup: (t: Tree) => Deno.remove(t.base, { recursive: true }),
};

// ---------------------------------------------------------------------------
// generators

/** Names in the tree, inside and out. */
const NAMES = [
  "index.html",
  "a.txt",
  "run.sh",
  "sub",
  "b.txt",
  "deeper",
  "c.sh",
  "dir-noindex",
  "x.txt",
  "ünï",
  "u.sh",
  "with index",
  "back\\slash.sh",
  "%2e%2e",
  "q?x#y.txt",
  "link-out",
  "link-abs",
  "link-file",
  "link-up2",
  "link-prefix",
  "link-parent",
  "link-in",
  "link-self",
  "loop1",
  "loop2",
  "dangling",
  "root",
  "rootevil",
  "rootlink",
  `${CANARY}.sh`,
  `${CANARY}-dir`,
  // a few walks of two or more steps, which random picks reach too rarely
  `link-out/${CANARY}.sh`,
  `link-abs/${CANARY}.sh`,
  `link-prefix/${CANARY}.sh`,
  `link-parent/${CANARY}.sh`,
  `link-parent/rootevil/${CANARY}.sh`,
  `link-parent/root/run.sh`,
  "link-self/link-file",
  "link-in/run.sh",
  "sub/link-up2",
  "sub/deeper/c.sh",
];

/** Segments that try to climb or hide. */
const TRICKS = [
  "..",
  ".",
  "",
  "...",
  "..\\..",
  "\\..",
  "..;",
  "%2e%2e",
  "%2E%2E",
  "%2e.",
  ".%2E",
  "%2e",
  "%252e%252e",
  "%c0%ae%c0%ae",
  "%e0%80%ae",
  "%2f",
  "%2F",
  "..%2f..",
  "..%2F",
  "%5c",
  "..%5c..",
  "%00",
  "a%00b",
  "%",
  "%zz",
  "%2",
  "%u002e",
  "%ef%bc%8e%ef%bc%8e", // fullwidth dots
  "%e2%80%a4", // one dot leader
  "?",
  "#",
  ";",
  "~",
];

/** Percent-encodes some or all bytes of a name, hex in either case. */
function encodeSome(name: string, which: number[], upper: boolean): string {
  const bytes = new TextEncoder().encode(name);
  let out = "";
  bytes.forEach((b, i) => {
    const plain = b > 0x20 && b < 0x7f && b !== 0x25 && b !== 0x3f && b !== 0x23;
    if (plain && !which.includes(i)) out += String.fromCharCode(b);
    else {
      const h = b.toString(16).padStart(2, "0");
      out += "%" + (upper ? h.toUpperCase() : h);
    }
  });
  return out;
}

/** Printable ASCII: node:http answers 400 itself to any other byte in a request target. */
const printable = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 10,
});

const segmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKS) },
  {
    weight: 10,
    arbitrary: fc.tuple(fc.constantFrom(...NAMES), fc.array(fc.nat(20)), fc.boolean()).map((
      [n, which, upper],
    ) => encodeSome(n, which, upper)),
  },
  { weight: 1, arbitrary: printable },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 250, max: 5000 }), fc.constantFrom("a", "%2e", "..")).map(
      ([n, s]) => s.repeat(Math.ceil(n / s.length)),
    ),
  },
);

/** A request target as it appears on the request line. */
const targetArb: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom("/", "/", "/", "//", "", "http://host", "HTTP://h:80/", "./", "\\"),
  fc.array(fc.tuple(segmentArb, fc.constantFrom("/", "/", "/", "//", "/./", "\\", "%2f")), {
    maxLength: 6,
  }),
  fc.constantFrom("", "", "/", "?x=1", "?a=%2e%2e/../", "#frag", "/?"),
).map(([prefix, parts, suffix]) => {
  let t = prefix;
  parts.forEach(([seg, sep], i) => {
    t += (i === 0 ? "" : sep) + seg;
  });
  return t + suffix;
});

// ---------------------------------------------------------------------------
// checks

/** The form cleanPath promises: absolute, no empty, `.` or `..` segments. */
function assertClean(p: string, from: string): void {
  const what = `cleanPath(${JSON.stringify(from)}) = ${JSON.stringify(p)}`;
  assert(p.startsWith("/"), `${what}: not absolute`);
  assert(!p.includes("//"), `${what}: has //`);
  assert(!p.includes("/./") && !p.endsWith("/."), `${what}: has a . segment`);
  assert(!p.includes("/../") && !p.endsWith("/.."), `${what}: has a .. segment`);
}

async function checkResolve(tree: Tree, root: string, path: string, pathInfo: boolean) {
  const scripts = new ScriptRoot(root);
  const m = scripts.resolve(path, { pathInfo });
  if (typeof m === "string") return;
  const what = `resolve(${JSON.stringify(path)}, pathInfo: ${pathInfo}) under ${root}`;
  const real = await Deno.realPath(m.file);
  assert(real.startsWith(tree.realRoot + "/"), `${what} = ${real}: outside the root`);
  assert(!(await Deno.readTextFile(real)).includes(CANARY), `${what}: a canary`);
  assertEquals(m.file, scripts.root + m.scriptName, what);
  assertEquals(m.scriptName + m.pathInfo, path, what);
  if (!pathInfo) assertEquals(m.pathInfo, "", what);
  // odd segments are refused again here, not only by the 301
  assert(!/\/\.{0,2}(\/|$)/.test(m.scriptName), `${what}: matched through an odd segment`);
}

async function checkStatic(root: string, path: string, location: string) {
  const res = await serveStatic(new Request("http://h" + location), root, path);
  const what = `serveStatic(${JSON.stringify(path)}) under ${root}: ${res.status}`;
  const body = await res.text();
  assert(!body.includes(CANARY), `${what}: served something from outside the root`);
  // (an unclean path is never handed over by the route; it must still stay inside, and not crash)
  assert([200, 301, 404].includes(res.status), `${what}: unexpected status; ${body.slice(0, 200)}`);
  if (res.status === 301) {
    const to = res.headers.get("Location") ?? "";
    // relative to the directory or "./": never to another host
    assert(!/^[a-z][a-z0-9+.-]*:|^\/\/|^\/\\|^\\/i.test(to), `${what}: Location ${to}`);
  }
}

// ---------------------------------------------------------------------------
// the properties

/** Path and query properties. */
export const pathProperties: PropertyCase[] = [
  property(
    "paths: decodePath never throws; null or a string without NUL",
    5000,
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.array(fc.constantFrom("%", "%00", "%2", "%zz", "%c3", "%bc", "%ff", "a", "\0", "é", "😀"))
        .map((a) => a.join("")),
      targetArb,
    ),
    (raw) => {
      const d = decodePath(raw);
      assert(d === null || !d.includes("\0"), `decodePath(${JSON.stringify(raw)}) has NUL`);
      // a string free of escapes is taken as it is, else its escapes are UTF-8 bytes
      if (d !== null && !raw.includes("%")) assertEquals(d, raw);
      if (d !== null && /^[\x21-\x7e]*$/.test(raw)) {
        assertEquals(decodeURIComponentLenient(raw), d, `decodePath(${JSON.stringify(raw)})`);
      }
    },
  ),
  property(
    "paths: cleanPath is idempotent, absolute, free of //, . and .. segments; = posix.normalize",
    5000,
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.array(fc.constantFrom("/", "//", ".", "..", "a", "b.", "...", "\\", "%2e")).map((a) =>
        a.join("")
      ),
      targetArb.map((t) => decodePath(splitTarget(t).rawPath) ?? ""),
    ),
    (p) => {
      const c = cleanPath(p);
      assertClean(c, p);
      assertEquals(cleanPath(c), c, `cleanPath not idempotent on ${JSON.stringify(p)}`);
      // Go's path.Clean keeps no trailing slash; the route keeps one (directories redirect on it)
      assertEquals(c, posix.normalize("/" + p), `cleanPath(${JSON.stringify(p)})`);
    },
  ),
  property(
    "paths: the 301 Location for a clean path is same-origin and decodes back to the path",
    5000,
    targetArb,
    (target) => {
      const path = decodePath(splitTarget(target).rawPath);
      if (path === null) return;
      const clean = cleanPath(path);
      const location = escapePath(clean);
      // never //host or /\host (browsers read both as another host), never a scheme
      assert(/^\/(?![/\\])/.test(location), `Location ${location} for ${JSON.stringify(target)}`);
      const back = splitTarget(location);
      assertEquals(back.query, "", `Location ${location} grew a query`);
      assertEquals(decodePath(back.rawPath), clean, `Location ${location} does not lead back`);
      assert(/^[\x21-\x7e]*$/.test(location), `Location ${location} is not printable ASCII`);
    },
  ),
  property(
    "paths: splitTarget keeps the query byte for byte and the path starts at the first /",
    3000,
    fc.tuple(targetArb, fc.string({ maxLength: 20 })),
    ([target, q]) => {
      const t = target.split("?")[0]!.split("#")[0]! + "?" + q;
      const { rawPath, query } = splitTarget(t);
      assertEquals(query, q);
      assert(t.endsWith(rawPath + "?" + q), `splitTarget(${JSON.stringify(t)}) lost bytes`);
    },
  ),
  property(
    "paths: withoutParam drops exactly the parameters named so once decoded, others byte for byte",
    3000,
    fc.tuple(
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom("access_token", "access%5Ftoken", "access+token", "x", "%zz", ""),
            fc.string({ maxLength: 6 }),
          ),
          fc.option(fc.string({ maxLength: 6 })),
        ),
        { maxLength: 6 },
      ),
      fc.constantFrom("access_token", "access token", "x"),
    ),
    ([params, name]) => {
      const parts = params.map(([k, v]) => (v === null ? k : `${k}=${v}`));
      const query = parts.join("&");
      const out = withoutParam(query, name);
      const keyOf = (part: string) => {
        const key = part.split("=", 1)[0]!;
        try {
          return decodeURIComponent(key.replaceAll("+", " "));
        } catch {
          return key;
        }
      };
      // a parameter whose decoded name matches is dropped, escaped or not (the credential
      // check decodes names too); a query with neither the name nor an escape is untouched
      const kept = query.split("&").filter((p) => keyOf(p) !== name);
      if (query.includes(name) || query.includes("%")) assertEquals(out, kept.join("&"));
      else assertEquals(out, query);
      assertEquals(withoutParam(out, name), out, "not idempotent");
    },
  ),
  asyncProperty(
    "paths: decode → clean (301) → resolve/serve never reaches outside the root",
    800,
    fc.tuple(targetArb, fc.nat(1)),
    treeFixture,
    async (tree, [target, which]) => {
      const root = tree.roots[which]!;
      const { rawPath } = splitTarget(target);
      const path = decodePath(rawPath);
      if (path === null) return; // 400
      assert(!path.includes("\0"));
      const clean = cleanPath(path);
      assertClean(clean, path);
      // the route answers 301 when they differ; the client comes back with the Location
      const location = escapePath(clean);
      assertEquals(decodePath(splitTarget(location).rawPath), clean);
      for (const pathInfo of [true, false]) {
        await checkResolve(tree, root, clean, pathInfo);
        // defence in depth: the lookup alone holds even for a path that was never cleaned
        await checkResolve(tree, root, path, pathInfo);
      }
      await checkStatic(root, clean, location);
      await checkStatic(root, path, location);
    },
  ),
];

/** decodeURIComponent without its refusals, for printable ASCII input: the oracle for decodePath. */
function decodeURIComponentLenient(raw: string): string | null {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "%") {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(raw.charCodeAt(i));
  }
  if (bytes.includes(0)) return null;
  return new TextDecoder().decode(new Uint8Array(bytes));
}
