/**
 * The model-inversion part of the privacy report: per class, MI-Face's reconstruction beside
 * the class's mean image in the real data, the model's confidence in it, and how similar it
 * is to that mean (Pearson correlation, and the rank of its own class among all class means).
 * A reconstruction counts as recognisable when the model gives it its class with at least
 * 90 % confidence and it is nearer its own class mean than any other. One finding, under
 * OWASP ML03 and ATLAS AML.T0024.001, when any class is.
 */
import type { Finding, Severity } from "../../report/finding.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { imageLayout, samplePng } from "../../report/images.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import { sizeOf, type Tensor } from "../../tensor.js";
import type { Inversion, InversionSimilarity, MiFaceOptions } from "./mi-face.js";

export const INVERSION_RULE = "AEGIS-PRIVACY-INVERSION";
const CONFIDENT = 0.9;

export interface InversionClassResult {
  class: number;
  name: string;
  confidence: number;
  iterations: number;
  /** Correlation with its own class mean, and with the most similar other class mean. */
  own_correlation: number;
  best_other_correlation: number;
  /** 1 when its own class mean is the most similar. */
  rank: number;
  recognisable: boolean;
  /** PNG data URIs (images only). */
  image?: { reconstruction: string; class_mean: string };
}

export interface InversionReport {
  model: string;
  /** The real data the class means come from. */
  data: string;
  options: Pick<MiFaceOptions, "maxIter" | "window" | "threshold" | "learningRate" | "blur">;
  recognisable: number;
  classes: InversionClassResult[];
  findings: Finding[];
}

export interface InversionReportInput {
  model: string;
  data: string;
  options: InversionReport["options"];
  classes: readonly number[];
  classNames?: readonly string[];
  inversion: Inversion;
  similarity: InversionSimilarity;
  means: Tensor<"float32">;
  clipRange: readonly [number, number];
}

export function inversionReport(input: InversionReportInput): InversionReport {
  const { inversion, similarity, means } = input;
  const shape = means.shape.slice(1);
  const layout = imageLayout(shape);
  const size = sizeOf(shape);
  const classes = input.classes.map((c, i): InversionClassResult => {
    const confidence = inversion.confidence[i];
    const others = similarity.correlation[i].filter((_, j) => j !== c);
    return {
      class: c,
      name: input.classNames?.[c] ?? String(c),
      confidence,
      iterations: inversion.iterations[i],
      own_correlation: similarity.correlation[i][c],
      best_other_correlation: Math.max(...others),
      rank: similarity.rank[i],
      recognisable: confidence >= CONFIDENT && similarity.rank[i] === 1,
      image: layout
        ? {
            reconstruction: samplePng(inversion.x.data, i * size, layout, input.clipRange),
            class_mean: samplePng(means.data, c * size, layout, input.clipRange),
          }
        : undefined,
    };
  });
  const recognisable = classes.filter((c) => c.recognisable).length;
  return { model: input.model, data: input.data, options: input.options, recognisable, classes, findings: inversionFindings(input.model, classes) };
}

