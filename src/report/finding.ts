/**
 * The one finding every capability reports: an audit's attack that broke the model, a
 * scanned file's dangerous pickle global, a threat of the threat model, a red-team probe
 * that got through. Each renderer (JSON, Markdown, HTML, SARIF, JUnit) reads only this, so
 * a new capability gets every report format by producing findings.
 */

/** One scale for everything, most severe first. */
export type Severity = "critical" | "high" | "medium" | "low" | "info";

export const SEVERITIES: readonly Severity[] = ["critical", "high", "medium", "low", "info"];

/** The capability that produced a finding; a rule id is unique within its capability. */
export type Capability =
  | "audit"
  | "scan"
  | "threat"
  | "redteam"
  | "llm-eval"
  | "privacy"
  | "poisoning"
  | "inference"
  | "extraction"
  | "drift"
  | "federated"
  | "ownership";

export type Framework = "MITRE ATLAS" | "OWASP ML Top 10" | "OWASP LLM Top 10" | "NIST AI 100-2";

/** An entry of a public taxonomy a risk register files the finding under. */
export interface Reference {
  framework: Framework;
  id: string;
  name: string;
  url: string;
}

/** Where the finding is: as much of it as applies. */
export interface Location {
  /** A file on disk (the model, the system.yaml, the scanned file). */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
  /** Archive members leading to the bytes, outermost first. */
  members?: string[];
  /** Byte offset inside the innermost member (or the file). */
  offset?: number;
  /** What sits there: a pickle global, an ONNX op, a JSON key, a component of a system. */
  symbol?: string;
  /** Row of the data the finding is about. */
  sample?: number;
  /** A gateway route or an HTTP endpoint. */
  route?: string;
  /** The part of the report the evidence comes from: an audit's attack id, a red-team probe. */
  section?: string;
}

export interface Finding {
  /** Stable id a policy or a suppression can name, e.g. AEGIS-EVASION-PGD, PICKLE-DANGEROUS-GLOBAL. */
  rule: string;
  capability: Capability;
  severity: Severity;
  /** One line. */
  title: string;
  /** What was found and why it matters, in sentences. */
  detail: string;
  /** The numbers behind it, by name (robust_accuracy, success_rate, risk, asr…). */
  evidence: Record<string, number>;
  location: Location;
  references: Reference[];
  /** What to do, naming the Aegis command or setting that does it (`backquoted`). */
  recommendation: string;
}

/** 0 for critical … 4 for info. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** True when `s` is `threshold` or more severe. */
export function atLeast(s: Severity, threshold: Severity): boolean {
  return severityRank(s) <= severityRank(threshold);
}

/** Most severe first; the order among equals is kept. */
export function bySeverity(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity));
}

/** The most severe of the findings, or null when there are none. */
export function worstSeverity(findings: readonly Finding[]): Severity | null {
  return findings.reduce<Severity | null>((w, f) => (w === null || severityRank(f.severity) < severityRank(w) ? f.severity : w), null);
}

/** "2 high, 1 low", or "none". */
export function severitySummary(findings: readonly Finding[]): string {
  const parts = SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  return parts.join(", ") || "none";
}

/** "model.zip:archive/data.pkl@812", "system.yaml:14", "model.onnx#pgd": the location in one token, for text output. */
export function locationText(l: Location): string {
  let text = l.file ?? l.route ?? "";
  if (l.members?.length) text += `:${l.members.join(":")}`;
  if (l.line !== undefined) text += `:${l.line}`;
  if (l.offset !== undefined) text += `@${l.offset}`;
  if (l.section !== undefined) text += `#${l.section}`;
  if (l.sample !== undefined) text += `[sample ${l.sample}]`;
  return text;
}
