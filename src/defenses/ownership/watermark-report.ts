/**
 * A watermark verification as a report: one finding, and the Markdown and HTML pages,
 * rendered through report/ like every other Aegis report. A suspect that carries the
 * watermark is evidence that someone holds a copy of the model: high severity (ATLAS's
 * model extraction and IP theft, OWASP ML05). Without it the finding is informational: the
 * suspect may still be a copy whose mark did not survive (extraction removes it; see the
 * README's measurements).
 */
import type { Finding } from "../../report/finding.js";
import { cards, esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown, table } from "../../report/markdown.js";
import { references } from "../../report/taxonomy.js";
import type { WatermarkVerification } from "./watermark.js";

/** What was verified: the suspect model (a file or an endpoint) and the key. */
export interface WatermarkTarget {
  suspect: string;
  key: string;
  /** The suspect is byte for byte the marked model the key was made with. */
  sameFile?: boolean;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** "3.2e-31", or "1e-412" from the logarithm once the double underflows. */
export function pValueText(v: WatermarkVerification): string {
  if (v.pValue > 0) return v.pValue >= 0.01 ? v.pValue.toFixed(3) : v.pValue.toExponential(1);
  return `1e${Math.round(v.log10PValue)}`;
}

export function watermarkFindings(v: WatermarkVerification, target: WatermarkTarget): Finding[] {
  const location = target.suspect.startsWith("http") ? { route: target.suspect, section: "watermark" } : { file: target.suspect, section: "watermark" };
  const evidence = {
    triggers: v.triggers,
    matches: v.matches,
    trigger_accuracy: v.accuracy,
    chance: v.chance,
    log10_p_value: v.log10PValue,
    threshold: v.threshold,
  };
  const counts = `${v.matches} of ${v.triggers} trigger inputs (${pct(v.accuracy)}; chance ${pct(v.chance)})`;
  if (v.verified) {
    return [
      {
        rule: "AEGIS-WATERMARK-PRESENT",
        capability: "ownership",
        severity: "high",
        title: `The suspect model carries the watermark: ${counts}, p = ${pValueText(v)}`,
        detail:
          `${target.suspect} answers ${counts} with the labels of the secret key ${target.key}. A model that never saw the triggers matches each with probability ${v.chance.toFixed(3)}; reaching ${v.matches} or more by chance has probability ${pValueText(v)}, below the threshold ${v.threshold}.` +
          (target.sameFile ? " The file is byte for byte the marked model." : ""),
        evidence,
        location,
        references: references(["AML.T0024.002", "AML.T0048.004", "ML05"]),
        recommendation:
          "Keep this report with the key as evidence of ownership, and reveal the trigger set only to the party that arbitrates (anyone who holds it can fine-tune the mark away); close the leak that let the model out: `aegis guard` detectors and rate limits against query-stream extraction, `aegis sign` and `aegis verify` for the files.",
      },
    ];
  }
  return [
    {
      rule: "AEGIS-WATERMARK-ABSENT",
      capability: "ownership",
      severity: "info",
      title: `No watermark found: ${counts}, p = ${pValueText(v)}`,
      detail: `${target.suspect} answers ${counts} with the labels of the key ${target.key}, which chance explains (p = ${pValueText(v)}, not below ${v.threshold}). The suspect was not trained on the trigger set, or its mark was removed: a copy stolen through the model's predictions on natural data does not learn the triggers.`,
      evidence,
      location,
      references: references(["AML.T0024.002", "ML05"]),
      recommendation:
        "A missing watermark does not clear a suspect: copies made by `aegis extract` lose it. Compare the suspect with a fingerprint of the model as well, and keep the API behind `aegis guard` so that extraction is detected when it happens.",
    },
  ];
}

function summary(v: WatermarkVerification, target: WatermarkTarget): [string, string][] {
  return [
    ["suspect", target.suspect + (target.sameFile ? " (the marked model itself)" : "")],
    ["key", target.key],
    ["trigger accuracy", `${v.matches} / ${v.triggers} (${pct(v.accuracy)})`],
    ["chance", pct(v.chance)],
    ["p-value", `${pValueText(v)} (log₁₀ ${v.log10PValue.toFixed(2)})`],
    ["threshold", String(v.threshold)],
    ["verdict", v.verified ? "watermark present" : "watermark not found"],
  ];
}

export function renderWatermarkMarkdown(v: WatermarkVerification, findings: readonly Finding[], target: WatermarkTarget): string {
  const lines = [`# Watermark verification: ${target.suspect}`, "", ...table(["", ""], summary(v, target)), ""];
  return [...lines, ...findingsMarkdown(findings, "No finding.")].join("\n");
}

export function renderWatermarkHtml(v: WatermarkVerification, findings: readonly Finding[], target: WatermarkTarget): string {
  return page(`Watermark verification: ${target.suspect}`, [
    `<h1>Watermark verification: ${esc(target.suspect)}</h1>`,
    cards([
      ["verdict", v.verified ? "present" : "not found", `threshold p < ${v.threshold}`],
      ["trigger accuracy", pct(v.accuracy), `${v.matches} of ${v.triggers}; chance ${pct(v.chance)}`],
      ["p-value", pValueText(v), "of matching this many by chance"],
    ]),
    `<section><h2>Verification</h2><table>${summary(v, target)
      .map(([k, val]) => `<tr><th>${esc(k)}</th><td>${esc(val)}</td></tr>`)
      .join("")}</table></section>`,
    findingsSection(findings, "No finding."),
  ]);
}