function inversionFindings(model: string, classes: readonly InversionClassResult[]): Finding[] {
  const hits = classes.filter((c) => c.recognisable);
  if (hits.length === 0) return [];
  const severity: Severity = hits.length * 2 >= classes.length ? "medium" : "low";
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return [
    {
      rule: INVERSION_RULE,
      capability: "inference",
      severity,
      title: `Class representatives can be reconstructed from the model (${hits.length} of ${classes.length} classes)`,
      detail:
        `MI-Face (Fredrikson, Jha & Ristenpart 2015), descending on the input from a grey image, produced for ${hits.length} of ${classes.length} classes an input the model is at least ${CONFIDENT * 100}% sure of ` +
        `and that is closer to that class's mean in the real data than to any other class's (mean correlation ${mean(hits.map((c) => c.own_correlation)).toFixed(2)}). ` +
        "Whoever can compute the model's gradients, or estimate them from its confidence scores, can recover what a class's training data looks like: a face for a face recogniser, a typical record for a tabular model.",
      evidence: {
        recognisable_classes: hits.length,
        classes: classes.length,
        mean_confidence: mean(hits.map((c) => c.confidence)),
        mean_own_correlation: mean(hits.map((c) => c.own_correlation)),
      },
      location: { file: model, section: "mi-face" },
      references: references(["ML03", "AML.T0024.001", "privacy"]),
      recommendation:
        "Return labels or rounded top-1 scores rather than full confidences (MI-Face needs them), keep the weights private, and train with differential privacy where a class is one person; then run `aegis infer inversion` again.",
    },
  ];
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const HEAD = ["class", "confidence", "own-mean correlation", "best other", "rank", "recognisable", "iterations"];
const row = (c: InversionClassResult) => [
  c.name,
  pct(c.confidence),
  c.own_correlation.toFixed(3),
  c.best_other_correlation.toFixed(3),
  c.rank,
  c.recognisable ? "yes" : "no",
  c.iterations,
];

export function inversionMarkdown(r: InversionReport): string {
  return [
    "# Aegis model inversion (MI-Face)",
    "",
    `Model \`${r.model}\`; class means from ${r.data}; at most ${r.options.maxIter} iterations, step ${r.options.learningRate}, blur ${r.options.blur}. ${r.recognisable} of ${r.classes.length} classes recognisable (confidence ≥ ${CONFIDENT * 100}% and nearest their own class mean).`,
    "",
    ...findingsMarkdown(r.findings, "No reconstruction was both confidently classified and nearest its own class mean."),
    "## Classes",
    "",
    ...table(HEAD, r.classes.map(row), [1, 2, 3, 4, 6]),
    "",
  ].join("\n");
}

export function inversionHtml(r: InversionReport): string {
  const images = r.classes.some((c) => c.image)
    ? `<section><h2>Reconstructions</h2><div class="inversions">${r.classes
        .map(
          (c) =>
            `<figure><img src="${c.image?.reconstruction ?? ""}" alt="reconstruction of ${esc(c.name)}"><img src="${c.image?.class_mean ?? ""}" alt="mean of ${esc(c.name)}"><figcaption>${esc(c.name)} · ${pct(c.confidence)} · r=${c.own_correlation.toFixed(2)}${c.recognisable ? "" : " · not recognisable"}</figcaption></figure>`,
        )
        .join("")}</div><p class="muted">Left: MI-Face's reconstruction; right: the class's mean image in the real data.</p></section>`
    : "";
  const rows = r.classes
    .map(
      (c) =>
        `<tr>${row(c)
          .map((v, i) => `<td${i > 0 && i !== 5 ? ' class="num"' : ""}>${esc(v)}</td>`)
          .join("")}</tr>`,
    )
    .join("");
  return page(
    "Aegis model inversion",
    [
      `<header><div class="eyebrow">Aegis · privacy</div><h1>Model inversion (MI-Face)</h1><p class="muted">${esc(r.model)} · class means from ${esc(r.data)}</p></header>`,
      cards([
        ["recognisable classes", `${r.recognisable} / ${r.classes.length}`, `confidence ≥ ${CONFIDENT * 100}% and nearest own mean`],
        ["iterations", String(r.options.maxIter), `step ${r.options.learningRate}, blur ${r.options.blur}`],
      ]),
      findingsSection(r.findings, "No reconstruction was both confidently classified and nearest its own class mean."),
      images,
      `<section><h2>Classes</h2><table><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows}</tbody></table></section>`,
    ],
    {
      css: ".inversions{display:flex;flex-wrap:wrap;gap:14px}.inversions figure{margin:0;text-align:center}.inversions img{width:84px;height:84px;image-rendering:pixelated;border:1px solid var(--line);margin:0 2px}.inversions figcaption{font-size:12px;color:var(--muted)}",
    },
  );
}
