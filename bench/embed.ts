/**
 * The embedded endpoint (`Deno.upgradeWebSocket`, tests/fixtures/embedded_server.ts)
 * against the standalone server (raw socket, main.ts) in one run, with the
 * C load client bench/wsload.c:
 *
 * - output: `seq 1 1000000`, messages/s at the client until the close;
 * - echo: `cat`, 20,000 round trips of 16 bytes one at a time, p50/p99.
 *
 * Each figure is the median of `--runs` (default 3), the endpoints taking
 * turns. Usage: `deno run --allow-all bench/embed.ts [--runs=N]`.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;
const BIN = `${ROOT}bench/out/bin/`;
const runs = Number(Deno.args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 3);

type Kind = "standalone" | "embedded";
const KINDS: Kind[] = ["standalone", "embedded"];
const ENTRY: Record<Kind, string> = {
  standalone: `${ROOT}main.ts`,
  embedded: `${ROOT}tests/fixtures/embedded_server.ts`,
};

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts one endpoint for `program` (its log to /dev/null); resolves once it accepts connections. */
async function start(kind: Kind, program: string[]) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ENTRY[kind], "--address=127.0.0.1", `--port=${port}`, ...program],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let i = 0; i < 300; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { port, child };
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${kind} did not start`);
}

async function wsload(args: string[]): Promise<Record<string, number>> {
  const out = await new Deno.Command(`${BIN}wsload`, { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`wsload ${args.join(" ")}: ${text}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

async function measure(
  kind: Kind,
  program: string[],
  client: (port: number) => string[],
): Promise<Record<string, number>> {
  const { port, child } = await start(kind, program);
  try {
    return await wsload(client(port));
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function build(): Promise<void> {
  await Deno.mkdir(BIN, { recursive: true });
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", `${BIN}wsload`, `${ROOT}bench/wsload.c`],
  }).output();
  if (!cc.success) throw new Error(new TextDecoder().decode(cc.stderr));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await build();
const results: Record<Kind, { rate: number[]; p50: number[]; p99: number[] }> = {
  standalone: { rate: [], p50: [], p99: [] },
  embedded: { rate: [], p50: [], p99: [] },
};
for (let r = 0; r < runs; r++) {
  for (const kind of KINDS) {
    const out = await measure(
      kind,
      ["seq", "1", "1000000"],
      (port) => ["output", `--port=${port}`, "--expect=1000000"],
    );
    results[kind].rate.push(out.rate!);
    const echo = await measure(
      kind,
      ["cat"],
      (port) => ["echo", `--port=${port}`, "--count=20000", "--warmup=1000", "--size=16"],
    );
    results[kind].p50.push(echo.p50_us!);
    results[kind].p99.push(echo.p99_us!);
  }
}

console.log(
  `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, load average ` +
    `${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")} at the end, median of ${runs} runs\n`,
);
console.log("| endpoint | seq 1 1000000 (messages/s) | echo p50 (µs) | echo p99 (µs) |");
console.log("| --- | ---: | ---: | ---: |");
for (const kind of KINDS) {
  const r = results[kind];
  console.log(
    `| ${kind} | ${Math.round(median(r.rate)).toLocaleString("en")} | ${
      median(r.p50).toFixed(0)
    } | ${median(r.p99).toFixed(0)} |`,
  );
}
