/**
 * Properties of the CGI header block parser (parseCgiHead, lib/cgi/head.ts)
 * against a buggy or hostile script: random header lines (bad statuses,
 * hop-by-hop headers, control characters, bytes above 0x7f, lines without a
 * colon, bare CRs), random line endings, blocks near and past the 64 KiB
 * limit, and plain random bytes. The block arrives in pieces, so the parser
 * is also asked about every prefix, as lib/cgi/run.ts does while it reads.
 *
 * @module
 */

import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { CGI_HEADER_LIMIT, type CgiHeadResult, parseCgiHead } from "../../lib/cgi/head.ts";
import { FIELD_VALUE, isToken } from "../../lib/http/headers.ts";
import { property, type PropertyCase } from "./harness.ts";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

const nameArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "Status",
      "status",
      "STATUS",
      " Status ",
      "Content-Type",
      "Location",
      "Content-Length",
      "X-Thing",
      "Set-Cookie",
      ...HOP_BY_HOP,
      "Transfer-Encoding ",
      "CONNECTION",
      "Upgrade\t",
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "a b", "x\x00y", "é", "(x)", "X:Y") },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const valueArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "200",
      "200 OK",
      "404 Not Found",
      "418 I'm a teapot",
      "599 x",
      "302",
      "101 Switching",
      "199",
      "600",
      "99",
      "2000",
      "20",
      "abc",
      "200\tOK",
      "204  ",
      "text/plain",
      "/somewhere",
      "http://example.com/",
      "close",
      "chunked",
      "5",
      "-1",
      "1e3",
      " 12 ",
      "",
    ),
  },
  {
    weight: 2,
    arbitrary: fc.array(
      fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.constantFrom("\0", "\r", "\x0b", "\x0c", "\x7f", "\x85", "\xa0", "\xff", "\t", " "),
      ),
      { maxLength: 5 },
    ).map((p) => p.join("")),
  },
);
const eolArb = fc.constantFrom("\n", "\n", "\r\n", "\r\n", "\r", "\n\r");
/** Lines a working script prints. */
const goodLineArb = fc.oneof(
  fc.constantFrom(
    "Content-Type: text/plain",
    "Content-type:text/html; charset=utf-8",
    "Status: 404 Not Found",
    "Status: 201",
    "Location: /elsewhere",
    "X-Thing: a b",
    "Set-Cookie: a=1",
    "Content-Length: 5",
  ),
  fc.tuple(
    fc.string({ unit: fc.constantFrom(..."abcXYZ-_.!#"), minLength: 1, maxLength: 8 }),
    fc.string({ unit: "grapheme-ascii", maxLength: 10 }),
  ).map(([n, v]) => `${n}: ${v}`),
);
const lineArb = fc.oneof(
  { weight: 6, arbitrary: goodLineArb },
  { weight: 4, arbitrary: fc.tuple(nameArb, fc.constantFrom(":", ": ", " :"), valueArb) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(""), fc.constant(""), valueArb) },
).map((l) => (typeof l === "string" ? l : l.join("")));

/** Bytes as a Latin-1 string: counterexamples then read as text. */
const bytesText = (maxLength: number) =>
  fc.uint8Array({ maxLength }).map((b) => String.fromCharCode(...b));

/**
 * A script's output as a Latin-1 string (one character per byte): header
 * lines, maybe a blank line, maybe a body, maybe huge.
 */
const outputArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(
      fc.array(fc.tuple(lineArb, eolArb), { maxLength: 8 }),
      fc.constantFrom("\n", "\n", "\n", "\r\n", "\r\n", "\r\n", "", "x"),
      bytesText(20),
    ).map(([lines, end, body]) => lines.map(([l, e]) => l + e).join("") + end + body),
  },
  { weight: 1, arbitrary: bytesText(200) },
  {
    // blocks around the 64 KiB limit: one long value, a blank line maybe just past it
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: -40, max: 40 }), fc.boolean(), fc.boolean()).map(
      ([delta, crlf, end]) => {
        const pre = "Content-Type: text/plain\nX-Long: ";
        const fill = Math.max(0, CGI_HEADER_LIMIT - pre.length - 2 + delta);
        return pre + "a".repeat(fill) + (crlf ? "\r\n" : "\n") + (end ? "\n" : "");
      },
    ),
  },
);

function checkHead(r: CgiHeadResult, buf: Uint8Array, what: string): void {
  if (r.kind === "more") {
    assert(buf.length < CGI_HEADER_LIMIT, `${what}: more at ${buf.length} bytes`);
    return;
  }
  if (r.kind === "bad") {
    assert(r.reason.length > 0 && !/[\r\n]/.test(r.reason), `${what}: reason ${r.reason}`);
    return;
  }
  const { head, bodyStart } = r;
  assert(head.status >= 200 && head.status <= 599, `${what}: status ${head.status}`);
  assert(FIELD_VALUE.test(head.statusText), `${what}: status text ${head.statusText}`);
  assert(bodyStart <= buf.length && buf[bodyStart - 1] === 10, `${what}: bodyStart ${bodyStart}`);
  assert(bodyStart <= CGI_HEADER_LIMIT + 1, `${what}: a head past the limit`);
  for (const [name, value] of head.headers) {
    assert(isToken(name), `${what}: header name ${JSON.stringify(name)}`);
    assert(!HOP_BY_HOP.includes(name.toLowerCase()), `${what}: hop-by-hop ${name}`);
    assert(name.toLowerCase() !== "status", `${what}: Status passed on`);
    assert(FIELD_VALUE.test(value), `${what}: value ${JSON.stringify(value)}`);
    assert(!/^[ \t]|[ \t]$/.test(value), `${what}: value with outer whitespace`);
  }
  if (head.contentLength !== null) assert(Number.isSafeInteger(head.contentLength));
  // what lib/cgi/run.ts builds from it must not throw
  new Response(null, {
    status: head.status,
    ...(head.statusText ? { statusText: head.statusText } : {}),
    headers: head.headers,
  });
}

/** CGI header block properties. */
export const cgiHeadProperties: PropertyCase[] = [
  property(
    "cgi head: never throws; a head has status 200-599, no hop-by-hop headers, clean values",
    1500,
    outputArb,
    (text) => {
      const buf = latin1(text);
      checkHead(parseCgiHead(buf), buf, JSON.stringify(text.slice(0, 300)));
    },
  ),
  property(
    "cgi head: read as it arrives, every prefix agrees with the whole (once decided, stays)",
    600,
    fc.tuple(outputArb, fc.array(fc.nat(), { maxLength: 12 })),
    ([text, cutsRaw]) => {
      const buf = latin1(text);
      const whole = parseCgiHead(buf);
      const what = JSON.stringify(text.slice(0, 300));
      const cuts = [...new Set(cutsRaw.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
      let decided: CgiHeadResult | null = null;
      for (const end of [...cuts, buf.length]) {
        const r = parseCgiHead(buf.subarray(0, end));
        checkHead(r, buf.subarray(0, end), what);
        if (decided) assertEquals(r, decided, `${what}: changed its mind at ${end} bytes`);
        else if (r.kind !== "more") decided = r;
      }
      if (decided) assertEquals(whole, decided);
    },
  ),
];
