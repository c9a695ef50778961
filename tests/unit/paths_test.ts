/**
 * URL paths (lib/http/paths.ts) in process: decoding, cleaning, splitting a
 * request target, escaping for Location, and removing a secret parameter.
 * Hostile paths against the real server: tests/hostile_paths_test.ts.
 */

import {
  cleanPath,
  decodePath,
  escapePath,
  splitTarget,
  withoutParam,
} from "../../lib/http/paths.ts";
import { assertEquals } from "../../testing/assert.ts";

Deno.test("decodePath: escapes become UTF-8 text; invalid bytes U+FFFD; raw text passes", () => {
  assertEquals(decodePath("/a/b"), "/a/b");
  assertEquals(decodePath("/p%41th"), "/pAth");
  assertEquals(decodePath("/%C3%A9t%c3%a9"), "/été");
  assertEquals(decodePath("/%FF"), "/\uFFFD");
  assertEquals(decodePath("/a%2Fb"), "/a/b", "an escaped slash is a slash once decoded");
  assertEquals(decodePath("/é%20x"), "/é x", "raw non-ASCII text mixed with escapes");
  assertEquals(decodePath("/a+b"), "/a+b", "plus is not a space in a path");
});

Deno.test("decodePath: a malformed escape or a NUL, raw or escaped, is null (answered 400)", () => {
  for (const bad of ["/%", "/%4", "/%zz", "/%4g", "/a%00b", "/a\0b", "/%%41"]) {
    assertEquals(decodePath(bad), null, JSON.stringify(bad));
  }
});

Deno.test("cleanPath: Go's path.Clean for URLs, keeping a trailing slash", () => {
  const cases: [string, string][] = [
    ["", "/"],
    ["/", "/"],
    ["/a/../b", "/b"],
    ["//a", "/a"],
    ["/a/./b/", "/a/b/"],
    ["/a/..", "/"],
    ["/a/../", "/"],
    ["/../../x", "/x"],
    ["a/b", "/a/b"],
    ["/a//b///", "/a/b/"],
    ["/.hidden/..x", "/.hidden/..x"],
  ];
  for (const [p, want] of cases) assertEquals(cleanPath(p), want, p);
});

Deno.test("splitTarget: path and raw query; the absolute form keeps only the path", () => {
  assertEquals(splitTarget("/a?b=1"), { rawPath: "/a", query: "b=1" });
  assertEquals(splitTarget("/a"), { rawPath: "/a", query: "" });
  assertEquals(splitTarget("/a?"), { rawPath: "/a", query: "" });
  assertEquals(splitTarget("/a?b?c"), { rawPath: "/a", query: "b?c" });
  assertEquals(splitTarget("http://host:80/x?y"), { rawPath: "/x", query: "y" });
  assertEquals(splitTarget("ws://host"), { rawPath: "/", query: "" });
  // an empty path stays empty (the clean-path route then redirects to "/", as Go's mux does)
  assertEquals(splitTarget("https://host?q"), { rawPath: "", query: "q" });
  assertEquals(splitTarget("*"), { rawPath: "*", query: "" });
});

Deno.test("escapePath: a decoded path back to a safe Location", () => {
  assertEquals(escapePath("/a b/é"), "/a%20b/%C3%A9");
  assertEquals(escapePath("/what?#"), "/what%3F%23");
  assertEquals(escapePath("/100%"), "/100%25");
  assertEquals(escapePath("/a/b/"), "/a/b/");
  // what decodes back to the same path
  for (const p of ["/a b/é", "/what?#", "/100%", "/x%41"]) {
    assertEquals(decodePath(escapePath(p)), p, p);
  }
});

Deno.test("withoutParam: only the named parameter goes, the rest byte for byte", () => {
  const t = "access_token";
  assertEquals(withoutParam("a=1&access_token=x&b=%20", t), "a=1&b=%20");
  assertEquals(withoutParam("access_token=x", t), "");
  assertEquals(withoutParam("access_token", t), "", "a parameter without a value");
  assertEquals(withoutParam("access%5Ftoken=x&a=1", t), "a=1", "an escaped name is the name");
  assertEquals(withoutParam("access_token=1&access_token=2", t), "", "every occurrence");
  assertEquals(
    withoutParam("xaccess_token=1&access_tokens=2", t),
    "xaccess_token=1&access_tokens=2",
  );
  assertEquals(withoutParam("access+token=1", t), "access+token=1", "plus is a space");
  assertEquals(
    withoutParam("%zz=1&access_token=2", t),
    "%zz=1",
    "a bad escape compares as written",
  );
  const untouched = "a=1&b=2";
  assertEquals(withoutParam(untouched, t), untouched);
});
