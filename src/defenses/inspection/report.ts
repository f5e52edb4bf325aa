/** `aegis inspect-data` and `aegis inspect-model` reports, rendered through report/: Markdown, HTML, SARIF (and the JSON as it is). */
import { compileTrigger, imageOf, stamp } from "../../attacks/index.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { samplePng } from "../../report/images.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import { float32 } from "../../tensor.js";
import type { DataInspectionReport } from "./inspect-data.js";
import type { ClassTrigger, ModelInspectionReport } from "./inspect-model.js";

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
/** Rows listed in the human-readable reports; the JSON has them all. */
const LISTED = 50;

function truthLines(r: DataInspectionReport): string[] {
  const t = r.truth;
  if (!t) return [];
  return [
    `Against the manifest: ${t.true_positives} of ${t.poisoned} poisoned rows flagged (recall ${pct(t.recall)}), precision ${pct(t.precision)}, false positives ${pct(t.false_positive_rate)} of clean rows, ROC AUC ${t.roc_auc.toFixed(3)}, recall at 5% false positives ${pct(t.recall_at_5_fpr)}.`,
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

const triggerRows = (r: ModelInspectionReport) =>
  r.classes.map((c) => [
    c.class,
    c.l1 === null ? "none found" : c.l1.toFixed(1),
    c.anomaly_index.toFixed(2),
    pct(c.attack_success_rate),
    c.flagged ? "yes" : "no",
  ]);
const TRIGGER_HEAD = ["class", "‖m‖₁", "anomaly index", "trigger success", "backdoored"];

function modelSummary(r: ModelInspectionReport): string {
  const verdict = r.flagged.length > 0 ? `class ${r.flagged.join(", ")} looks backdoored` : "no class looks backdoored";
  return `${r.defence} (${r.paper}) with ${r.params.samples} clean inputs of ${r.data}: ${verdict} (anomaly index above ${r.params.anomalyThreshold.toFixed(2)}).`;
}

export function renderModelInspectionMarkdown(r: ModelInspectionReport): string {
  return [
    `# Model inspection: ${r.model}`,
    "",
    modelSummary(r),
    "",
    ...table(TRIGGER_HEAD, triggerRows(r), [1, 2, 3]),
    "",
    ...findingsMarkdown(r.findings, "No class looks backdoored."),
  ].join("\n");
}

/** The reversed trigger of a class as two images: its mask, and mask·pattern on a black input. */
function triggerImages(r: ModelInspectionReport, c: ClassTrigger): [string, string] {
  const layout = imageOf(r.sample_shape);
  const [lo, hi] = r.clip_range;
  const stamped = stamp(
    float32([1, ...r.sample_shape], new Float32Array(c.pattern.length).fill(lo)),
    compileTrigger({ kind: "mask", mask: c.mask, pattern: c.pattern }, r.sample_shape),
  );
  const maskLayout = { height: r.height, width: r.width, channels: 1 as const, channelsFirst: true };
  return [samplePng(Float32Array.from(c.mask), 0, maskLayout, [0, 1]), samplePng(stamped.data, 0, layout, [lo, hi])];
}

export function renderModelInspectionHtml(r: ModelInspectionReport): string {
  const summary = cards([
    ["classes inspected", String(r.classes.length), r.defence],
    ["backdoored", r.flagged.length > 0 ? r.flagged.join(", ") : "none", `anomaly index > ${r.params.anomalyThreshold.toFixed(2)}`],
    ["clean inputs", String(r.params.samples), r.data],
  ]);
  const rows = r.classes
    .map((c, i) => {
      const [mask, trigger] = triggerImages(r, c);
      const cells = triggerRows(r)
        [i].map((v) => `<td>${esc(v)}</td>`)
        .join("");
      return `<tr>${cells}<td><img src="${mask}" alt="mask of class ${c.class}" width="56"></td><td><img src="${trigger}" alt="reversed trigger of class ${c.class}" width="56"></td></tr>`;
    })
    .join("");
  const head = [...TRIGGER_HEAD, "mask", "trigger"].map((h) => `<th>${esc(h)}</th>`).join("");
  return page(`Model inspection: ${r.model}`, [
    `<h1>Model inspection: ${esc(r.model)}</h1><p>${esc(modelSummary(r))}</p>`,
    summary,
    findingsSection(r.findings, "No class looks backdoored."),
    `<section><h2>Reversed triggers</h2><table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></section>`,
  ]);
}

export function renderModelInspectionSarif(r: ModelInspectionReport): string {
  return renderSarif(r.findings, { name: "aegis-inspect-model", fullName: "Aegis model inspection", version: r.aegis });
}
