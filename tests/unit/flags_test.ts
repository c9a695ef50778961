/**
 * Command-line parsing with Go's flag rules (lib/cli/flags.ts) in process.
 * Startup validation through the real CLI: tests/flags_test.ts.
 */

import nodeAssert from "node:assert/strict";
import { parseFlags, parseGoInt, UsageError } from "../../lib/cli/flags.ts";
import { assertEquals } from "../../testing/assert.ts";

Deno.test("flags end at COMMAND: its own flags pass through verbatim", () => {
  const p = parseFlags(["--port=8080", "./x.sh", "--port=9", "-v"]);
  assertEquals(p.values.get("port"), 8080);
  assertEquals(p.positionals, ["./x.sh", "--port=9", "-v"]);
});

Deno.test("-flag and --flag, =value and separate value, and '--' are all accepted", () => {
  const p = parseFlags(["-port", "81", "--address", "::1", "-address=127.0.0.1", "--", "-prog"]);
  assertEquals(p.values.get("port"), 81);
  assertEquals(p.values.get("address"), ["::1", "127.0.0.1"]);
  assertEquals(p.positionals, ["-prog"]);
});

Deno.test("booleans take no separate value: '--binary false' makes false the COMMAND", () => {
  const p = parseFlags(["--binary", "false"]);
  assertEquals(p.values.get("binary"), true);
  assertEquals(p.positionals, ["false"]);
  assertEquals(parseFlags(["--ssl=false"]).values.get("ssl"), false);
  assertEquals(parseFlags(["--ssl=T"]).values.get("ssl"), true);
});

Deno.test("repeatable flags append; others: last one wins", () => {
  const p = parseFlags(["--header=A: 1", "--header=B: 2", "--port=1", "--port=2"]);
  assertEquals(p.values.get("header"), ["A: 1", "B: 2"]);
  assertEquals(p.values.get("port"), 2);
});

Deno.test("integers follow Go's ParseInt base rules", () => {
  assertEquals(parseGoInt("0x10"), 16);
  assertEquals(parseGoInt("010"), 8);
  assertEquals(parseGoInt("-5"), -5);
  assertEquals(parseGoInt("1_000"), 1000);
  assertEquals(parseGoInt("08"), undefined);
  assertEquals(parseGoInt("abc"), undefined);
});

Deno.test("parse errors are UsageErrors with exit status 2", () => {
  for (
    const [argv, msg] of [
      [["--bogus"], "flag provided but not defined: -bogus"],
      [["--port=abc"], 'invalid value "abc" for flag -port: parse error'],
      [["--closems=-1"], 'invalid value "-1" for flag -closems: parse error'],
      [["--port"], "flag needs an argument: -port"],
      [["--ssl=maybe"], 'invalid boolean value "maybe" for -ssl: parse error'],
      [["---x"], "bad flag syntax: ---x"],
    ] as const
  ) {
    nodeAssert.throws(() => parseFlags(argv), (e: unknown) => {
      return e instanceof UsageError && e.exitCode === 2 && e.message === msg;
    });
  }
});
