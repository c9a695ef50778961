/**
 * Turning samples into figures: median with min–max per server (ours in
 * group mode, ours in pid-only mode, websocketd), the ratio of each mode of
 * ours to websocketd, whether each mode's target is met, and the same tables
 * as plain text (console) and Markdown (RESULTS.md).
 *
 * @module
 */

import type { Figure, Sample, Scenario, Target } from "./scenarios.ts";
import { type OursMode, type Variant, VARIANTS } from "./servers.ts";

/** Median and range of one figure over the rounds. */
export interface Stat {
  /** Median (mean of the middle two for an even count). */
  median: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** Number of samples. */
  n: number;
}

/** Median/min/max of a list; null when empty. */
export function stat(xs: number[]): Stat | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** One sample as recorded in the JSON. */
export interface SampleRecord extends Partial<Sample> {
  /** Scenario id. */
  scenario: string;
  /** Server measured: ours in a mode, or websocketd. */
  server: Variant;
  /** Round number, from 1. */
  round: number;
  /** Set when the run failed; the figure is then missing from this round. */
  error?: string;
}

/** One table row: one figure, every variant. */
export interface Row {
  /** Scenario id. */
  scenario: string;
  /** The figure. */
  figure: Figure;
  /** The modes of ours this figure was measured in. */
  modes: OursMode[];
  /** Each variant over the rounds. */
  stats: Partial<Record<Variant, Stat | null>>;
  /** Per mode: ours' median / websocketd's median. */
  ratio: Partial<Record<OursMode, number | null>>;
  /** Per mode: whether the target is met; null without a target or without data. */
  met: Partial<Record<OursMode, boolean | null>>;
  /** Per mode: the target in words (`≥ 1.3×`, `ours ≤ 5`), "—" without one. */
  target: Partial<Record<OursMode, string>>;
  /** Median client CPU % per variant. */
  clientCpu: Partial<Record<Variant, number>>;
  /** Median server CPU % per variant. */
  serverCpu: Partial<Record<Variant, number>>;
  /** Rounds that failed, per variant. */
  errors: Partial<Record<Variant, number>>;
}

function judge(f: Figure, t: Target, ours: Stat | null, ratio: number | null): boolean | null {
  const ok = (x: number, bound: number) => f.better === "higher" ? x >= bound : x <= bound;
  if (t.ratio !== undefined) return ratio === null ? null : ok(ratio, t.ratio);
  if (t.absolute !== undefined && ours) {
    // the capacity target has to hold in every round, not just the median one
    const x = t.everyRound ? (f.better === "higher" ? ours.min : ours.max) : ours.median;
    return ok(x, t.absolute);
  }
  return null;
}

function targetText(f: Figure, t: Target | undefined): string {
  const op = f.better === "higher" ? "≥" : "≤";
  if (t?.ratio !== undefined) return `${op} ${t.ratio}×`;
  if (t?.absolute !== undefined) return `ours ${op} ${t.absolute}`;
  return "—";
}

/**
 * Builds the table rows from every sample of the run.
 * @param scenarios The scenarios run, each with the modes of ours it ran in.
 */
export function summarize(scenarios: Scenario[], samples: SampleRecord[]): Row[] {
  const rows: Row[] = [];
  for (const sc of scenarios) {
    for (const f of sc.figures) {
      const of = (v: Variant) => samples.filter((s) => s.scenario === sc.id && s.server === v);
      const values = (v: Variant) => of(v).map((s) => s.values?.[f.id] ?? NaN);
      const cpu = (v: Variant, which: "clientCpu" | "serverCpu") =>
        stat(of(v).map((s) => s[which]?.[f.id] ?? NaN))?.median;
      const stats: Row["stats"] = {};
      for (const v of VARIANTS) stats[v] = stat(values(v));
      const ratio: Row["ratio"] = {};
      const met: Row["met"] = {};
      const target: Row["target"] = {};
      const wsd = stats.websocketd ?? null;
      for (const m of sc.modes) {
        const ours = stats[m] ?? null;
        ratio[m] = ours && wsd && wsd.median !== 0 ? ours.median / wsd.median : null;
        const t = f.targets?.[m];
        target[m] = targetText(f, t);
        met[m] = t ? judge(f, t, ours, ratio[m]!) : null;
      }
      const errors: Row["errors"] = {};
      const clientCpu: Row["clientCpu"] = {};
      const serverCpu: Row["serverCpu"] = {};
      for (const v of VARIANTS) {
        const n = of(v).filter((s) => s.error).length;
        if (n) errors[v] = n;
        clientCpu[v] = cpu(v, "clientCpu");
        serverCpu[v] = cpu(v, "serverCpu");
      }
      rows.push({
        scenario: sc.id,
        figure: f,
        modes: sc.modes,
        stats,
        ratio,
        met,
        target,
        clientCpu,
        serverCpu,
        errors,
      });
    }
  }
  return rows;
}

