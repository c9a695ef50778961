/**
 * HTTP header names and values we write ourselves: the token rule (RFC 9110
 * §5.6.2) written once, and `--header`, `--header-ws`, `--header-http`.
 *
 * @module
 */

/** An HTTP token: header names, subprotocols, methods. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `text` is an HTTP token. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** A header value node:http and every peer accept: tab, visible ASCII, space, obs-text. */
export const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Canonical MIME header name, as Go writes it: `x-foo-bar` → `X-Foo-Bar`. */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
}

/**
 * Parses `Name: value` the way websocketd does (the name canonicalized,
 * spaces after the colon skipped, no colon = a name with an empty value),
 * but refuses what would corrupt a response: a name that is not a token, a
 * value with control characters (CR and LF would inject headers).
 * @throws {Error} saying what is wrong with the text.
 */
export function parseHeaderFlag(text: string): [string, string] {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) {
    throw new Error(`'${escape(text)}': control characters (CR, LF...) would corrupt the response`);
  }
  const i = text.indexOf(":");
  const name = (i < 0 ? text : text.slice(0, i)).trim();
  const value = i < 0 ? "" : text.slice(i + 1).replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
  if (!isToken(name)) {
    throw new Error(`'${escape(text)}': the header name '${escape(name)}' is not an HTTP token`);
  }
  // A character above U+00FF (`€`, `\u010a`) cannot go on a header line: node:http then
  // throws at every writeHead, and each plain HTTP answer became a dropped connection.
  // (Found by the property tests of testing/property/headers.ts.)
  if (!FIELD_VALUE.test(value)) {
    throw new Error(
      `'${escape(text)}': the value has characters a header cannot carry (only Latin-1 text)`,
    );
  }
  return [canonicalHeaderName(name), value];
}

/** Makes control characters visible in an error message. */
function escape(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}
