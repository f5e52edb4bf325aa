/**
 * A scanner evaluation (`aegis llm eval`) as a report: findings for the scanners and the
 * pipeline that miss the gates a team sets (--min-recall, --max-fpr), one JUnit case per
 * scanner that fails with its gate, and Markdown and HTML tables of the metrics. Without
 * gates the findings say what each scanner misses and flags wrongly, at severity info.
 */
import type { Finding, Severity } from "../report/finding.js";
import { cards, esc, findingsSection, page } from "../report/html.js";
import { renderJunit } from "../report/junit.js";
import { findingsMarkdown, table } from "../report/markdown.js";
import { references } from "../report/taxonomy.js";
import type { EvalReport, ScannerMetrics } from "./evaluate.js";

export interface EvalGates {
  /** Lowest acceptable recall on the rows to flag. */
  minRecall?: number;
  /** Highest acceptable false-positive rate on benign rows. */
  maxFpr?: number;
}

const pct = (v: number) => (Number.isNaN(v) ? "—" : `${(v * 100).toFixed(1)}%`);

/** The gates a scanner's metrics miss, in words; empty when it meets them all. */
export function missedGates(m: ScannerMetrics, gates: EvalGates): string[] {
  const missed: string[] = [];
  if (gates.minRecall !== undefined && !(m.recall >= gates.minRecall)) missed.push(`recall ${pct(m.recall)} < ${pct(gates.minRecall)}`);
  if (gates.maxFpr !== undefined && !(m.fpr <= gates.maxFpr)) missed.push(`false-positive rate ${pct(m.fpr)} > ${pct(gates.maxFpr)}`);
  return missed;
}

/** One finding per scanner (and the pipeline) that misses rows or flags benign ones; high when it misses a gate. */
export function evalFindings(report: EvalReport, data: string, gates: EvalGates = {}): Finding[] {
  return [...report.scanners, report.pipeline]
    .filter((m) => m.fn > 0 || m.fp > 0 || missedGates(m, gates).length > 0)
    .map((m) => {
      const missed = missedGates(m, gates);
      const severity: Severity = missed.length > 0 ? "high" : "info";
      return {
        rule: `LLM-EVAL-${m.name.toUpperCase()}`,
        capability: "llm-eval",
        severity,
        title: `${m.name}: recall ${pct(m.recall)}, false-positive rate ${pct(m.fpr)}${missed.length > 0 ? ` (misses the gate: ${missed.join("; ")})` : ""}`,
        detail: `On ${report.rows} labelled rows ${m.name} flagged ${m.tp} of ${m.tp + m.fn} rows to flag and ${m.fp} of ${m.fp + m.tn} benign rows (precision ${pct(m.precision)}, F1 ${m.f1.toFixed(3)}).`,
        evidence: { precision: m.precision, recall: m.recall, f1: m.f1, fpr: m.fpr, tp: m.tp, fp: m.fp, fn: m.fn, tn: m.tn },
        location: { file: data, section: m.name },
        references: references(["LLM01", "AML.T0051"]),
        recommendation:
          "Read the missed and wrongly flagged rows (`aegis llm scan --input` on them), add options or ban lists for your own traffic (`aegis llm scan --config`), and choose which scanners block (`--block`, or `block:` on the guard's LLM route).",
      };
    });
}

/** One JUnit case per scanner and for the pipeline; a case fails when it misses a gate. */
export function renderEvalJunit(report: EvalReport, gates: EvalGates): string {
  const cases = [...report.scanners, report.pipeline].map((m) => {
    const missed = missedGates(m, gates);
    return {
      name: m.name,
      classname: "aegis.llm.eval",
      ...(missed.length > 0 ? { failure: { message: missed.join("; "), detail: `tp ${m.tp} fp ${m.fp} fn ${m.fn} tn ${m.tn}` } } : {}),
    };
  });
  return renderJunit("aegis llm eval", [{ name: `scanner evaluation on ${report.rows} rows`, cases }]);
}

const metricsRows = (report: EvalReport) =>
  [...report.scanners, report.pipeline].map((m) => [
    m.name,
    m.precision.toFixed(3),
    m.recall.toFixed(3),
    m.f1.toFixed(3),
    m.fpr.toFixed(3),
    m.tp,
    m.fp,
    m.fn,
    m.tn,
  ]);
const HEAD = ["scanner", "precision", "recall", "F1", "FPR", "tp", "fp", "fn", "tn"];

export function renderEvalMarkdown(report: EvalReport, findings: readonly Finding[]): string {
  return [
    "# Aegis LLM scanner evaluation",
    "",
    `${report.rows} rows: ${report.positives} to flag, ${report.negatives} benign.`,
    "",
    ...table(HEAD, metricsRows(report), [1, 2, 3, 4, 5, 6, 7, 8]),
    "",
    ...findingsMarkdown(findings, "Every scanner flagged every row to flag and no benign row."),
  ].join("\n");
}

export function renderEvalHtml(report: EvalReport, findings: readonly Finding[]): string {
  const rows = metricsRows(report)
    .map((r) => `<tr>${r.map((v, i) => (i === 0 ? `<td><code>${esc(v)}</code></td>` : `<td class="num">${esc(v)}</td>`)).join("")}</tr>`)
    .join("");
  return page("Aegis LLM scanner evaluation", [
    `<header><div class="eyebrow">Aegis LLM scanner evaluation</div><h1>${report.rows} labelled rows</h1></header>`,
    cards([
      ["Pipeline recall", pct(report.pipeline.recall), `${report.pipeline.tp} of ${report.positives} rows to flag`],
      ["Pipeline FPR", pct(report.pipeline.fpr), `${report.pipeline.fp} of ${report.negatives} benign rows`],
      ["Pipeline F1", report.pipeline.f1.toFixed(3), `precision ${pct(report.pipeline.precision)}`],
    ]),
    `<section><h2>Metrics</h2><table><thead><tr>${HEAD.map((h, i) => `<th${i ? ' class="num"' : ""}>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows}</tbody></table></section>`,
    findingsSection(findings, "Every scanner flagged every row to flag and no benign row."),
  ]);
}