/** Formats a figure value for humans: thousands grouped, one decimal below 1000, two below 10. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return "—";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  if (Math.abs(x) < 10) return (Math.round(x * 100) / 100).toString();
  return (Math.round(x * 10) / 10).toString();
}

function fmtStat(s: Stat | null | undefined): string {
  if (!s) return "—";
  return s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

function fmtRatio(r: number | null | undefined): string {
  return r === null || r === undefined ? "—" : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function fmtMet(m: boolean | null | undefined): string {
  return m === null || m === undefined ? "—" : m ? "yes" : "NO";
}

const MODES: OursMode[] = ["group", "pid"];

/** "a / b" over the two modes of ours. */
function perMode(r: Row, f: (m: OursMode) => string): string {
  return MODES.map((m) => r.modes.includes(m) ? f(m) : "—").join(" / ");
}

function fmtCpu(p: Partial<Record<Variant, number>>): string {
  const one = (x: number | undefined) => x === undefined ? "—" : `${Math.round(x)}%`;
  return VARIANTS.map((v) => one(p[v])).join(" / ");
}

function cells(r: Row): string[] {
  const errs = Object.entries(r.errors).map(([k, n]) => `${k}: ${n} failed`).join(", ");
  return [
    `${r.figure.label} (${r.figure.unit})`,
    r.figure.better,
    fmtStat(r.stats.group),
    fmtStat(r.stats.pid),
    fmtStat(r.stats.websocketd),
    perMode(r, (m) => fmtRatio(r.ratio[m])),
    perMode(r, (m) => r.target[m] ?? "—"),
    perMode(r, (m) => fmtMet(r.met[m])) + (errs ? ` (${errs})` : ""),
    fmtCpu(r.serverCpu),
    fmtCpu(r.clientCpu),
  ];
}

const HEAD = [
  "figure",
  "better",
  "ours, group: median (min–max)",
  "ours, pid-only: median (min–max)",
  "websocketd: median (min–max)",
  "ratio group / pid-only",
  "target group / pid-only",
  "met group / pid-only",
  "server CPU group/pid/wsd",
  "client CPU group/pid/wsd",
];

function text(head: string[], body: string[][]): string {
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

function markdown(head: string[], body: string[][], numeric: (i: number) => boolean): string {
  const esc = (c: string) => c.replaceAll("|", "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => numeric(i) ? "---:" : "---").join("|")}|`,
    ...body.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

/** The table as aligned plain text for the console. */
export function textTable(rows: Row[]): string {
  return text(HEAD, rows.map(cells));
}

/** The table in Markdown. */
export function markdownTable(rows: Row[]): string {
  return markdown(HEAD, rows.map(cells), (i) => i >= 2 && i <= 4);
}

const CPU_HEAD = [
  "server",
  "conn/s at 50 concurrent",
  "CPU ms per connection: server",
  "its programs",
  "together",
  "server vs websocketd",
];

/**
 * What one connection costs in CPU, per variant side by side: the server
 * process and the programs it ran (reaped children, incl. setsid's exec in
 * group mode). Null when the connect scenario was not run.
 */
function cpuCells(rows: Row[]): string[][] | null {
  const get = (id: string) => rows.find((r) => r.figure.id === id);
  const rate = get("connect_c50"), server = get("cpu_server"), progs = get("cpu_programs");
  if (!rate || !server || !progs) return null;
  const label: Record<Variant, string> = {
    group: "ours, group mode",
    pid: "ours, pid-only mode",
    websocketd: "websocketd",
  };
  return VARIANTS.filter((v) => rate.stats[v]).map((v) => {
    const s = server.stats[v]?.median ?? NaN, p = progs.stats[v]?.median ?? NaN;
    return [
      label[v],
      fmt(rate.stats[v]?.median ?? NaN),
      fmt(s),
      fmt(p),
      fmt(s + p),
      v === "websocketd" ? "—" : fmtRatio(server.ratio[v]),
    ];
  });
}

/** The per-connection CPU table as plain text, or "" without connect figures. */
export function cpuTextTable(rows: Row[]): string {
  const body = cpuCells(rows);
  return body ? text(CPU_HEAD, body) : "";
}

/** The per-connection CPU table in Markdown, or "" without connect figures. */
export function cpuMarkdownTable(rows: Row[]): string {
  const body = cpuCells(rows);
  return body ? markdown(CPU_HEAD, body, (i) => i >= 1) : "";
}

/** One line per judged target: met or missed, with the ratio or value. */
export function verdicts(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    for (const m of r.modes) {
      const t = r.figure.targets?.[m];
      if (!t) continue;
      const met = r.met[m];
      const ours = r.stats[m];
      const got = t.ratio !== undefined
        ? `ratio ${fmtRatio(r.ratio[m] ?? null)}`
        : t.everyRound
        ? `ours held ${ours ? fmt(r.figure.better === "higher" ? ours.min : ours.max) : "—"} ` +
          "in its worst round"
        : `ours ${ours ? fmt(ours.median) : "—"} ${r.figure.unit}`;
      out.push(
        `- ${met === null ? "no data" : met ? "met" : "**missed**"}: ${r.figure.label} ` +
          `[${m === "pid" ? "pid-only" : "group"}]: target ${r.target[m]}, ${got}`,
      );
    }
  }
  return out;
}
