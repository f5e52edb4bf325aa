/**
 * Evaluation of scanners on labelled JSONL ({"text", "label"} rows, label 1 = should be
 * flagged; optional "kind" and "use"): precision, recall, F1 and false-positive rate per
 * scanner and for the whole pipeline, recall (or flag rate) per kind, and latency
 * percentiles in ms and in ms per 1,000 characters. The per-1,000-character figures use
 * only rows of at least 500 characters, where a scan's fixed cost no longer dominates.
 */
import { existsSync, readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
import { confusionRates } from "./injection/metrics.js";
import type { Pipeline, ScannerRun } from "./pipeline.js";
import type { ScanContext } from "./scanners/types.js";

/**
 * How a row is read: "prompt", as a user's prompt, by the input pipeline; "context", as
 * retrieved content (a document or tool output), by the document scanners, as the guard
 * reads tool and retrieval messages (context mode, indirect-injection).
 */
export type ReadingMode = "prompt" | "context";
export const READING_MODES: readonly ReadingMode[] = ["prompt", "context"];

export interface LabelledRow {
  text: string;
  label: 0 | 1;
  kind?: string;
  use?: string;
  source?: string;
  /** Default "prompt". */
  mode?: ReadingMode;
}

/** What evaluation reads of a row (LabelledRow, or a corpus row of the injection detector). */
export type EvaluatedRow = Pick<LabelledRow, "text" | "kind" | "mode"> & { label: number };

export type UseFilter = "all" | "train" | "eval-only";

/** Refuses a row's "mode" field unless it is absent or a ReadingMode; `where` is file:line. */
export function checkReadingMode(mode: unknown, where: string): void {
  if (mode !== undefined && !READING_MODES.includes(mode as ReadingMode))
    throw new AegisError("BAD_DATA", `${where} has "mode": ${JSON.stringify(mode)}; use "prompt" or "context" (retrieved documents and tool outputs)`);
}

/** Rows of a labelled JSONL file, filtered by their "use" field. */
export function loadLabelledJsonl(path: string, use: UseFilter = "all"): LabelledRow[] {
  if (!existsSync(path)) throw new AegisError("FILE_NOT_FOUND", `${path} does not exist; give a JSONL file of {"text", "label"} rows`);
  const rows: LabelledRow[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let row: Partial<LabelledRow>;
    try {
      row = JSON.parse(line);
    } catch {
      throw new AegisError("BAD_DATA", `${path}:${i + 1} is not JSON; each line must be an object such as {"text": "…", "label": 0}`);
    }
    if (typeof row.text !== "string" || (row.label !== 0 && row.label !== 1))
      throw new AegisError("BAD_DATA", `${path}:${i + 1} needs a string "text" and a "label" of 0 or 1`);
    checkReadingMode(row.mode, `${path}:${i + 1}`);
    if (use === "all" || row.use === use) rows.push(row as LabelledRow);
  });
  if (rows.length === 0) throw new AegisError("BAD_DATA", `${path} has no rows${use === "all" ? "" : ` with "use": "${use}"`}; check the file or --use`);
  return rows;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface ScannerMetrics {
  name: string;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  fpr: number;
  ms: Percentiles;
  /** ms per 1,000 characters over rows of ≥ 500 characters (undefined when there are none). */
  msPer1k?: Percentiles;
  /** kind → [flagged, rows]. */
  byKind: Record<string, [number, number]>;
}

export interface EvalReport {
  rows: number;
  positives: number;
  negatives: number;
  /** Rows read in context mode (by the document scanners), when there were any. */
  contextRows?: number;
  /** Every scanner of each mode's pipeline; with rows in both modes, the context mode's scanners end in " [context]", each mode's pipeline is a line too. */
  scanners: ScannerMetrics[];
  /** Every row's verdict, each in its mode. */
  pipeline: ScannerMetrics;
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function percentiles(values: readonly number[]): Percentiles {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
}

const LONG_ROW = 500;

class Tally {
  tp = 0;
  fp = 0;
  tn = 0;
  fn = 0;
  ms: number[] = [];
  per1k: number[] = [];
  byKind: Record<string, [number, number]> = {};
  add(row: EvaluatedRow, flagged: boolean, ms: number): void {
    if (row.label === 1) flagged ? this.tp++ : this.fn++;
    else flagged ? this.fp++ : this.tn++;
    this.ms.push(ms);
    if (row.text.length >= LONG_ROW) this.per1k.push((ms * 1000) / row.text.length);
    const kind = row.kind ?? (row.label === 1 ? "positive" : "negative");
    const [hits, seen] = this.byKind[kind] ?? [0, 0];
    this.byKind[kind] = [hits + (flagged ? 1 : 0), seen + 1];
  }
  metrics(name: string): ScannerMetrics {
    return {
      name,
      ...confusionRates(this),
      ms: percentiles(this.ms),
      msPer1k: this.per1k.length ? percentiles(this.per1k) : undefined,
      byKind: this.byKind,
    };
  }
}

export interface EvalOptions {
  signal?: AbortSignal;
  onProgress?: (done: number) => void;
  context?: () => ScanContext;
}

/** What one row's scan found: the pipeline's verdict and time, and each scanner's. */
export interface RowScan {
  valid: boolean;
  ms: number;
  runs: readonly ScannerRun[];
}

/** Runs the pipeline (every scanner, no fail-fast) on each row. */
export async function scanRows(pipeline: Pipeline, rows: readonly EvaluatedRow[], options: EvalOptions = {}): Promise<RowScan[]> {
  const scans: RowScan[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (options.signal?.aborted) throw new AegisError("INTERRUPTED", `evaluation interrupted after ${i} of ${rows.length} rows`);
    const { valid, ms, runs } = await pipeline.scan(rows[i].text, options.context?.() ?? { vault: new Map() });
    scans.push({ valid, ms, runs });
    options.onProgress?.(i + 1);
  }
  return scans;
}

/** The pipeline of each reading mode: `prompt` the input pipeline, `context` the document scanners (needed when a row is read in context mode). */
export interface ModePipelines {
  prompt: Pipeline;
  context?: Pipeline;
}

/** One mode's share of an evaluation: its rows, its pipeline's scanner names and its scans. */
export interface ModeScans<T extends EvaluatedRow = EvaluatedRow> {
  mode: ReadingMode;
  names: readonly string[];
  rows: readonly T[];
  scans: readonly RowScan[];
}

/** Scans every row with its mode's pipeline (the rows of one mode, then the other's); one ModeScans per mode. */
export async function scanRowsByMode<T extends EvaluatedRow>(pipelines: ModePipelines, rows: readonly T[], options: EvalOptions = {}): Promise<ModeScans<T>[]> {
  const parts: ModeScans<T>[] = [];
  let done = 0;
  for (const mode of READING_MODES) {
    const own = rows.filter((r) => (r.mode ?? "prompt") === mode);
    const pipeline = pipelines[mode];
    if (own.length === 0) continue;
    if (!pipeline)
      throw new AegisError("BAD_OPTION", `${own.length} rows are read in ${mode} mode but no ${mode}-mode scanners were given; name the document scanners`);
    const before = done;
    const scans = await scanRows(pipeline, own, { ...options, onProgress: (n) => options.onProgress?.(before + n) });
    done += own.length;
    parts.push({ mode, names: pipeline.scanners.map((s) => s.name), rows: own, scans });
  }
  return parts;
}

/** Scores each scanner of each mode, each mode's pipeline when there are two, and every row's verdict (`pipeline`). */
export function summariseModes(parts: readonly ModeScans[]): EvalReport {
  const present = parts.filter((p) => p.rows.length > 0);
  const both = present.length > 1;
  const scanners: ScannerMetrics[] = [];
  const whole = new Tally();
  for (const part of present) {
    const tallies = part.names.map(() => new Tally());
    const mode = new Tally();
    part.rows.forEach((row, i) => {
      const scan = part.scans[i];
      scan.runs.forEach((run, k) => {
        tallies[k].add(row, !run.valid, run.ms);
      });
      mode.add(row, !scan.valid, scan.ms);
      whole.add(row, !scan.valid, scan.ms);
    });
    const suffix = both && part.mode === "context" ? " [context]" : "";
    scanners.push(...tallies.map((t, k) => t.metrics(`${part.names[k]}${suffix}`)));
    if (both) scanners.push(mode.metrics(`${part.mode} mode`));
  }
  const rows = present.flatMap((p) => p.rows);
  const positives = rows.filter((r) => r.label === 1).length;
  const contextRows = present.find((p) => p.mode === "context")?.rows.length;
  return {
    rows: rows.length,
    positives,
    negatives: rows.length - positives,
    ...(contextRows ? { contextRows } : {}),
    scanners,
    pipeline: whole.metrics("pipeline"),
  };
}

/** Scores each scanner (by position, named `names`) and the whole pipeline on rows and their scans. */
export function summariseScans(names: readonly string[], rows: readonly EvaluatedRow[], scans: readonly RowScan[]): EvalReport {
  return summariseModes([{ mode: "prompt", names, rows, scans }]);
}

/**
 * Runs each row through its mode's pipeline (EvaluatedRow.mode: the input pipeline, or the
 * document scanners for retrieved content) and scores each scanner, each mode and the whole.
 */
export async function evaluatePipeline(pipelines: Pipeline | ModePipelines, rows: readonly EvaluatedRow[], options: EvalOptions = {}): Promise<EvalReport> {
  return summariseModes(await scanRowsByMode("scan" in pipelines ? { prompt: pipelines } : pipelines, rows, options));
}

const f3 = (x: number) => (Number.isNaN(x) ? "—" : x.toFixed(3));
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(2));

export function formatEvalReport(report: EvalReport): string {
  // The name column fits the longest name ("indirect-injection [context]" with rows in both modes).
  const width = Math.max(20, ...[...report.scanners, report.pipeline].map((m) => m.name.length + 2));
  const header = `${"scanner".padEnd(width)}${["precision", "recall", "F1", "FPR", "p50 ms", "p95 ms", "p99 ms", "p50/1k", "p95/1k", "p99/1k"].map((h) => h.padStart(10)).join("")}`;
  const line = (m: ScannerMetrics) =>
    `${m.name.padEnd(width)}${[f3(m.precision), f3(m.recall), f3(m.f1), f3(m.fpr), f2(m.ms.p50), f2(m.ms.p95), f2(m.ms.p99), f2(m.msPer1k?.p50), f2(m.msPer1k?.p95), f2(m.msPer1k?.p99)].map((c) => c.padStart(10)).join("")}`;
  const out = [
    `${report.rows} rows: ${report.positives} to flag, ${report.negatives} benign${report.contextRows ? `; ${report.contextRows} read in context mode (retrieved documents and tool outputs, by the document scanners), the rest as prompts` : ""} (per-1k-character latency over rows of ≥ ${LONG_ROW} characters)`,
    header,
    ...report.scanners.map(line),
    line(report.pipeline),
    "",
    "flagged by kind (recall for kinds to flag, false-positive rate for benign kinds):",
  ];
  const kinds = Object.keys(report.pipeline.byKind).sort();
  out.push(`${"scanner".padEnd(width)}${kinds.map((k) => k.slice(0, 19).padStart(20)).join("")}`);
  for (const m of [...report.scanners, report.pipeline]) {
    out.push(
      `${m.name.padEnd(width)}${kinds
        .map((k) => {
          const [flagged, n] = m.byKind[k] ?? [0, 0];
          return `${f3(n ? flagged / n : Number.NaN)} (${flagged}/${n})`.padStart(20);
        })
        .join("")}`,
    );
  }
  return `${out.join("\n")}\n`;
}
