/**
 * A fingerprint verification as a report: one finding (the suspect matched the fingerprint
 * beyond what an independent model does, or did not), and Markdown and HTML pages rendered
 * through report/ like every other Aegis report. A match is high severity: a model derived
 * from the owner's is being served by someone else. No match is info.
 */
import type { Finding } from "../../report/finding.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import type { Fingerprint, FingerprintVerdict } from "./fingerprint.js";

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const pValueText = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toPrecision(2));

export function fingerprintFindings(verdict: FingerprintVerdict, fingerprint: Fingerprint, suspect: string): Finding[] {
  const matched =
    verdict.errorRate === undefined
      ? `${suspect} gives the fingerprinted model's label on ${verdict.matches} of ${verdict.points} fingerprint points (${pct(verdict.matchingRate)})`
      : `${suspect} repeats ${verdict.matches} of the fingerprinted model's ${verdict.points} mistakes with its wrong label (${pct(verdict.matchingRate)}) and errs on ${pct(verdict.errorRate)} of the points it labels right`;
  const bar = `the threshold is ${verdict.threshold} (${pct(verdict.thresholdRate)}), where an independently trained model reaches it with probability ≤ ${verdict.alpha}`;
  return [
    {
      rule: "AEGIS-FINGERPRINT-MATCH",
      capability: "ownership",
      severity: verdict.stolen ? "high" : "info",
      title: verdict.stolen
        ? `${suspect} matches the fingerprint of ${fingerprint.victim}: ${pct(verdict.matchingRate)} (p = ${pValueText(verdict.pValue)})`
        : `${suspect} does not match the fingerprint of ${fingerprint.victim}: ${pct(verdict.matchingRate)}`,
      detail:
        `${matched}; ${bar}. p = ${pValueText(verdict.pValue)} is the chance of ${verdict.matches} or more matches for an independent model, ${nullText(fingerprint)}. ` +
        (verdict.stolen
          ? "A model this close to the fingerprinted one on inputs chosen to separate copies from independent models was most likely extracted, distilled or fine-tuned from it."
          : "This does not prove the suspect independent: a copy of low fidelity, or one trained to evade fingerprints, can match as little as an independent model."),
      evidence: {
        matches: verdict.matches,
        points: verdict.points,
        matching_rate: verdict.matchingRate,
        threshold: verdict.threshold,
        p_value: verdict.pValue,
        alpha: verdict.alpha,
      },
      location: suspect.startsWith("http") ? { route: suspect, section: "fingerprint" } : { file: suspect, section: "fingerprint" },
      references: references(["AML.T0024.002", "ML05"]),
      recommendation: verdict.stolen
        ? "Keep the fingerprint, this report and the suspect's answers as evidence; find how the copy was made — `aegis guard` logs and its query-stream detectors (prada, stateful-knn, ood) show extraction streams, and `aegis extract` measures how many queries a copy costs against your API."
        : "Nothing to do about this suspect; re-verify later versions of it with `aegis fingerprint verify`.",
    },
  ];
}

/** Where the p-value comes from: version 4's line of repeated mistakes, version 3's spread between reference models, or the older per-point null. */
function nullText(fingerprint: Fingerprint): string {
  const independent = fingerprint.independent;
  const line = fingerprint.mistakes?.line;
  if (line)
    return `from the line through ${line.references} reference models' mistakes repeated against their error rates, at the suspect's own error rate (Student's t prediction bound)`;
  return independent
    ? `from the matching rates of ${independent.references} reference models trained on the owner's data (${pct(independent.mean)} ± ${pct(independent.sd)}; Student's t prediction bound)`
    : "from the matching rates of reference models trained on the owner's data (points taken as independent)";
}

function summary(verdict: FingerprintVerdict, fingerprint: Fingerprint, suspect: string): [string, string][] {
  const c = fingerprint.calibration;
  const rates = (r: readonly number[]) => (r.length === 0 ? "–" : r.map(pct).join(", "));
  return [
    ["suspect", suspect],
    ["fingerprinted model", fingerprint.victim],
    ["method", `${fingerprint.params.method} (${fingerprint.papers.join("; ")})`],
    ["matching rate", `${pct(verdict.matchingRate)} (${verdict.matches} of ${verdict.points})`],
    ["threshold", `${verdict.threshold} matches (${pct(verdict.thresholdRate)}), α = ${verdict.alpha}`],
    ["p-value", pValueText(verdict.pValue)],
    ["verdict", verdict.stolen ? "derived from the fingerprinted model" : "not shown to be derived"],
    [fingerprint.version === 1 ? "surrogates at make time" : "held-out surrogates at make time", rates(c.surrogates)],
    [fingerprint.version === 1 ? "calibration references" : "held-out references at make time", rates(c.references)],
  ];
}

export function renderFingerprintMarkdown(verdict: FingerprintVerdict, fingerprint: Fingerprint, suspect: string, findings: readonly Finding[]): string {
  return [
    `# Fingerprint verification: ${suspect}`,
    "",
    ...table(["", ""], summary(verdict, fingerprint, suspect)),
    "",
    ...findingsMarkdown(findings, "No finding."),
  ].join("\n");
}

export function renderFingerprintHtml(verdict: FingerprintVerdict, fingerprint: Fingerprint, suspect: string, findings: readonly Finding[]): string {
  return page(`Fingerprint verification: ${suspect}`, [
    `<h1>Fingerprint verification: ${esc(suspect)}</h1>`,
    cards([
      ["matching rate", pct(verdict.matchingRate), `${verdict.matches} of ${verdict.points} points`],
      ["threshold", pct(verdict.thresholdRate), `α = ${verdict.alpha}`],
      ["p-value", pValueText(verdict.pValue), "for an independent model"],
      ["verdict", verdict.stolen ? "copy" : "no match", fingerprint.victim],
    ]),
    `<section><h2>Verification</h2><table>${summary(verdict, fingerprint, suspect)
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
      .join("")}</table></section>`,
    findingsSection(findings, "No finding."),
  ]);
}
