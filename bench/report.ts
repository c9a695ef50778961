/**
 * Turning samples into figures: median with min–max per server, the ratio
 * ours/websocketd, whether each target is met, and the same table as plain
 * text (console) and Markdown (RESULTS.md).
 *
 * @module
 */

import type { Figure, Sample, Scenario } from "./scenarios.ts";
import type { ServerKind } from "./servers.ts";

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
  /** Server measured. */
  server: ServerKind;
  /** Round number, from 1. */
  round: number;
  /** Set when the run failed; the figure is then missing from this round. */
  error?: string;
}

/** One table row: one figure, both servers. */
export interface Row {
  /** Scenario id. */
  scenario: string;
  /** The figure. */
  figure: Figure;
  /** Ours over the rounds. */
  ours: Stat | null;
  /** websocketd over the rounds. */
  websocketd: Stat | null;
  /** ours.median / websocketd.median. */
  ratio: number | null;
  /** Whether the target is met; null without a target or without data. */
  met: boolean | null;
  /** What the target is, in words (`≥ 1.3×`, `≥ 10000`). */
  target: string;
  /** Median client CPU % per server. */
  clientCpu: Partial<Record<ServerKind, number>>;
  /** Median server CPU % per server. */
  serverCpu: Partial<Record<ServerKind, number>>;
  /** Rounds that failed, per server. */
  errors: Partial<Record<ServerKind, number>>;
}

/** Builds the table rows from every sample of the run. */
export function summarize(scenarios: Scenario[], samples: SampleRecord[]): Row[] {
  const rows: Row[] = [];
  for (const sc of scenarios) {
    for (const f of sc.figures) {
      const of = (k: ServerKind) => samples.filter((s) => s.scenario === sc.id && s.server === k);
      const values = (k: ServerKind) => of(k).map((s) => s.values?.[f.id] ?? NaN);
      const cpu = (k: ServerKind, which: "clientCpu" | "serverCpu") =>
        stat(of(k).map((s) => s[which]?.[f.id] ?? NaN))?.median;
      const ours = stat(values("ours"));
      const websocketd = stat(values("websocketd"));
      const ratio = ours && websocketd && websocketd.median !== 0
        ? ours.median / websocketd.median
        : null;
      let met: boolean | null = null;
      let target = "—";
      if (f.targetRatio !== undefined) {
        target = `${f.better === "higher" ? "≥" : "≤"} ${f.targetRatio}×`;
        if (ratio !== null) {
          met = f.better === "higher" ? ratio >= f.targetRatio : ratio <= f.targetRatio;
        }
      } else if (f.targetAbsolute !== undefined) {
        target = `ours ≥ ${f.targetAbsolute}`;
        // the capacity target has to hold in every round, not just the median one
        if (ours) met = ours.min >= f.targetAbsolute;
      }
      const errors: Partial<Record<ServerKind, number>> = {};
      for (const k of ["ours", "websocketd"] as const) {
        const n = of(k).filter((s) => s.error).length;
        if (n) errors[k] = n;
      }
      rows.push({
        scenario: sc.id,
        figure: f,
        ours,
        websocketd,
        ratio,
        met,
        target,
        clientCpu: { ours: cpu("ours", "clientCpu"), websocketd: cpu("websocketd", "clientCpu") },
        serverCpu: { ours: cpu("ours", "serverCpu"), websocketd: cpu("websocketd", "serverCpu") },
        errors,
      });
    }
  }
  return rows;
}

/** Formats a figure value for humans: thousands grouped, one decimal below 1000. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return "—";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  return (Math.round(x * 10) / 10).toString();
}

function fmtStat(s: Stat | null): string {
  if (!s) return "—";
  return s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

function fmtRatio(r: number | null): string {
  return r === null ? "—" : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function fmtMet(m: boolean | null): string {
  return m === null ? "—" : m ? "yes" : "NO";
}

function fmtPair(p: Partial<Record<ServerKind, number>>): string {
  const one = (x: number | undefined) => x === undefined ? "—" : `${Math.round(x)}%`;
  return `${one(p.ours)} / ${one(p.websocketd)}`;
}

function cells(r: Row): string[] {
  const errs = Object.entries(r.errors).map(([k, n]) => `${k}: ${n} failed`).join(", ");
  return [
    `${r.figure.label} (${r.figure.unit})`,
    `${r.figure.better}`,
    fmtStat(r.ours),
    fmtStat(r.websocketd),
    fmtRatio(r.ratio),
    r.target,
    fmtMet(r.met) + (errs ? ` (${errs})` : ""),
    fmtPair(r.clientCpu),
    fmtPair(r.serverCpu),
  ];
}

const HEAD = [
  "figure",
  "better",
  "ours: median (min–max)",
  "websocketd: median (min–max)",
  "ratio",
  "target",
  "met",
  "client CPU ours/wsd",
  "server CPU ours/wsd",
];

/** The table as aligned plain text for the console. */
export function textTable(rows: Row[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [
    line(HEAD),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map((r) => line(cells(r))),
  ]
    .join("\n");
}

/** The table in Markdown. */
export function markdownTable(rows: Row[]): string {
  const esc = (c: string) => c.replaceAll("|", "\\|");
  return [
    `| ${HEAD.join(" | ")} |`,
    `|${HEAD.map((_, i) => (i >= 2 && i <= 4 ? "---:" : "---")).join("|")}|`,
    ...rows.map((r) => `| ${cells(r).map(esc).join(" | ")} |`),
  ].join("\n");
}
