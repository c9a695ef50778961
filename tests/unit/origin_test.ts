/**
 * The Origin policy (lib/http/origin.ts checkOrigin) in process: `--origin`
 * lists and `--sameorigin`, matched as websocketd matches them. The same
 * table against a real server: tests/handshake_test.ts.
 */

import { checkOrigin, type OriginPolicy } from "../../lib/http/origin.ts";
import { assertEquals } from "../../testing/assert.ts";

const open: OriginPolicy = { allowed: null, same: false };
const list = (...allowed: string[]): OriginPolicy => ({ allowed, same: false });
const same: OriginPolicy = { allowed: null, same: true };

const LISTED = "Origin is not listed in allowed list";
const SAME = "Same origin policy mismatch";

Deno.test("checkOrigin: without a policy any parsable Origin passes; none at all reads as file:", () => {
  for (const origin of [undefined, "", "null", "http://a", "https://b:8443", "file://", "x-app:"]) {
    assertEquals(checkOrigin(open, origin, "h", false), null, String(origin));
  }
});

Deno.test("checkOrigin: an Origin that is not an absolute URI is refused, whatever the policy", () => {
  assertEquals(
    checkOrigin(open, "not a uri", "h", false),
    "Origin parsing error: 'not a uri' is not an absolute URI",
  );
  assertEquals(checkOrigin(open, "http://exa mple.com", "h", false) !== null, true);
  assertEquals(checkOrigin(open, "http://a:port", "h", false) !== null, true);
  // "null" is only read as file: when no list is given
  assertEquals(
    checkOrigin(list("a"), "null", "h", false),
    "Origin parsing error: 'null' is not an absolute URI",
  );
});

Deno.test("checkOrigin: --origin entries match host, optionally scheme and port", () => {
  const cases: [string[], string, string | null][] = [
    [["example.com"], "http://example.com", null],
    [["example.com"], "https://example.com:9999", null],
    [["example.com"], "http://other.com", LISTED],
    [["example.com"], "http://sub.example.com", LISTED],
    [["https://example.com"], "http://example.com", LISTED],
    [["https://example.com"], "https://example.com", null],
    [["HTTPS://example.com"], "https://example.com", null],
    [["example.com:8080"], "http://example.com:8080", null],
    [["example.com:8080"], "http://example.com", LISTED],
    [["http://example.com:80/"], "http://example.com", null],
    [["[::1]:8080"], "http://[::1]:8080", null],
    [["::1"], "http://[::1]:1", null],
    [["a.com", "b.com"], "http://b.com", null],
    [["example.com"], "http://user@example.com", null],
    [[], "http://example.com", LISTED],
  ];
  for (const [allowed, origin, want] of cases) {
    assertEquals(checkOrigin(list(...allowed), origin, "h", false), want, `${allowed} ← ${origin}`);
  }
});

Deno.test("checkOrigin: --sameorigin compares host and port with the Host header, default ports by scheme", () => {
  assertEquals(checkOrigin(same, "http://example.com:8080", "example.com:8080", false), null);
  assertEquals(checkOrigin(same, "http://example.com", "example.com", false), null);
  assertEquals(checkOrigin(same, "http://example.com", "example.com:8080", false), SAME);
  assertEquals(checkOrigin(same, "http://other.com", "example.com", false), SAME);
  // the Host's default port follows our TLS, the Origin's its scheme
  assertEquals(checkOrigin(same, "https://example.com", "example.com", true), null);
  assertEquals(checkOrigin(same, "https://example.com", "example.com", false), SAME);
  // scheme itself is not compared, host case is
  assertEquals(checkOrigin(same, "ws://example.com:80", "example.com", false), null);
  assertEquals(checkOrigin(same, "http://Example.com", "example.com", false), SAME);
  assertEquals(checkOrigin(same, "http://example.com", undefined, false), SAME);
  assertEquals(checkOrigin(same, "http://[::1]:9", "[::1]:9", false), null);
});

Deno.test("checkOrigin: --sameorigin and --origin together must both pass", () => {
  const both: OriginPolicy = { allowed: ["example.com"], same: true };
  assertEquals(checkOrigin(both, "http://example.com", "example.com", false), null);
  assertEquals(checkOrigin(both, "http://example.com", "other.com", false), SAME);
  assertEquals(checkOrigin(both, "http://other.com", "other.com", false), LISTED);
});
