/**
 * `aegis drift check` reports, rendered through report/: Markdown, HTML (per-feature
 * histograms as inline SVG for tabular data, the most drifted examples as images), SARIF,
 * and the JSON as it is.
 */
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { imageLayout, samplePng } from "../../report/images.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import type { Tensor } from "../../tensor.js";
import type { DriftTest } from "./detector.js";
import type { DriftReport, FeatureHistogram } from "./run.js";

const NO_DRIFT = "No drift: every test's p-value is above its Bonferroni-corrected level.";
const pValue = (v: number) => (v < 1e-4 ? v.toExponential(2) : v.toFixed(4));
const testName = (t: DriftTest) => (t.test === "ks" ? "KS" : t.test === "mmd" ? "MMD" : "chi-square");
const testRows = (r: DriftReport) =>
  r.tests.map((t) => [t.kind, t.name, testName(t), t.statistic.toPrecision(4), pValue(t.pValue), pValue(t.threshold), t.drifted ? "DRIFT" : "ok"]);
const TEST_HEAD = ["kind", "name", "test", "statistic", "p-value", "level", "verdict"];

function summary(r: DriftReport): string {
  const drifted = r.tests.filter((t) => t.drifted).length;
  return `${r.drift ? "Drift" : "No drift"} in ${r.current.data} (${r.current.samples} rows) against ${r.reference.data} (${r.reference.samples} rows) through ${r.model}: ${drifted} of ${r.tests.length} tests below α = ${r.alpha}, Bonferroni-corrected to ${pValue(r.alpha / r.tests.length)} each.`;
}

export function renderDriftMarkdown(r: DriftReport): string {
  const examples = r.mostDrifted ?? [];
  return [
    `# Drift check: ${r.current.data}`,
    "",
    summary(r),
    "",
    ...table(TEST_HEAD, testRows(r), [3, 4, 5]),
    "",
    ...findingsMarkdown(r.findings, NO_DRIFT),
    ...(examples.length > 0
      ? [
          "## Most drifted examples",
          "",
          ...table(
            ["row", "witness", "predicted", "confidence"],
            examples.map((e) => [e.row, e.witness.toPrecision(3), e.predicted, e.confidence.toFixed(3)]),
            [0, 1, 3],
          ),
          "",
        ]
      : []),
  ].join("\n");
}

const CSS = `.hists{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}.hist{border:1px solid #d5dbe5;border-radius:6px;padding:6px}.hist.drifted{border-color:#ea580c}.hist h3{font-size:14px;margin:2px 0 4px}.examples{display:flex;flex-wrap:wrap;gap:12px}.examples figure{margin:0;text-align:center;font-size:12px}.examples img{width:84px;image-rendering:pixelated;border:1px solid #d5dbe5}`;

/** Reference (grey bars) against current (orange outline) shares per bin. */
function histogramSvg(h: FeatureHistogram): string {
  const w = 248;
  const ht = 96;
  const bins = h.reference.length;
  const max = Math.max(1e-9, ...h.reference, ...h.current);
  const bw = w / bins;
  const y = (v: number) => ht - (v / max) * (ht - 4);
  const bars = h.reference.map(
    (v, i) => `<rect x="${(i * bw).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(ht - y(v)).toFixed(1)}" fill="#94a3b8"/>`,
  );
  const line = h.current.map((v, i) => `${i === 0 ? "M" : "L"}${(i * bw).toFixed(1)},${y(v).toFixed(1)} H${((i + 1) * bw).toFixed(1)}`).join(" ");
  const range =
    h.type === "continuous"
      ? `${Number(h.bins[0].toPrecision(3))} … ${Number(h.bins[h.bins.length - 1].toPrecision(3))}`
      : `${h.bins.join(", ")}${h.reference.length > h.bins.length ? ", unseen" : ""}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${ht + 16}" role="img" aria-label="${esc(`${h.feature}: reference and current distribution`)}"><rect x="0" y="0" width="${w}" height="${ht}" fill="#fbfcfe"/>${bars.join("")}<path d="${line}" fill="none" stroke="#ea580c" stroke-width="2"/><text x="0" y="${ht + 13}" font-size="11" fill="#475569">${esc(range)}</text></svg>`;
}

function histogramsSection(r: DriftReport): string {
  if (!r.histograms?.length) return "";
  const drifted = new Set(r.tests.filter((t) => t.kind === "feature" && t.drifted).map((t) => t.name));
  const items = r.histograms.map((h) => {
    const t = r.tests.find((x) => x.kind === "feature" && x.name === h.feature);
    return `<div class="hist${drifted.has(h.feature) ? " drifted" : ""}"><h3>${esc(h.feature)} <span class="muted">${esc(t ? `${testName(t)} p = ${pValue(t.pValue)}` : "")}</span></h3>${histogramSvg(h)}</div>`;
  });
  return `<section><h2>Features</h2><p class="muted">Grey bars: reference; orange line: current data. Drifted features have an orange frame.</p><div class="hists">${items.join("")}</div></section>`;
}

function examplesSection(r: DriftReport, current?: Tensor<"float32">): string {
  const layout = imageLayout(r.sampleShape);
  if (!r.mostDrifted?.length || !current || !layout) return "";
  const row = r.sampleShape.reduce((a, b) => a * b, 1);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of current.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const figures = r.mostDrifted.map(
    (e) =>
      `<figure><img alt="row ${e.row}" src="${samplePng(current.data, e.row * row, layout, [lo, hi])}"><figcaption>row ${e.row}<br>class ${e.predicted} (${(e.confidence * 100).toFixed(0)}%)</figcaption></figure>`,
  );
  return `<section><h2>Most drifted examples</h2><p class="muted">Current rows closest to the rest of the current data and furthest from the reference in the model's feature space (MMD witness function).</p><div class="examples">${figures.join("")}</div></section>`;
}

/** The HTML report; `current` (the checked inputs) lets it show the most drifted examples. */
export function renderDriftHtml(r: DriftReport, current?: Tensor<"float32">): string {
  const tests = `<section><h2>Tests</h2><table><thead><tr>${TEST_HEAD.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${testRows(r)
    .map((row) => `<tr>${row.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table></section>`;
  return page(
    `Drift check: ${r.current.data}`,
    [
      `<h1>Drift check: ${esc(r.current.data)}</h1><p>${esc(summary(r))}</p>`,
      cards([
        ["verdict", r.drift ? "drift" : "no drift", `α = ${r.alpha}, Bonferroni`],
        ["drifted tests", String(r.tests.filter((t) => t.drifted).length), `of ${r.tests.length}`],
        ["method", r.method === "mmd" ? "MMD on features" : "per-feature tests", `${r.current.samples} rows checked`],
      ]),
      findingsSection(r.findings, NO_DRIFT),
      tests,
      histogramsSection(r),
      examplesSection(r, current),
    ],
    { css: CSS },
  );
}

export function renderDriftSarif(r: DriftReport): string {
  return renderSarif(
    r.findings,
    { name: "aegis-drift", fullName: "Aegis drift monitoring", version: r.aegis },
    { properties: { drift: r.drift, alpha: r.alpha } },
  );
}
