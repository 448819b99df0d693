/**
 * Figures as measured (median and spread over runs), next to their baseline and target, printed as
 * a table and written as JSON. A ratio is always fabric ÷ baseline, so "0.4×" on a rate is slower
 * and "12×" on a time is slower too: the arrow after the unit says which way is better.
 */
import { dirname } from "node:path";
import { median, type Spread, spread } from "./stats.ts";

export interface Target {
  /** The ratio against the baseline, or the absolute value. */
  on: "ratio" | "value";
  op: ">=" | "<=";
  value: number;
}

export interface FigureSpec {
  id: string;
  name: string;
  unit: string;
  better: "higher" | "lower";
  target?: Target;
  /** Why this figure has no baseline, or what to keep in mind reading it. */
  note?: string;
}

export interface Figure extends FigureSpec {
  value: Spread;
  baseline: { name: string; value: Spread } | null;
  ratio: number | null;
  /** Each run's ratio to the baseline measured beside it, when the runs are paired (`ratio` is then their median). */
  ratios?: number[];
  met: boolean | null;
}

export interface WorkloadResult {
  id: string;
  title: string;
  /** The trackers' store: SQLite in their data directories, or PostgreSQL. */
  store?: "sqlite" | "postgres";
  figures: Figure[];
  notes: string[];
  seconds: number;
  /** The machine's 1-minute load average when the workload started and ended (other work on it shows here). */
  load: { start: number; end: number };
  error?: string;
}

/**
 * A figure from its samples, one per run. With `paired`, the baseline's i-th sample was measured right
 * beside the i-th (interleaved runs): the ratio is then the median of the runs' own ratios, so that the
 * machine's drift from one run to the next, which moves a pair alike, does not mix a fast run of one
 * with a slow run of the other.
 */
export function figure(
  spec: FigureSpec,
  samples: number[],
  baseline?: { name: string; samples: number[]; paired?: boolean },
): Figure {
  const value = spread(samples);
  const base = baseline ? { name: baseline.name, value: spread(baseline.samples) } : null;
  const ratios = baseline?.paired ? pairedRatios(samples, baseline.samples) : null;
  let ratio = base && base.value.median !== 0 ? value.median / base.value.median : null;
  if (ratios) ratio = median(ratios);
  let met: boolean | null = null;
  if (spec.target) {
    const measured = spec.target.on === "ratio" ? ratio : value.median;
    if (measured !== null && Number.isFinite(measured)) {
      met = spec.target.op === ">=" ? measured >= spec.target.value : measured <= spec.target.value;
    }
  }
  return { ...spec, value, baseline: base, ratio, ...(ratios ? { ratios } : {}), met };
}

/** Each run's own ratio, when there is one per run and all are finite; null otherwise. */
function pairedRatios(samples: number[], baseline: number[]): number[] | null {
  if (samples.length === 0 || samples.length !== baseline.length) return null;
  const ratios = samples.map((sample, i) => sample / baseline[i]);
  return ratios.every(Number.isFinite) ? ratios : null;
}

/** A number to read at a glance: thousands grouped, about three significant digits. */
export function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (Number.isInteger(value) || abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return "0";
  return value.toPrecision(2);
}

function withSpread(s: Spread): string {
  if (s.samples.length <= 1 || s.min === s.max) return format(s.median);
  return `${format(s.median)} [${format(s.min)}–${format(s.max)}]`;
}

function targetText(target: Target | undefined, unit: string): string {
  if (!target) return "-";
  const op = target.op === ">=" ? "≥" : "≤";
  return target.on === "ratio" ? `${op} ${format(target.value)}× base` : `${op} ${format(target.value)} ${unit}`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text + " " : text + " ".repeat(width - text.length);
}

const COLUMNS = [42, 28, 28, 9, 18, 5];

export function printWorkload(result: WorkloadResult, print: (line: string) => void = console.log): void {
  const load = `load ${format(result.load.start)} → ${format(result.load.end)}`;
  print(`\n${result.id} ${result.title}  (${result.seconds.toFixed(0)} s, ${load})`);
  if (result.error) print(`  FAILED: ${result.error}`);
  const header = ["figure", "fabric median [min–max]", "baseline median [min–max]", "ratio", "target", "met"];
  print("  " + header.map((h, i) => pad(h, COLUMNS[i])).join(""));
  for (const f of result.figures) {
    const cells = [
      `${f.name} (${f.unit} ${f.better === "higher" ? "↑" : "↓"})`,
      withSpread(f.value),
      f.baseline ? withSpread(f.baseline.value) : "-",
      f.ratio === null ? "-" : `${format(f.ratio)}×`,
      targetText(f.target, f.unit),
      f.met === null ? "" : f.met ? "yes" : "NO",
    ];
    print("  " + cells.map((c, i) => pad(c, COLUMNS[i])).join(""));
    if (f.baseline) print(`      baseline: ${f.baseline.name}`);
    if (f.ratios && f.ratios.length > 1) {
      print(`      ratio: the median of each run's own (${f.ratios.map((r) => `${format(r)}×`).join(", ")})`);
    }
    if (f.note) print(`      note: ${f.note}`);
  }
  for (const note of result.notes) print(`  * ${note}`);
}

/** Each figure measured on both stores, PostgreSQL's against SQLite's (same workload, same run). */
export function printStoreComparison(results: WorkloadResult[], print: (line: string) => void = console.log): void {
  print("\nPostgreSQL against SQLite (ratio = postgres ÷ sqlite)");
  print("  " + ["figure", "sqlite", "postgres", "ratio"].map((h, i) => pad(h, [52, 18, 18, 9][i])).join(""));
  for (const sqlite of results.filter((r) => r.store === "sqlite")) {
    const postgres = results.find((r) => r.store === "postgres" && r.title === sqlite.title);
    for (const figure of sqlite.figures) {
      const other = postgres?.figures.find((f) => f.id === figure.id);
      if (!other) continue;
      const ratio = figure.value.median === 0 ? "-" : `${format(other.value.median / figure.value.median)}×`;
      const cells = [
        `${sqlite.id.split(" ")[0]} ${figure.name} (${figure.unit} ${figure.better === "higher" ? "↑" : "↓"})`,
        format(figure.value.median),
        format(other.value.median),
        ratio,
      ];
      print("  " + cells.map((c, i) => pad(c, [52, 18, 18, 9][i])).join(""));
    }
  }
}

export interface GitState {
  commit: string;
  srcChanged: boolean;
}

export interface BenchReport {
  version: 1;
  startedAt: string;
  finishedAt: string;
  machine: Record<string, unknown>;
  /** The commit measured, when the run started and ended, and whether src/ had changes on top. */
  git: { start: GitState | null; end: GitState | null };
  options: Record<string, unknown>;
  workloads: WorkloadResult[];
}

export async function writeJson(path: string, report: BenchReport): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
}
