/** `aegis inspect-data` reports, rendered through report/: Markdown, HTML, SARIF (and the JSON as it is). */
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import type { DataInspectionReport } from "./inspect-data.js";

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
/** Rows listed in the human-readable reports; the JSON has them all. */
const LISTED = 50;

function truthLines(r: DataInspectionReport): string[] {
  const t = r.truth;
  if (!t) return [];
  return [
    `Against the manifest: ${t.true_positives} of ${t.poisoned} poisoned rows flagged (recall ${pct(t.recall)}), precision ${pct(t.precision)}, false positives ${pct(t.false_positive_rate)} of clean rows, ROC AUC ${t.roc_auc.toFixed(3)}.`,
  ];
}

const classRows = (r: DataInspectionReport) => r.classes.map((c) => [c.class, c.rows, c.flagged, c.suspicious ? "yes" : "no"]);

export function renderInspectionMarkdown(r: DataInspectionReport): string {
  return [
    `# Data inspection: ${r.data}`,
    "",
    `${r.defence} (${r.paper}) with ${r.model}: ${r.flagged} of ${r.rows} rows flagged.`,
    "",
    ...truthLines(r).flatMap((l) => [l, ""]),
    ...table(["class", "rows", "flagged", "looks poisoned"], classRows(r), [1, 2]),
    "",
    ...findingsMarkdown(r.findings, "No class looks poisoned."),
    "## Most suspicious rows",
    "",
    ...table(
      ["row", "label", "score"],
      r.suspected.slice(0, LISTED).map((s) => [s.row, s.label, s.score.toFixed(3)]),
      [0, 2],
    ),
    "",
  ].join("\n");
}

export function renderInspectionHtml(r: DataInspectionReport): string {
  const t = r.truth;
  const summary = cards([
    ["rows", String(r.rows), r.data],
    ["flagged", String(r.flagged), r.defence],
    ["classes that look poisoned", String(r.classes.filter((c) => c.suspicious).length), `of ${r.classes.length}`],
    ...(t ? ([["recall / FPR", `${pct(t.recall)} / ${pct(t.false_positive_rate)}`, `ROC AUC ${t.roc_auc.toFixed(3)}`]] as const) : []),
  ]);
  const classes = `<section><h2>Classes</h2><table><thead><tr><th>class</th><th>rows</th><th>flagged</th><th>looks poisoned</th></tr></thead><tbody>${classRows(
    r,
  )
    .map((row) => `<tr>${row.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table></section>`;
  return page(`Data inspection: ${r.data}`, [
    `<h1>Data inspection: ${esc(r.data)}</h1><p>${esc(`${r.defence} (${r.paper}) with ${r.model}.`)} ${esc(truthLines(r).join(" "))}</p>`,
    summary,
    findingsSection(r.findings, "No class looks poisoned."),
    classes,
  ]);
}

export function renderInspectionSarif(r: DataInspectionReport): string {
  return renderSarif(r.findings, { name: "aegis-inspect-data", fullName: "Aegis data inspection", version: r.aegis });
}
