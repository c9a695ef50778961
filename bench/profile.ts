/**
 * Reads a V8 `.cpuprofile` (written by `deno run --cpu-prof`) and says where
 * the time went: the functions with the most self time, and the most
 * inclusive time (self plus everything they called). Used by `bench.ts
 * --profile`; also runnable on its own:
 *
 * ```sh
 * deno run --allow-read bench/profile.ts bench/out/prof/CPU.*.cpuprofile
 * ```
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One function's share of a profile. */
export interface FunctionTime {
  /** `name (file:line)`; file relative to the project where possible. */
  name: string;
  /** Milliseconds spent in the function itself. */
  selfMs: number;
  /** Milliseconds spent in it and its callees (each stack counted once). */
  totalMs: number;
  /** selfMs as a percentage of the profile's busy (non-idle) time. */
  selfPct: number;
  /** totalMs as a percentage of busy time. */
  totalPct: number;
}

/** The summary of one profile. */
export interface ProfileSummary {
  /** Wall time the profile covers, ms. */
  durationMs: number;
  /** Sampled time not idle (not `(idle)` / `(program)` waiting), ms. */
  busyMs: number;
  /** Top functions by self time. */
  bySelf: FunctionTime[];
  /** Top functions by inclusive time, V8's synthetic roots left out. */
  byTotal: FunctionTime[];
}

// V8's bookkeeping nodes: not code anyone can change
const SYNTHETIC = new Set(["(root)", "(idle)", "(program)", "(garbage collector)"]);

function label(f: CallFrame, root: string): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  let file = f.url.replace(/^file:\/\//, "");
  if (file.startsWith(root)) file = file.slice(root.length);
  else {
    // ext:/node: internals and npm modules: the last two path parts are enough
    file = file.split("/").slice(-2).join("/");
  }
  return `${name} (${file}:${f.lineNumber + 1})`;
}

/**
 * Summarizes a profile.
 *
 * @param profile Parsed `.cpuprofile` JSON.
 * @param root Path prefix stripped from file names (the project directory).
 * @param top How many functions to list in each ranking.
 */
export function summarizeProfile(profile: unknown, root: string, top = 15): ProfileSummary {
  const p = profile as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // time per node: each sample owns the delta that follows it
  const nodeMs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    nodeMs.set(id, (nodeMs.get(id) ?? 0) + dt);
  }

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of nodeMs) {
    const node = byId.get(id);
    if (!node) continue;
    const fn = node.callFrame.functionName;
    if (fn === "(idle)" || fn === "(program)") continue;
    busy += ms;
    const own = label(node.callFrame, root);
    self.set(own, (self.get(own) ?? 0) + ms);
    // walk up the stack; recursion must not count a function twice
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (SYNTHETIC.has(n.callFrame.functionName)) continue;
      const l = label(n.callFrame, root);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + ms);
    }
  }
  const row = (name: string): FunctionTime => {
    const s = self.get(name) ?? 0;
    const t = total.get(name) ?? s;
    return {
      name,
      selfMs: round(s),
      totalMs: round(t),
      selfPct: round(busy > 0 ? 100 * s / busy : 0),
      totalPct: round(busy > 0 ? 100 * t / busy : 0),
    };
  };
  const rank = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([n]) => row(n));
  return {
    durationMs: round((p.endTime - p.startTime) / 1000),
    busyMs: round(busy),
    bySelf: rank(self),
    byTotal: rank(total),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Formats a summary as two Markdown tables. */
export function profileMarkdown(s: ProfileSummary): string {
  const lines = [
    `Profile: ${s.durationMs} ms wall, ${s.busyMs} ms busy on the main thread.`,
    "",
    "| self ms | self % | function (top by self time) |",
    "|---:|---:|---|",
    ...s.bySelf.map((f) => `| ${f.selfMs} | ${f.selfPct} | \`${f.name}\` |`),
    "",
    "| total ms | total % | function (top by inclusive time) |",
    "|---:|---:|---|",
    ...s.byTotal.map((f) => `| ${f.totalMs} | ${f.totalPct} | \`${f.name}\` |`),
  ];
  return lines.join("\n");
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: (string[] | string)[] } };
  nodes: number[];
  strings: string[];
}

/** Count and bytes of one kind of heap object. */
export interface HeapGroup {
  /** `Constructor` for objects, `(string)`, `(closure) name`, `(array)`, … */
  name: string;
  /** How many. */
  count: number;
  /** Their self size in bytes. */
  bytes: number;
}

/** Groups a V8 heap snapshot's objects by constructor (or kind), with counts and self sizes. */
export function heapGroups(snapshot: unknown): Map<string, HeapGroup> {
  const s = snapshot as HeapSnapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const fType = fields.indexOf("type");
  const fName = fields.indexOf("name");
  const fSize = fields.indexOf("self_size");
  const groups = new Map<string, HeapGroup>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + fType]!] ?? "?";
    const name = s.strings[s.nodes[i + fName]!] ?? "";
    // objects by constructor; everything else by kind, names would only fragment it
    const key = type === "object" || type === "native"
      ? name.split(" ")[0]!
      : type === "closure"
      ? `(closure) ${name || "anonymous"}`
      : `(${type})`;
    const g = groups.get(key) ?? { name: key, count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[i + fSize]!;
    groups.set(key, g);
  }
  return groups;
}

/**
 * What `sessions` more sessions added to the heap: the groups that grew
 * most between two snapshots, per session.
 */
export function heapDiff(
  before: Map<string, HeapGroup>,
  after: Map<string, HeapGroup>,
  sessions: number,
  top = 20,
): HeapGroup[] {
  const out: HeapGroup[] = [];
  for (const [k, a] of after) {
    const b = before.get(k) ?? { count: 0, bytes: 0 };
    out.push({
      name: k,
      count: round((a.count - b.count) / sessions),
      bytes: round((a.bytes - b.bytes) / sessions),
    });
  }
  return out.sort((x, y) => y.bytes - x.bytes).slice(0, top);
}

/** Formats {@link heapDiff} as a Markdown table. */
export function heapMarkdown(rows: HeapGroup[]): string {
  const total = rows.reduce((n, r) => n + r.bytes, 0);
  return [
    "| bytes per session | objects per session | kind (constructor) |",
    "|---:|---:|---|",
    ...rows.map((r) => `| ${r.bytes} | ${r.count} | \`${r.name}\` |`),
    `| ${round(total)} | | (these rows together) |`,
  ].join("\n");
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  for (const path of Deno.args) {
    const summary = summarizeProfile(JSON.parse(Deno.readTextFileSync(path)), root, 25);
    console.log(`## ${path}\n\n${profileMarkdown(summary)}\n`);
  }
}
