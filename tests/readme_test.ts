/**
 * The README documents every flag: its reference table is generated from the
 * flag table, and this test fails when they drift apart.
 */

import { assert, assertEquals } from "../testing/assert.ts";
import { flagReference } from "../scripts/readme_flags.ts";
import { FLAGS } from "../lib/cli/flag_table.ts";
import { ROOT } from "../testing/server.ts";

const readme = Deno.readTextFileSync(`${ROOT}/README.md`);

/** Markdown with table padding (added by deno fmt) taken out. */
function normalize(md: string): string {
  return md.trim().split("\n").map((line) => {
    if (!line.startsWith("|")) return line.trim();
    return line.split(/(?<!\\)\|/).map((c) => c.trim().replace(/^-+$/, "-")).join("|");
  }).join("\n");
}

Deno.test("README's flag reference is the generated one", () => {
  const m = /<!-- flags:begin[^>]*-->\n([\s\S]*?)\n<!-- flags:end -->/.exec(readme);
  assert(m, "flag markers missing");
  assertEquals(
    normalize(m[1]!),
    normalize(flagReference()),
    "run: deno run scripts/readme_flags.ts and paste it",
  );
});

Deno.test("README shows every flag in use outside the reference table too", () => {
  const prose = readme.replace(/<!-- flags:begin[\s\S]*?<!-- flags:end -->/, "");
  const missing = FLAGS.filter((f) => !prose.includes(`--${f.name}`)).map((f) => f.name);
  assertEquals(missing, []);
});

Deno.test("README's module table lists every module of lib/, and no module that is gone", () => {
  const section = readme.slice(readme.indexOf("## Design and dependencies"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| module")));
  const listed = new Set<string>();
  let folder = "";
  for (const row of table.split("\n").filter((l) => l.startsWith("|"))) {
    const head = /\*\*`(lib\/[a-z]+\/|testing\/)`\*\*/.exec(row);
    if (head) folder = head[1]!;
    for (const m of row.matchAll(/`([a-z_]+\.ts)`/g)) if (folder) listed.add(folder + m[1]);
  }
  const actual: string[] = [];
  for (const dir of Deno.readDirSync(`${ROOT}/lib`)) {
    if (!dir.isDirectory) continue;
    for (const f of Deno.readDirSync(`${ROOT}/lib/${dir.name}`)) {
      if (f.name.endsWith(".ts")) actual.push(`lib/${dir.name}/${f.name}`);
    }
  }
  const libListed = [...listed].filter((f) => f.startsWith("lib/"));
  assertEquals(actual.filter((f) => !listed.has(f)).sort(), [], "modules missing from the table");
  assertEquals(libListed.filter((f) => !actual.includes(f)).sort(), [], "modules listed but gone");
});
