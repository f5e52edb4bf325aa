/**
 * Evidence: measured results from Aegis's own reports attached to the threats they test.
 *
 * Reports are recognised by their fields, not their file names: an audit report.json has
 * `kind: "audit"` and `attacks`; an `aegis attack --json` report has `attack`, `params`
 * and `curve`. The JSON reports of membership, attribute and inversion attacks
 * (`aegis infer`), model extraction (`aegis extract`) and training-data inspection
 * (`aegis inspect-data`) each test the ATLAS techniques in FINDING_REPORTS, and attach to
 * the threats that cite one of them. Other kinds (redteam, scan, …) are skipped with a
 * warning until a rule knows what they test.
 *
 * The verdict rule for evasion threats: a report shows the threat mitigated when the
 * worst robust accuracy over every bounded run it holds (each attack at each audited ε)
 * stays at or above half the clean accuracy; otherwise it shows it vulnerable. A threat
 * with any vulnerable evidence is tested-vulnerable, one whose evidence all passes is
 * tested-mitigated, and a threat no report tests stays untested.
 *
 * An audit with a privacy section (`aegis audit --privacy`) is membership evidence as well.
 *
 * For the finding reports: a finding at medium severity or above shows the threat
 * vulnerable (each capability grades its own measurements, e.g. membership inference at
 * AUC ≥ 0.6 or TPR ≥ 3% at 1% FPR); a report with none shows it mitigated.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
import { atLeast, type Finding, worstSeverity } from "../report/finding.js";
import type { Evidence, Threat, ThreatModel } from "./types.js";

/** Robust accuracy must keep this fraction of clean accuracy for the threat to count as mitigated. */
export const MITIGATED_RATIO = 0.5;

/**
 * Whether a threat is one that evasion measurements (robust accuracy) test: the evasion
 * rule, or a threat whose NIST class is evasion. Citing a sub-technique of AML.T0043 is
 * not enough — AML.T0043.004 (backdoor trigger) is tested by poisoning evidence, not by
 * robust accuracy.
 */
export function isEvasionThreat(t: Threat): boolean {
  return /EVASION/i.test(t.rule) || t.nist_class === "evasion";
}

type Report = Record<string, unknown>;

const isObject = (v: unknown): v is Report => typeof v === "object" && v !== null && !Array.isArray(v);

/** The reports of other capabilities, by the fields that tell them apart, and the ATLAS techniques each one tests. */
const FINDING_REPORTS: { kind: Evidence["kind"]; what: string; techniques: string[]; matches(r: Report): boolean }[] = [
  {
    kind: "membership",
    what: "membership inference",
    techniques: ["AML.T0024.000"],
    matches: (r) => isObject(r.result) && Array.isArray(r.result.attacks) && isObject(r.data) && "members" in r.data,
  },
  { kind: "inversion", what: "model inversion", techniques: ["AML.T0024.001"], matches: (r) => typeof r.recognisable === "number" && Array.isArray(r.classes) },
  {
    kind: "attribute",
    what: "attribute inference",
    techniques: ["AML.T0024.001"],
    matches: (r) => "attacked" in r && "unseen" in r && Array.isArray(r.values),
  },
  {
    kind: "extraction",
    what: "model extraction",
    techniques: ["AML.T0024.002"],
    matches: (r) => typeof r.fidelity === "number" && typeof r.queries === "number" && typeof r.budget === "number",
  },
  {
    kind: "data-inspection",
    what: "training-data inspection",
    techniques: ["AML.T0020"],
    matches: (r) => Array.isArray(r.suspected) && typeof r.flagged === "number",
  },
];

interface Run {
  attack: string;
  eps: number;
  robust: number;
}

export function attachEvidence(model: ThreatModel, reportPaths: string[]): ThreatModel {
  const warnings = [...model.warnings];
  const evasion: Evidence[] = [];
  const byTechnique: { techniques: string[]; evidence: Evidence }[] = [];
  for (const path of reportPaths) {
    const report = readReport(path);
    const found = evasionEvidence(report, path);
    const tested = found ? undefined : FINDING_REPORTS.find((k) => k.matches(report));
    const privacy = auditPrivacyEvidence(report, path);
    if (privacy) byTechnique.push(privacy);
    if (found) evasion.push(found);
    else if (tested) byTechnique.push({ techniques: tested.techniques, evidence: findingEvidence(report, path, tested) });
    else
      warnings.push(
        `${path} is not a report Aegis maps to threats yet (audit, attack, infer, extract or inspect-data; kind "${String(report.kind ?? "unknown")}"), so it was skipped.`,
      );
  }
  const threats = model.threats.map((t) => {
    const cited = byTechnique.filter((b) => b.techniques.some((id) => t.atlas.includes(id))).map((b) => b.evidence);
    const evidence = [...t.evidence, ...(isEvasionThreat(t) ? evasion : []), ...cited];
    return { ...t, evidence, status: statusOf(evidence) };
  });
  return { ...model, threats, warnings };
}

