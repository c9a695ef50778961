/**
 * htpasswd parsing and verification against files written by the real
 * Apache `htpasswd` (Debian's apache2-utils), in every format it writes.
 * Without `htpasswd` these print `SKIP:` and pass, unless REQUIRE_E2E=1.
 */

import bcrypt from "bcryptjs";
import { decoyFor, parseHtpasswd, verify } from "../lib/http/htpasswd.ts";
import type { HtpasswdEntry } from "../lib/http/htpasswd.ts";
import { loadCredentials } from "../lib/http/auth.ts";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";

const dec = new TextDecoder();

/** `htpasswd -nb FLAGS user password`'s `user:hash`, or null when the tool is missing. */
async function htpasswd(flags: string[], user: string, password: string): Promise<string | null> {
  let out;
  try {
    out = await new Deno.Command("htpasswd", {
      args: ["-nb", ...flags, user, password],
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  assert(out.success, `htpasswd ${flags.join(" ")} failed`);
  return dec.decode(out.stdout).trim();
}

function skipOrFail(reason: string): void {
  if (Deno.env.get("REQUIRE_E2E") === "1") throw new Error(`REQUIRE_E2E=1 but ${reason}`);
  console.log(`SKIP: ${reason} (set REQUIRE_E2E=1 to make this a failure)`);
}
const NO_HTPASSWD = "htpasswd not installed (apt-get install apache2-utils)";

/** Every format `htpasswd` writes that we accept, with the scheme we must detect. */
const FORMATS: [string[], HtpasswdEntry["scheme"]][] = [
  [[], "apr1"], // Apache's default
  [["-m"], "apr1"],
  [["-B", "-C", "4"], "bcrypt"],
  [["-2"], "sha256-crypt"],
  [["-5"], "sha512-crypt"],
  [["-2", "-r", "1000"], "sha256-crypt"],
  [["-5", "-r", "6000"], "sha512-crypt"],
  [["-s"], "sha1"],
];

// ASCII, a colon (Basic splits only at the first), multi-byte UTF-8, and long
// enough to cross SHA-512's 64-byte block in SHA-crypt's steps 9 and 16
const PASSWORDS = ["s3cret", "a:b c", "pässwörd €", "x".repeat(70) + "€"];

Deno.test("htpasswd: every format htpasswd writes verifies the right password only", async () => {
  const lines: string[] = ["# made by htpasswd", ""];
  const expected: { user: string; scheme: string; password: string }[] = [];
  for (const [flags, scheme] of FORMATS) {
    for (const [i, password] of PASSWORDS.entries()) {
      const user = `u${lines.length}_${i}`;
      const line = await htpasswd(flags, user, password);
      if (line === null) return skipOrFail(NO_HTPASSWD);
      lines.push(line);
      expected.push({ user, scheme, password });
    }
  }
  const { entries, warnings } = parseHtpasswd(lines.join("\n") + "\n", "users.htpasswd");
  assertEquals(entries.length, expected.length);
  for (const [i, e] of entries.entries()) {
    const want = expected[i]!;
    assertEquals([e.user, e.scheme, e.line], [want.user, want.scheme, i + 3]);
    assert(verify(e, want.password), `${e.scheme} rejects the right password (${e.hash})`);
    // change the first character: bcrypt (here and in Apache) ignores bytes past the 72nd
    assert(!verify(e, `#${want.password.slice(1)}`), `${e.scheme} accepts a wrong password`);
    assert(!verify(e, ""), `${e.scheme} accepts an empty password`);
  }
  // {SHA} is accepted but named in a warning per entry, with file:line and the fix
  const sha1 = entries.filter((e) => e.scheme === "sha1");
  assertEquals(warnings.length, sha1.length);
  assertMatch(warnings[0]!, /^users\.htpasswd:\d+: ".*" has an unsalted SHA-1 \(\{SHA\}\) hash/);
  assertMatch(warnings[0]!, /htpasswd -B users\.htpasswd /);
});

Deno.test("htpasswd: $2a$/$2b$ bcrypt and glibc $1$ MD5-crypt are accepted too", () => {
  const b = bcrypt.hashSync("pässwörd", 4);
  assertMatch(b, /^\$2b\$04\$/);
  const file = [
    `b:${b}`,
    `a:${b.replace("$2b$", "$2a$")}`,
    // openssl passwd -1 -salt abcdefgh 'pässwörd' (UTF-8)
    "m:$1$abcdefgh$xYuxUFvxUOR4Pd6a7EeUS0",
  ].join("\n");
  const { entries } = parseHtpasswd(file, "f");
  assertEquals(entries.map((e) => e.scheme), ["bcrypt", "bcrypt", "md5-crypt"]);
  for (const e of entries) {
    assert(verify(e, "pässwörd"), `${e.user} rejects the right password`);
    assert(!verify(e, "passwörd"), `${e.user} accepts a wrong password`);
  }
});

Deno.test("htpasswd: plaintext and DES crypt are refused with file:line and the fix", async () => {
  for (const [flags, what] of [[["-p"], /plaintext password/], [["-d"], /DES crypt/]] as const) {
    const line = await htpasswd([...flags], "bob", "hunter2");
    if (line === null) return skipOrFail(NO_HTPASSWD);
    const good = await htpasswd(["-B", "-C", "4"], "alice", "x");
    const text = `# users\n${good}\n\n${line}\n`;
    let message = "";
    try {
      parseHtpasswd(text, "/etc/ws/users");
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, /^\/etc\/ws\/users:4: /, `no file:line in: ${message}`);
    assertMatch(message, what);
    assertMatch(message, /htpasswd -B \/etc\/ws\/users bob/);
    assert(!message.includes("hunter2"), "the message must not echo the password");
  }
});

Deno.test("htpasswd: unknown schemes, broken lines and absurd rounds are refused", () => {
  const cases: [string, RegExp][] = [
    ["carol:$y$j9T$abc$def", /f:1: unsupported hash scheme "\$y\$"/],
    ["no colon here", /f:1: not a "user:hash" line/],
    [":$apr1$abcdefgh$0123456789012345678901", /f:1: not a "user:hash" line/],
    ["d:$5$rounds=999999999$salt$" + "a".repeat(43), /f:1: SHA-crypt rounds=999999999 outside/],
    ["e:$6$salt$tooshort", /f:1: malformed \$6\$ SHA-crypt hash/],
  ];
  for (const [text, want] of cases) {
    let message = "";
    try {
      parseHtpasswd(text, "f");
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, want, text);
  }
});

Deno.test("htpasswd: a repeated user keeps the first entry, as Apache does, with a warning", () => {
  const first = bcrypt.hashSync("one", 4);
  const { entries, warnings } = parseHtpasswd(
    `al:${first}\nal:${bcrypt.hashSync("two", 4)}\r\n`,
    "f",
  );
  assertEquals(entries.length, 1);
  assertEquals(entries[0]!.hash, first);
  assertEquals(warnings, ['f:2: user "al" again; only the entry on line 1 is used']);
});

Deno.test("htpasswd: the decoy for unknown users costs what the usual entry costs and matches nothing", async () => {
  const entries: HtpasswdEntry[] = [];
  for (const [user, flags] of [["a", ["-2", "-r", "7000"]], ["b", ["-B", "-C", "5"]]] as const) {
    const line = await htpasswd([...flags], user, "pw");
    if (line === null) return skipOrFail(NO_HTPASSWD);
    entries.push(...parseHtpasswd(line, "f").entries);
  }
  entries.push(...parseHtpasswd(`c:${bcrypt.hashSync("pw", 5)}`, "f").entries);
  const decoy = decoyFor(entries);
  // two of three entries are bcrypt cost 5: the decoy is too, with its own salt
  assertEquals([decoy.scheme, decoy.hash.slice(0, 7), decoy.hash.length], [
    "bcrypt",
    "$2y$05$",
    60,
  ]);
  assert(decoy.hash !== entries[1]!.hash);
  assert(!verify(decoy, "pw"));
  const sha = decoyFor([entries[0]!]);
  assertMatch(sha.hash, /^\$5\$rounds=7000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
  assert(!verify(sha, "pw"));
  // every decoy parses as a valid entry of its scheme
  assertEquals(parseHtpasswd(`x:${sha.hash}\ny:${decoy.hash}`, "f").entries.length, 2);
});

Deno.test("loadCredentials: names the file (and line) of what it cannot use", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nope`;
    let message = "";
    try {
      loadCredentials({ basicFile: missing });
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, new RegExp(`^${missing}: cannot read`));
    await Deno.writeTextFile(`${dir}/empty`, "# nobody yet\n");
    try {
      loadCredentials({ basicFile: `${dir}/empty` });
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, /empty: no users \(add one with: htpasswd -B .*empty USER\)/);
    await Deno.writeTextFile(`${dir}/tokens`, "# robots\nrobot:0123456789abcdef\nshort\n");
    try {
      loadCredentials({ tokenFile: `${dir}/tokens` });
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, /tokens:3: tokens must be at least 16 characters/);
    await Deno.writeTextFile(`${dir}/tokens`, "robot:0123456789abcdef\nfedcba9876543210fedcba\n");
    const creds = loadCredentials({ basicFile: `${dir}/empty`, tokenFile: `${dir}/tokens` });
    assertEquals(creds.users, []);
    assertEquals(creds.tokens.map((t) => t.user), ["robot", "bearer"]);
    // only digests are kept
    assertEquals(creds.tokens[0]!.digest.length, 32);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
