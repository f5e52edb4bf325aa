/**
 * Evidence: measured results from Aegis's own reports attached to the threats they test.
 *
 * Reports are recognised by their fields, not their file names: an audit report.json has
 * `kind: "audit"` and `attacks`; an `aegis attack --json` report has `attack`, `params`
 * and `curve`. Other kinds (redteam, scan, …) are skipped with a warning until a rule
 * knows what they test.
 *
 * The verdict rule for evasion threats: a report shows the threat mitigated when the
 * worst robust accuracy over every bounded run it holds (each attack at each audited ε)
 * stays at or above half the clean accuracy; otherwise it shows it vulnerable. A threat
 * with any vulnerable evidence is tested-vulnerable, one whose evidence all passes is
 * tested-mitigated, and a threat no report tests stays untested.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../errors.js";
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

interface Run {
  attack: string;
  eps: number;
  robust: number;
}

export function attachEvidence(model: ThreatModel, reportPaths: string[]): ThreatModel {
  const warnings = [...model.warnings];
  const evasion: Evidence[] = [];
  for (const path of reportPaths) {
    const report = readReport(path);
    const found = evasionEvidence(report, path);
    if (found) evasion.push(found);
    else
      warnings.push(
        `${path} is not an audit or attack report (kind "${String(report.kind ?? "unknown")}"); Aegis does not yet map it to threats, so it was skipped.`,
      );
  }
  const threats = model.threats.map((t) => {
    const evidence = isEvasionThreat(t) ? [...t.evidence, ...evasion] : t.evidence;
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