function statusOf(evidence: Evidence[]): Threat["status"] {
  if (evidence.length === 0) return "untested";
  return evidence.every((e) => e.mitigated) ? "tested-mitigated" : "tested-vulnerable";
}

function readReport(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `Cannot read the evidence report ${path}; check the path given to --evidence.`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AegisError("BAD_DATA", `${path} is not JSON; --evidence takes report.json from aegis audit or the output of aegis attack --json.`, { cause: e });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AegisError("BAD_DATA", `${path} is not a JSON object; --evidence takes report.json from aegis audit or the output of aegis attack --json.`);
  }
  return value as Record<string, unknown>;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Robust accuracy of an audit or attack report as evidence, or null when the report is of another kind. */
function evasionEvidence(r: Record<string, unknown>, source: string): Evidence | null {
  if (r.kind === "audit" && Array.isArray(r.attacks) && isNum(r.clean_accuracy)) {
    const runs: Run[] = [];
    for (const a of r.attacks as Record<string, unknown>[]) {
      if (a?.status !== "done" || !Array.isArray(a.runs)) continue;
      for (const run of a.runs as Record<string, unknown>[]) {
        if (isNum(run?.eps) && isNum(run.robust_accuracy)) runs.push({ attack: String(a.id ?? a.attack), eps: run.eps, robust: run.robust_accuracy });
      }
    }
    return verdict("audit", source, r.clean_accuracy, runs);
  }
  if (typeof r.attack === "string" && Array.isArray(r.curve) && isNum(r.clean_accuracy) && typeof r.params === "object") {
    const runs: Run[] = [];
    for (const p of r.curve as Record<string, unknown>[]) {
      if (isNum(p?.eps) && isNum(p.robust_accuracy)) runs.push({ attack: r.attack, eps: p.eps, robust: p.robust_accuracy });
    }
    return verdict("attack", source, r.clean_accuracy, runs);
  }
  return null;
}

/** The privacy section of an audit (`aegis audit --privacy`) is membership evidence, judged by the section's own findings. */
function auditPrivacyEvidence(r: Report, source: string): { techniques: string[]; evidence: Evidence } | null {
  const membership = FINDING_REPORTS.find((k) => k.kind === "membership");
  if (r.kind !== "audit" || !isObject(r.privacy) || !membership) return null;
  const findings = (Array.isArray(r.findings) ? r.findings : []).filter((f) => isObject(f) && f.capability === "inference");
  return { techniques: membership.techniques, evidence: findingEvidence({ findings }, source, membership) };
}

/** A finding report as evidence: vulnerable with a finding at medium or above, mitigated without one. */
function findingEvidence(r: Report, source: string, tested: (typeof FINDING_REPORTS)[number]): Evidence {
  const findings = (Array.isArray(r.findings) ? r.findings : []).filter(
    (f): f is Finding => isObject(f) && typeof f.severity === "string" && typeof f.title === "string",
  );
  const serious = findings.filter((f) => atLeast(f.severity, "medium"));
  const worst = serious.find((f) => f.severity === worstSeverity(serious));
  if (!worst) return { source, kind: tested.kind, summary: `${tested.what}: no finding at medium severity or above`, mitigated: true };
  return { source, kind: tested.kind, summary: `${tested.what}: ${worst.severity}: ${worst.title}`, mitigated: false, metrics: { ...worst.evidence } };
}

function verdict(kind: "audit" | "attack", source: string, clean: number, runs: Run[]): Evidence {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const metrics: Record<string, number> = { clean_accuracy: clean };
  for (const run of runs) metrics[`robust_accuracy:${run.attack}@${run.eps}`] = run.robust;
  if (runs.length === 0) {
    // Only minimum-norm or skipped attacks: nothing bounds the adversary, so nothing shows the threat mitigated.
    return { source, kind, summary: `clean accuracy ${pct(clean)}; no attack ran at a fixed ε, so robustness is unmeasured`, mitigated: false, metrics };
  }
  const worst = runs.reduce((w, x) => (x.robust < w.robust ? x : w));
  metrics.worst_robust_accuracy = worst.robust;
  const mitigated = clean > 0 && worst.robust >= MITIGATED_RATIO * clean;
  return {
    source,
    kind,
    summary: `robust accuracy ${pct(worst.robust)} under ${worst.attack} at ε=${worst.eps} (clean ${pct(clean)}; mitigated needs ≥ ${pct(MITIGATED_RATIO * clean)})`,
    mitigated,
    metrics,
  };
}
