/**
 * Prints the README's flag reference, generated from lib/cli/flag_table.ts so that
 * names, defaults and help texts live in one place. A test keeps README.md
 * in step: run `deno run scripts/readme_flags.ts` and paste between the markers.
 *
 * @module
 */

import { FLAGS, GROUP_TITLES } from "../lib/cli/flag_table.ts";

/** The markdown tables, one per flag group. */
export function flagReference(): string {
  const out: string[] = [];
  for (const [group, title] of Object.entries(GROUP_TITLES)) {
    out.push(`**${title}**`, "", "| flag | default | from | what it does |", "|---|---|---|---|");
    for (const f of FLAGS.filter((x) => x.group === group)) {
      const name = `\`--${f.name}${f.arg ? `=${f.arg}` : ""}\``;
      const dflt = f.kind === "bool"
        ? "off"
        : f.default === undefined || f.default === ""
        ? "—"
        : `\`${f.default}\``;
      const from = f.origin === "deno"
        ? "new"
        : f.origin === "HEAD"
        ? "websocketd HEAD"
        : "websocketd 0.4.1";
      out.push(
        `| ${name.replaceAll("|", "\\|")} | ${dflt} | ${from} | ${f.help.replaceAll("|", "\\|")} |`,
      );
    }
    out.push("");
  }
  return out.join("\n").trimEnd();
}

if (import.meta.main) console.log(flagReference());
