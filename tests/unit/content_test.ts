/**
 * Go `ServeContent` rules (lib/http/content.ts serveContent) in process:
 * conditional requests, byte ranges, HEAD. Files over HTTP:
 * tests/static_test.ts.
 */

import { contentTypeFor, serveContent } from "../../lib/http/content.ts";
import { assertEquals } from "../../testing/assert.ts";

const BODY = new TextEncoder().encode("0123456789");
const MTIME = new Date("2024-05-01T12:00:00Z");
const ETAG = '"v1"';
const HTTP_DATE = MTIME.toUTCString();
const LATER = new Date(MTIME.getTime() + 60_000).toUTCString();
const EARLIER = new Date(MTIME.getTime() - 60_000).toUTCString();

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The ranges the body callback was asked for. */
  reads: [number, number][];
}

/** Serves the ten-byte representation for one request. */
async function serve(
  headers: Record<string, string> = {},
  opts: { method?: string; etag?: string | null; mtime?: Date | null; size?: number } = {},
): Promise<Answer> {
  const reads: [number, number][] = [];
  const size = opts.size ?? BODY.length;
  const res = serveContent(
    new Request("http://h/f.txt", { method: opts.method ?? "GET", headers }),
    {
      size,
      mtime: opts.mtime === undefined ? MTIME : opts.mtime,
      contentType: "text/plain; charset=utf-8",
      etag: opts.etag === null ? undefined : opts.etag ?? ETAG,
      body: (start, end) => {
        reads.push([start, end]);
        return BODY.slice(start, end);
      },
    },
  );
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body: await res.text(),
    reads,
  };
}

Deno.test("serveContent: a plain GET is the whole body with validators and Accept-Ranges", async () => {
  const r = await serve();
  assertEquals(r.status, 200);
  assertEquals(r.body, "0123456789");
  assertEquals(r.headers, {
    "accept-ranges": "bytes",
    "content-length": "10",
    "content-type": "text/plain; charset=utf-8",
    etag: ETAG,
    "last-modified": HTTP_DATE,
  });
  assertEquals(r.reads, [[0, 10]]);
});

Deno.test("serveContent: HEAD has every header and no body (the body is never produced)", async () => {
  const r = await serve({}, { method: "HEAD" });
  assertEquals([r.status, r.body, r.headers["content-length"]], [200, "", "10"]);
  assertEquals(r.reads, []);
  const ranged = await serve({ Range: "bytes=2-3" }, { method: "HEAD" });
  assertEquals([ranged.status, ranged.headers["content-length"], ranged.reads], [206, "2", []]);
});

Deno.test("serveContent: If-None-Match / If-Modified-Since answer 304 for GET and HEAD", async () => {
  for (
    const h of <Record<string, string>[]> [
      { "If-None-Match": ETAG },
      { "If-None-Match": `W/${ETAG}` }, // weak comparison
      { "If-None-Match": `"other", ${ETAG}` },
      { "If-None-Match": "*" },
      { "If-Modified-Since": HTTP_DATE },
      { "If-Modified-Since": LATER },
    ]
  ) {
    for (const method of ["GET", "HEAD"]) {
      const r = await serve(h, { method });
      assertEquals([r.status, r.body, r.reads], [304, "", []], `${method} ${JSON.stringify(h)}`);
    }
  }
  // with an ETag the 304 drops Last-Modified, as Go does
  const r = await serve({ "If-None-Match": ETAG });
  assertEquals([r.headers.etag, r.headers["last-modified"]], [ETAG, undefined]);
  const noTag = await serve({ "If-Modified-Since": HTTP_DATE }, { etag: null });
  assertEquals(noTag.headers["last-modified"], HTTP_DATE);
});

Deno.test("serveContent: a changed representation is sent in full", async () => {
  for (
    const h of <Record<string, string>[]> [
      { "If-None-Match": '"v0"' },
      { "If-Modified-Since": EARLIER },
      { "If-Modified-Since": "not a date" },
      // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
      { "If-None-Match": '"v0"', "If-Modified-Since": LATER },
    ]
  ) {
    assertEquals((await serve(h)).status, 200, JSON.stringify(h));
  }
  // without a usable mtime (unknown, or the Unix epoch) dates are ignored
  assertEquals((await serve({ "If-Modified-Since": LATER }, { mtime: null })).status, 200);
  const epoch = await serve({ "If-Modified-Since": LATER }, { mtime: new Date(0) });
  assertEquals([epoch.status, epoch.headers["last-modified"]], [200, undefined]);
});

Deno.test("serveContent: If-None-Match that matches on an unsafe method is 412", async () => {
  const r = await serve({ "If-None-Match": ETAG }, { method: "POST" });
  assertEquals([r.status, r.reads], [412, []]);
});

