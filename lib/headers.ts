/**
 * `--header`, `--header-ws` and `--header-http` values.
 *
 * @module
 */

/** Canonical MIME header name, as Go writes it: `x-foo-bar` → `X-Foo-Bar`. */
export function canonicalHeaderName(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
}

/**
 * Parses `Name: value` the way websocketd does: the name is canonicalized,
 * spaces after the colon are skipped, and without a colon the whole text is
 * the name with an empty value.
 */
export function parseHeaderFlag(text: string): [string, string] {
  const i = text.indexOf(":");
  if (i < 0) return [canonicalHeaderName(text), ""];
  // control characters would corrupt the response; websocketd's library blanks them too
  // deno-lint-ignore no-control-regex
  const value = text.slice(i + 1).replace(/^[ \t]+/, "").replace(/[\x00-\x1f\x7f]/g, " ");
  return [canonicalHeaderName(text.slice(0, i)), value];
}

/** Whether a header name is a valid HTTP token (so it can be sent at all). */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}
