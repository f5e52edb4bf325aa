/**
 * Findings: what each attack showed about the model, with a severity and the MITRE ATLAS
 * and OWASP ML Top 10 entries a risk register files it under. Evasion is ATLAS
 * AML.T0043 Craft Adversarial Data (white-box or black-box optimization) used for
 * AML.T0015 Evade AI Model, and OWASP ML01 Input Manipulation Attack.
 */
import { bySeverity, type Finding, type Severity } from "../report/finding.js";
import { references } from "../report/taxonomy.js";
import type { AttackRecord, AuditReport, DefenceRecord, EnsembleRecord, RunRecord } from "./types.js";

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const normName = (n: string) => (n === "inf" ? "L∞" : `L${n}`);

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median perturbation a minimum-norm attack needed over the samples the model got right (Infinity when it failed on most). */
export function medianMinNorm(record: AttackRecord): number {
  const values = (record.min_norms ?? []).filter((v) => v !== 0).map((v) => v ?? Number.POSITIVE_INFINITY);
  return median(values);
}

/** "broken by apgd-ce 19, apgd-t 1, fab-t 0, square 0; 2 misclassified unperturbed; 78 robust" */
export function ensembleText(e: EnsembleRecord): string {
  return `broken by ${e.stages.map((s) => `${s.attack} ${s.broken}`).join(", ")}; ${e.clean} misclassified unperturbed; ${e.robust} robust`;
}

/** "squeeze:bits=1 before the model, topk:k=1 after it (wrapped.defence.json)" */
export function defenceText(d: DefenceRecord): string {
  const before = d.preprocessors.length > 0 ? `${d.preprocessors.join(", ")} before the model` : null;
  const after = d.postprocessors.length > 0 ? `${d.postprocessors.join(", ")} after ${before ? "it" : "the model"}` : null;
  return `${[before, after].filter((p) => p !== null).join(", ") || "no defences"} (${d.file})`;
}

/** How the gradient attacks went through a defence: what a reader needs to trust its robust accuracy. */
export function defenceAttackText(d: DefenceRecord): string {
  return d.adaptive
    ? `adaptively: BPDA through the preprocessors (Athalye, Carlini & Wagner 2018)${d.eot > 1 ? `, EOT over ${d.eot} draws per gradient` : ""}`
    : "non-adaptively: through the deployed model's own gradients, which a gradient-masking defence defeats";
}

/** Robust accuracy an adversary limited to ε reaches with a minimum-norm attack's perturbations. */
export function robustAtEps(minNorms: readonly (number | null)[], eps: number): number {
  if (minNorms.length === 0) return 0;
  return minNorms.filter((v) => v === null || v > eps).length / minNorms.length;
}

/** The largest perturbation possible in a norm over inputs of `size` values in the clip range. */
function fullScale(norm: string, size: number, range: number): number {
  if (norm === "2") return range * Math.sqrt(size);
  if (norm === "1") return range * size;
  return range;
}

/** Severity from the share of clean accuracy a model keeps under attack. */
function curveSeverity(relative: number): Severity {
  if (relative < 0.5) return "high";
  if (relative < 0.8) return "medium";
  if (relative < 0.95) return "low";
  return "info";
}