Deno.test("serveContent: If-Match / If-Unmodified-Since failing answer 412 before anything else", async () => {
  for (
    const h of <Record<string, string>[]> [
      { "If-Match": '"v0"' },
      { "If-Match": `W/${ETAG}` }, // strong comparison
      { "If-Unmodified-Since": EARLIER },
      { "If-Match": '"v0"', "If-None-Match": ETAG, Range: "bytes=0-1" },
    ]
  ) {
    const r = await serve(h);
    assertEquals([r.status, r.body, r.reads], [412, "", []], JSON.stringify(h));
  }
  assertEquals((await serve({ "If-Match": '"v0"' }, { etag: `W/${ETAG}` })).status, 412);
  // passing preconditions
  for (
    const h of <Record<string, string>[]> [
      { "If-Match": ETAG },
      { "If-Match": "*" },
      { "If-Unmodified-Since": HTTP_DATE },
      { "If-Unmodified-Since": LATER },
      // If-Match present: If-Unmodified-Since is not looked at
      { "If-Match": ETAG, "If-Unmodified-Since": EARLIER },
    ]
  ) {
    assertEquals((await serve(h)).status, 200, JSON.stringify(h));
  }
});

Deno.test("serveContent: one satisfiable range is 206 with Content-Range", async () => {
  const cases: [string, string, string][] = [
    ["bytes=0-4", "01234", "bytes 0-4/10"],
    ["bytes=5-", "56789", "bytes 5-9/10"],
    ["bytes=-3", "789", "bytes 7-9/10"],
    ["bytes=8-100", "89", "bytes 8-9/10"],
    ["bytes=-100", "0123456789", "bytes 0-9/10"],
    ["BYTES = 1-1", "1", "bytes 1-1/10"],
    ["bytes=20-30, 2-3", "23", "bytes 2-3/10"],
  ];
  for (const [range, body, contentRange] of cases) {
    const r = await serve({ Range: range });
    assertEquals(
      [r.status, r.body, r.headers["content-range"], r.headers["content-length"]],
      [206, body, contentRange, String(body.length)],
      range,
    );
  }
});

Deno.test("serveContent: unsatisfiable ranges are 416 with the size; malformed ones 416; several 200", async () => {
  for (const range of ["bytes=10-", "bytes=-0", "bytes=50-60"]) {
    const r = await serve({ Range: range });
    assertEquals(
      [r.status, r.headers["content-range"], r.body, r.reads],
      [416, "bytes */10", "invalid range: failed to overlap\n", []],
      range,
    );
  }
  for (const range of ["bytes=x", "bytes=4-2", "bytes=-", "items=0-1", "bytes 0-1"]) {
    const r = await serve({ Range: range });
    assertEquals([r.status, r.body, r.headers["content-range"]], [
      416,
      "invalid range\n",
      undefined,
    ], range);
  }
  const several = await serve({ Range: "bytes=0-1,4-5" });
  assertEquals([several.status, several.body], [200, "0123456789"]);
  // an empty representation ignores Range, as Go does for clients that always send one
  const empty = await serve({ Range: "bytes=0-" }, { size: 0 });
  assertEquals([empty.status, empty.headers["content-length"]], [200, "0"]);
});

Deno.test("serveContent: If-Range lets a range through only for the current representation", async () => {
  const ranged = (ifRange: string, opts = {}) =>
    serve({ Range: "bytes=0-1", "If-Range": ifRange }, opts);
  assertEquals((await ranged(ETAG)).status, 206);
  assertEquals((await ranged(HTTP_DATE)).status, 206);
  assertEquals((await ranged('"v0"')).status, 200);
  assertEquals((await ranged(`W/${ETAG}`)).status, 200, "a weak tag never matches");
  assertEquals((await ranged(ETAG, { etag: `W/${ETAG}` })).status, 200);
  assertEquals((await ranged(EARLIER)).status, 200);
  assertEquals((await ranged(LATER)).status, 200, "only an exact date matches");
  assertEquals((await ranged("garbage")).status, 200);
});

Deno.test("contentTypeFor: by extension, case-insensitive; unknown is undefined", () => {
  assertEquals(contentTypeFor("/a/b/index.HTML"), "text/html; charset=utf-8");
  assertEquals(contentTypeFor("app.mjs"), "text/javascript; charset=utf-8");
  assertEquals(contentTypeFor("x.wasm"), "application/wasm");
  assertEquals(contentTypeFor("README"), undefined);
  assertEquals(contentTypeFor("a.unknownext"), undefined);
  assertEquals(contentTypeFor("dir.d/file"), undefined);
});
