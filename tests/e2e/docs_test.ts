/**
 * The deployment guides are the e2e tests' config source. These checks need
 * no Apache, nginx or browser, so a machine that skips the e2e runs still
 * notices a guide that lost a tested block or gained an unfilled placeholder.
 */

import { assertEquals } from "../../testing/assert.ts";
import { DEPLOY_DOCS, docBlock } from "./helpers.ts";

/** Every block the e2e tests read, with the placeholders they fill for it. */
const BLOCKS: [file: string, name: string, placeholders: string[]][] = [
  ["apache.md", "apache-main", ["RUN_DIR", "MODULES", "RUN_USER", "RUN_GROUP"]],
  ["apache.md", "apache-wss-default", ["HTTPS_PORT", "DOC_ROOT", "RUN_DIR", "CERT", "KEY"]],
  [
    "apache.md",
    "apache-wss-vhost",
    ["HTTPS_PORT", "DOC_ROOT", "RUN_DIR", "CERT", "KEY", "BACKEND_PORT", "ENV_BACKEND_PORT"],
  ],
  ["apache.md", "apache-ws-vhost", [
    "HTTP_PORT",
    "DOC_ROOT",
    "RUN_DIR",
    "BACKEND_PORT",
    "ENV_BACKEND_PORT",
  ]],
  ["apache.md", "apache-idle", ["IDLE_TIMEOUT"]],
  ["nginx.md", "nginx-main", ["RUN_DIR"]],
  [
    "nginx.md",
    "nginx-site",
    [
      "HTTPS_PORT",
      "CERT",
      "KEY",
      "DOC_ROOT",
      "BACKEND_PORT",
      "TLS_BACKEND_PORT",
      "ENV_BACKEND_PORT",
    ],
  ],
  ["scaling.md", "nginx-upstream", ["HTTP_PORT", "BACKEND_PORT_1", "BACKEND_PORT_2"]],
  ["scaling.md", "apache-balancer", ["HTTP_PORT", "BACKEND_PORT_1", "BACKEND_PORT_2"]],
  ["scaling.md", "apache-balancer-modules", ["MODULES"]],
  ["scaling.md", "nginx-upstream-drain", ["HTTP_PORT", "BACKEND_PORT_1", "BACKEND_PORT_2"]],
  ["haproxy.md", "haproxy-site", ["HTTP_PORT", "BACKEND_PORT_1", "BACKEND_PORT_2"]],
  ["haproxy.md", "haproxy-main", ["RUN_DIR"]],
  ["systemd.md", "systemd-unit", []],
];

Deno.test("deployment guides hold every config block the e2e tests run, with only the placeholders they fill", async () => {
  const problems: string[] = [];
  for (const [file, name, allowed] of BLOCKS) {
    let block: string;
    try {
      block = await docBlock(file, name);
    } catch (e) {
      problems.push(String(e));
      continue;
    }
    const used = [...new Set([...block.matchAll(/\{\{([^}]*)\}\}/g)].map((m) => m[1]!))];
    const unknown = used.filter((p) => !allowed.includes(p));
    if (unknown.length) problems.push(`${file} ${name}: unexpected placeholders ${unknown}`);
  }
  assertEquals(problems, []);
});

Deno.test("deployment guides link only to files that exist", async () => {
  const problems: string[] = [];
  for await (const entry of Deno.readDir(DEPLOY_DOCS)) {
    if (!entry.name.endsWith(".md")) continue;
    const text = await Deno.readTextFile(`${DEPLOY_DOCS}/${entry.name}`);
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      try {
        await Deno.stat(`${DEPLOY_DOCS}/${target}`);
      } catch {
        problems.push(`${entry.name} → ${target}`);
      }
    }
  }
  assertEquals(problems, []);
});
