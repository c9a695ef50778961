/**
 * Properties of `--header`, `--header-ws` and `--header-http` values
 * (parseHeaderFlag, lib/http/headers.ts): whatever text an operator (or a
 * script that writes the command line) passes, either it is refused at
 * startup, or it becomes exactly one well-formed header line, on the 101
 * (written as UTF-8) and on plain HTTP answers (written by node:http as
 * Latin-1) alike.
 *
 * @module
 */

import fc from "fast-check";
import { validateHeaderName, validateHeaderValue } from "node:http";
import { assert, assertEquals } from "../assert.ts";
import {
  canonicalHeaderName,
  FIELD_VALUE,
  isToken,
  parseHeaderFlag,
} from "../../lib/http/headers.ts";
import { property, type PropertyCase } from "./harness.ts";

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Characters that matter around header values. */
const SPECIAL = [
  "\r",
  "\n",
  "\r\n",
  "\0",
  "\t",
  " ",
  ":",
  "\x0b",
  "\x0c",
  "\x7f",
  "\x85",
  "\xa0",
  "\xff",
  "é",
  "€",
  "\u010a", // Latin-1 truncation of this is LF
  "\u010d", // … and this CR
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ud800",
  "😀",
];

const tokenArb = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
const valueArb = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 6 }) },
    { weight: 2, arbitrary: fc.constantFrom(...SPECIAL) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
  ),
  { maxLength: 8 },
).map((parts) => parts.join(""));

/** `--header` text: mostly NAME: VALUE shapes, some anything at all. */
const flagArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.oneof({ weight: 4, arbitrary: tokenArb }, valueArb),
      fc.constantFrom(":", ": ", " : ", ":\t", "", "::", ":\r\n", "\n:"),
      valueArb,
    ).map(([n, sep, v]) => n + sep + v),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
);

/** The bytes node:http puts on the wire for a header string: Latin-1, one byte per unit. */
function latin1Bytes(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** `--header` properties. */
export const headerProperties: PropertyCase[] = [
  property(
    "headers: --header text is refused, or becomes exactly one clean header line",
    10000,
    flagArb,
    (text) => {
      let parsed: [string, string];
      try {
        parsed = parseHeaderFlag(text);
      } catch (e) {
        assert(e instanceof Error && e.message.length > 0);
        return;
      }
      const [name, value] = parsed;
      const what = `parseHeaderFlag(${JSON.stringify(text)}) = ${JSON.stringify(parsed)}`;
      assert(isToken(name), `${what}: name is not a token`);
      assertEquals(canonicalHeaderName(name), name, `${what}: name not canonical`);
      assert(FIELD_VALUE.test(value), `${what}: value is not a field value`);
      assert(!/^[ \t]|[ \t]$/.test(value), `${what}: value has outer whitespace`);
      const line = `${name}: ${value}`;
      const head = ["HTTP/1.1 200 OK", "Content-Length: 0"];
      const block = [...head, line].join("\r\n") + "\r\n\r\n";
      // one more line however it is written: as UTF-8 (the 101) or as Latin-1 (node:http)
      for (const bytes of [Array.from(new TextEncoder().encode(block)), latin1Bytes(block)]) {
        const lines = String.fromCharCode(...bytes).split(/\r\n|\r|\n/);
        assertEquals(lines.length, head.length + 3, `${what}: header block lines`);
        assertEquals(lines.at(-2), "", what);
      }
      // node:http writes it (it throws at writeHead otherwise: a 500 on every answer),
      // and the Fetch API reads it back unchanged
      validateHeaderName(name);
      validateHeaderValue(name, value);
      assertEquals(new Headers([[name, value]]).get(name), value, `${what}: Headers disagree`);
    },
  ),
];