export function deriveFindings(report: Omit<AuditReport, "findings" | "policy">): Finding[] {
  const findings: Finding[] = [];
  const size = report.model.input_shape.reduce((a, b) => a * b, 1);
  const range = report.model.clip_range[1] - report.model.clip_range[0];
  for (const a of report.attacks) {
    if (a.runs.length === 0) continue;
    const blackBox = a.access === "black-box";
    const cited = references(["AML.T0043", blackBox ? "AML.T0043.001" : "AML.T0043.000", "AML.T0015", "ML01", "evasion"]);
    const recommendation = blackBox
      ? "The attack needs only the model's predictions: limit and monitor queries per client (ATLAS AML.M0004; `aegis guard` with stateful-knn detection), detect adversarial inputs (AML.M0015; `aegis detect fit`) and harden the model, e.g. by adversarial training (AML.M0003; `aegis harden adversarial-training`); then audit again."
      : "Harden the model, e.g. adversarial training with PGD at the audited ε (Madry et al. 2018; ATLAS AML.M0003; `aegis harden adversarial-training --eps …`, then `aegis audit --compare` to show the gain), and keep the model file from untrusted parties, since white-box access makes these attacks easiest; then audit again.";
    const who = `${a.title} (${normName(a.norm)}${a.targeted ? ", targeted" : ""})`;
    let severity: Severity;
    let title: string;
    let detail: string;
    let evidence: Record<string, number>;
    if (a.kind === "curve") {
      const runs = [...a.runs].sort((p, q) => (p.eps ?? 0) - (q.eps ?? 0));
      const first = runs[0];
      const last = runs[runs.length - 1];
      // Over the audited ε range (the threat model the suite states): the mean share of clean accuracy kept.
      const kept = runs.reduce((s, p) => s + (p.clean_accuracy > 0 ? p.robust_accuracy / p.clean_accuracy : 1), 0) / runs.length;
      severity = curveSeverity(kept);
      const at = (p: RunRecord) => `${pct(p.robust_accuracy)} at ε = ${p.eps}`;
      title =
        severity === "info"
          ? `${who} barely reduces accuracy up to ε = ${last.eps}`
          : `${who} drops accuracy from ${pct(first.clean_accuracy)} to ${at(first)}${last !== first ? ` and ${at(last)}` : ""}`;
      detail = `On ${first.samples} samples, ${who} fooled ${runs.map((p) => `${pct(p.success_rate)} at ε = ${p.eps}`).join(", ")} of the correctly classified ones; over these ε the model keeps ${pct(kept)} of its clean accuracy on average`;
      if (first.queries) detail += `, with ${Math.round(first.queries.mean)} queries per sample on average`;
      detail += ".";
      evidence = {
        clean_accuracy: first.clean_accuracy,
        robust_accuracy: last.robust_accuracy,
        eps: last.eps ?? 0,
        success_rate: last.success_rate,
        accuracy_kept: kept,
        samples: first.samples,
        ...(first.queries ? { queries_mean: first.queries.mean } : {}),
      };
    } else {
      const run = a.runs[0];
      const med = medianMinNorm(a);
      const relative = med / fullScale(a.norm, size, range);
      if (run.success_rate < 0.1) severity = "info";
      else if (run.success_rate < 0.5 || relative >= 0.2) severity = "low";
      else severity = relative < 0.1 ? "high" : "medium";
      const medText = Number.isFinite(med) ? med.toFixed(3) : "unbounded";
      title = `${who} fools ${pct(run.success_rate)} of correctly classified samples, median ${normName(a.norm)} perturbation ${medText}`;
      detail =
        `On ${run.samples} samples the smallest adversarial perturbations ${who} found have median ${normName(a.norm)} norm ${medText}` +
        (Number.isFinite(med) ? ` (${pct(relative)} of the largest possible change)` : "") +
        `; mean L2 ${run.perturbation.l2_mean.toFixed(3)}, mean L∞ ${run.perturbation.linf_mean.toFixed(3)} over successes` +
        (run.queries ? `, ${Math.round(run.queries.mean)} queries per sample on average` : "") +
        ".";
      evidence = {
        success_rate: run.success_rate,
        ...(Number.isFinite(med) ? { median_perturbation: med, median_perturbation_share: relative } : {}),
        l2_mean: run.perturbation.l2_mean,
        linf_mean: run.perturbation.linf_mean,
        samples: run.samples,
        ...(run.queries ? { queries_mean: run.queries.mean } : {}),
      };
    }
    const defence = report.model.defence;
    if (defence)
      detail += ` Measured through the defence ${defenceText(defence)}${blackBox ? " from its predictions only" : `, attacked ${defenceAttackText(defence)}`}.`;
    findings.push({
      rule: `AEGIS-EVASION-${a.id.toUpperCase()}`,
      capability: "audit",
      severity,
      title,
      detail,
      evidence,
      location: { file: report.model.path, section: a.id },
      references: cited,
      recommendation,
    });
  }
  return bySeverity(findings);
}
