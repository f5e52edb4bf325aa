/** What every view of a threat model shares: ordering, labels and counts. */
import type { RiskLevel, RmfFunction, Threat, ThreatModel } from "../types.js";

export const LEVELS: readonly RiskLevel[] = ["critical", "high", "medium", "low"];
export const RMF_FUNCTIONS: readonly RmfFunction[] = ["Govern", "Map", "Measure", "Manage"];

/** Highest risk first; ties by likelihood, then id, so every report lists threats in the same order. */
export function byRisk(threats: readonly Threat[]): Threat[] {
  return [...threats].sort((a, b) => b.risk - a.risk || b.likelihood - a.likelihood || a.id.localeCompare(b.id));
}

export function targetLabel(t: Threat): string {
  if (t.target.flow) return `${t.target.flow.from} → ${t.target.flow.to}`;
  return t.target.component ?? "system";
}

export function levelCounts(model: ThreatModel): Record<RiskLevel, number> {
  const counts: Record<RiskLevel, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const t of model.threats) counts[t.level]++;
  return counts;
}

export const STATUS_TEXT: Record<Threat["status"], string> = {
  untested: "untested",
  "tested-mitigated": "tested: mitigated",
  "tested-vulnerable": "tested: vulnerable",
};

/** One line per framework id the threat cites, for tables. */
export function mappingIds(t: Threat): string[] {
  return [...t.atlas, ...t.owasp_ml, ...t.owasp_llm];
}

/** What each RMF function means for the register, in the words of this report. */
export const RMF_PURPOSE: Record<RmfFunction, string> = {
  Govern: "ownership, policy and accountability: who decides, and what is allowed",
  Map: "context: where the system is exposed and what an adversary can reach",
  Measure: "testing: what Aegis can measure and what the evidence shows",
  Manage: "treatment: the mitigations to put in place and to monitor",
};

/** A title on one line, for headings and list items (a line break would end them). */
export const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim();
