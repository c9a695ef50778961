/**
 * Startup validation through the real CLI, with websocketd's messages and
 * exit statuses. The parsing rules themselves: tests/unit/flags_test.ts.
 */

import { assertEquals, assertMatch } from "../testing/assert.ts";
import { runCli, TESTPROG } from "../testing/server.ts";

Deno.test("startup errors: websocketd's messages, streams and exit statuses", async () => {
  const cases: [string[], number, "stdout" | "stderr", RegExp][] = [
    [[], 1, "stdout", /^Command line arguments are missing\.\n$/],
    [["--bogus"], 2, "stderr", /flag provided but not defined: -bogus/],
    [["--port=abc", "cat"], 2, "stderr", /invalid value "abc" for flag -port/],
    [["--port=1"], 1, "stderr", /Please specify COMMAND or provide --dir, --staticdir or --cgidir/],
    [
      ["no-such-program-xyz"],
      1,
      "stderr",
      /Unable to locate specified COMMAND 'no-such-program-xyz' in OS path\./,
    ],
    [["--dir=tests", "cat"], 1, "stderr", /Ambiguous\. Provided COMMAND and --dir argument/],
    [["--dir=/nonexistent-dir"], 1, "stderr", /Could not find your script dir '\/nonexistent-dir'/],
    [
      ["--dir=deno.json"],
      1,
      "stderr",
      /Did you mean to specify COMMAND instead of --dir 'deno.json'\?/,
    ],
    [
      ["--staticdir=/nonexistent-dir"],
      1,
      "stderr",
      /Your static dir '\/nonexistent-dir' is not pointing/,
    ],
    [
      ["--ssl", "cat"],
      1,
      "stderr",
      /Please specify both --sslcert and --sslkey when requesting --ssl\./,
    ],
    [
      ["--sslcert=x.pem", "cat"],
      1,
      "stderr",
      /You should not be using --ssl\* flags when there is no --ssl option\./,
    ],
    [["--sslca=ca.pem", "cat"], 1, "stderr", /You should not be using --ssl\* flags/],
    [
      ["--devconsole", "--staticdir=tests"],
      4,
      "stdout",
      /--devconsole cannot be used with --staticdir or --cgidir/,
    ],
    [
      ["--binary", "--passstderr", "cat"],
      1,
      "stderr",
      /only specify one of --binary and --passstderr/,
    ],
    [["--loglevel=verbose", "cat"], 1, "stdout", /Incorrect loglevel flag 'verbose'\. Use --help/],
    [["--maxframesize=-1", "cat"], 1, "stderr", /--maxframesize must be 0/],
    [["--port=70000", "cat"], 3, "stderr", /--port=70000 is not a TCP port/],
  ];
  for (const [args, code, stream, re] of cases) {
    const out = await runCli(args);
    assertEquals(out.code, code, `exit status for ${args.join(" ")}: ${out.stdout}${out.stderr}`);
    assertMatch(out[stream], re, `output of ${args.join(" ")}`);
  }
});

Deno.test("--version and --license print on stdout and exit 0; --help prints on stderr", async () => {
  const v = await runCli(["--version"]);
  assertEquals(v.code, 0);
  assertMatch(v.stdout, /^websocketd \S+ \(deno\S+ \S+-\S+\) --\n$/);
  const l = await runCli(["--license"]);
  assertEquals(l.code, 0);
  assertMatch(l.stdout, /Redistribution and use in source and binary forms/);
  for (const flag of ["--help", "-h", "-help"]) {
    const h = await runCli([flag]);
    assertEquals(h.code, 0);
    assertMatch(h.stderr, /--maxframesize=BYTES/);
    assertMatch(h.stderr, /--passstderr/);
  }
});

Deno.test("a port in use fails with exit status 3 and a FATAL line on stdout", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (l.addr as Deno.NetAddr).port;
    const out = await runCli(["--address=127.0.0.1", `--port=${port}`, TESTPROG, "x", "echo"]);
    assertEquals(out.code, 3);
    assertMatch(
      out.stdout,
      new RegExp(
        `\\| FATAL  \\| server .*Can't start server: listen tcp 127\\.0\\.0\\.1:${port}: bind: address already in use`,
      ),
    );
  } finally {
    l.close();
  }
});

Deno.test("--loglevel=none prints nothing at all, even on failure", async () => {
  const out = await runCli(["--loglevel=none", "--address=256.1.1.1", "--port=1", "cat"]);
  assertEquals(out.code, 3);
  assertEquals(out.stdout, "");
});
