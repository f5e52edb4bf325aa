/**
 * An extraction run as a report: one finding (how much of the model the queries gave away),
 * and the Markdown and HTML pages with the curve of accuracy and fidelity against queries,
 * rendered through report/ like every other Aegis report.
 * Severity follows fidelity, the share of inputs on which the copy answers as the victim:
 * ≥ 90% high (a working substitute), ≥ 70% medium, below that low.
 */
import type { Finding, Severity } from "../../report/finding.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import type { ExtractionReport } from "./run.js";

/** Where the stolen copy was taken from, as the report names it. */
export interface ExtractionTarget {
  /** The victim: an ONNX file or an endpoint URL. */
  victim: string;
  /** The API's output defences the run went through (`aegis defend --postprocess` specs), if any. */
  outputs?: string;
}

const OUTPUT_WORDS: Record<ExtractionReport["output"], string> = { probabilities: "probability", "top-k": "top-k", labels: "label-only" };

const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);

export function extractionSeverity(fidelity: number): Severity {
  return fidelity >= 0.9 ? "high" : fidelity >= 0.7 ? "medium" : "low";
}

export function extractionFindings(report: ExtractionReport, target: ExtractionTarget): Finding[] {
  const evidence: Record<string, number> = { queries: report.queries, fidelity: report.fidelity };
  if (report.accuracy !== undefined) evidence.accuracy = report.accuracy;
  if (report.victimAccuracy !== undefined) evidence.victim_accuracy = report.victimAccuracy;
  if (report.transfer) evidence.transfer_rate = report.transfer.rate;
  const accuracy = report.accuracy === undefined ? "" : ` and ${pct(report.accuracy)} accuracy (the victim: ${pct(report.victimAccuracy)})`;
  const transfer = report.transfer
    ? ` Adversarial examples crafted on the copy (FGSM, ε ${report.transfer.eps}) fool the victim on ${pct(report.transfer.rate)} of ${report.transfer.samples} digits it got right.`
    : "";
  return [
    {
      rule: `AEGIS-EXTRACTION-${report.attack.toUpperCase()}`,
      capability: "extraction",
      severity: extractionSeverity(report.fidelity),
      title: `${report.title} copies the model in ${report.queries} queries: ${pct(report.fidelity)} fidelity`,
      detail:
        `From ${OUTPUT_WORDS[report.output]} answers${target.outputs ? ` (outputs: ${target.outputs})` : ""}, ${report.queries} queries gave a copy with ${pct(report.fidelity)} agreement with the victim${accuracy} on ${report.testSamples} test samples.` +
        transfer,
      evidence,
      location: {
        file: target.victim.startsWith("http") ? undefined : target.victim,
        route: target.victim.startsWith("http") ? target.victim : undefined,
        section: report.attack,
      },
      references: references(["AML.T0024.002", "AML.T0048.004", "ML05"]),
      recommendation:
        "Put the model behind `aegis guard` with the query-stream detectors (`detectors: {prada, stateful-knn, ood}`) and incident rules that block or degrade a client, cap each client's queries with rate limits, and measure what returning less per answer buys (`aegis extract --outputs labels` or `--outputs reverse-sigmoid`: copies from natural data still learn from labels alone); re-run `aegis extract` against the guarded endpoint with `--target` to check.",
    },
  ];
}

function curveRows(report: ExtractionReport): string[][] {
  return report.curve.map((p) => [String(p.queries), pct(p.accuracy), pct(p.fidelity)]);
}

function summary(report: ExtractionReport): [string, string][] {
  return [
    ["attack", `${report.title} (${report.attack})`],
    ["paper", report.paper],
    ["API output seen", report.output],
    ["queries", `${report.queries} of ${report.budget} (${report.evaluationQueries} more for the evaluation)`],
    ["accuracy", `${pct(report.accuracy)} (victim ${pct(report.victimAccuracy)})`],
    ["fidelity", pct(report.fidelity)],
    ["transfer", report.transfer ? `${pct(report.transfer.rate)} (FGSM ε ${report.transfer.eps}, ${report.transfer.samples} samples)` : "–"],
  ];
}

export function renderExtractionMarkdown(report: ExtractionReport, findings: readonly Finding[], target: ExtractionTarget): string {
  return [
    `# Model extraction: ${report.title} against ${target.victim}`,
    "",
    ...table(["", ""], summary(report)),
    "",
    "## Accuracy and fidelity against queries",
    "",
    ...table(["queries", "accuracy", "fidelity"], curveRows(report), [0, 1, 2]),
    "",
    ...(report.notes.length > 0 ? ["## Notes", "", ...report.notes.map((n) => `- ${n}`), ""] : []),
    ...findingsMarkdown(findings, "No finding."),
  ].join("\n");
}

export function renderExtractionHtml(report: ExtractionReport, findings: readonly Finding[], target: ExtractionTarget): string {
  const rows = curveRows(report)
    .map((r) => `<tr>${r.map((c) => `<td class="num">${esc(c)}</td>`).join("")}</tr>`)
    .join("");
  return page(`Model extraction: ${report.title}`, [
    `<h1>Model extraction: ${esc(report.title)} against ${esc(target.victim)}</h1>`,
    cards([
      ["fidelity", pct(report.fidelity), "agreement with the victim"],
      ["accuracy", pct(report.accuracy), `victim ${pct(report.victimAccuracy)}`],
      ["queries", String(report.queries), `${report.output} answers`],
      ["transfer", pct(report.transfer?.rate), "FGSM examples that fool the victim"],
    ]),
    `<section><h2>Run</h2><table>${summary(report)
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
      .join("")}</table></section>`,
    `<section><h2>Accuracy and fidelity against queries</h2><table><tr><th>queries</th><th>accuracy</th><th>fidelity</th></tr>${rows}</table></section>`,
    report.notes.length > 0 ? `<section><h2>Notes</h2><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></section>` : "",
    findingsSection(findings, "No finding."),
  ]);
}
