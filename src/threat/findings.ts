/**
 * The threat model as findings (report/finding.ts), for the renderers every capability
 * shares: SARIF (one result per threat at the line of system.yaml that declares its
 * component or flow) and JUnit (one case per threat). A threat case fails when evidence
 * shows the system vulnerable, or when a critical or high risk has no control in place
 * and no evidence either way: the register's open items a pipeline should not ship with.
 */
import type { Finding } from "../report/finding.js";
import { type JunitCase, renderJunit } from "../report/junit.js";
import { references } from "../report/taxonomy.js";
import { byRisk, oneLine, STATUS_TEXT, targetLabel } from "./report/shared.js";
import type { Threat, ThreatModel } from "./types.js";

/** One finding per threat, highest risk first; `systemFile` is system.yaml as the finding's location. */
export function threatFindings(model: ThreatModel, systemFile?: string): Finding[] {
  return byRisk(model.threats).map((t) => ({
    rule: t.rule,
    capability: "threat",
    severity: t.level,
    title: `${oneLine(t.title)} (${targetLabel(t)})`,
    detail: `${t.description} Risk ${t.risk}/25 (likelihood ${t.likelihood} × impact ${t.impact}), ${STATUS_TEXT[t.status]}.${t.evidence.length > 0 ? ` Evidence: ${t.evidence.map((e) => e.summary).join("; ")}.` : ""}`,
    evidence: { risk: t.risk, likelihood: t.likelihood, impact: t.impact },
    location: { ...(systemFile ? { file: systemFile } : {}), ...(lineOf(model, t) ? { line: lineOf(model, t) } : {}), symbol: targetLabel(t) },
    references: references([...t.atlas, ...t.owasp_ml, ...t.owasp_llm, ...(t.nist_class ? [t.nist_class] : [])]),
    recommendation:
      t.mitigations.length > 0
        ? t.mitigations.map((m) => `${m.name}${m.atlas ? ` (${m.atlas})` : ""}: \`${m.aegis}\``).join("; ")
        : "No mitigation is catalogued for this threat; decide and record its treatment in the risk register.",
  }));
}

/** The threat model as JUnit: a case per threat, failing where the register has an open serious risk or a tested weakness. */
export function renderThreatJunit(model: ThreatModel): string {
  const cases: JunitCase[] = byRisk(model.threats).map((t) => {
    const classname = `aegis.threat.${t.rule}`;
    const name = `${t.id}: ${oneLine(t.title)}`;
    if (t.status === "tested-vulnerable")
      return { name, classname, failure: { message: `tested vulnerable: ${t.evidence.map((e) => e.summary).join("; ")}`, detail: t.description } };
    if (t.status === "untested" && (t.level === "critical" || t.level === "high") && t.mitigated_by.length === 0)
      return { name, classname, failure: { message: `${t.level} risk ${t.risk}/25 with no control in place and no evidence`, detail: t.description } };
    return { name, classname };
  });
  return renderJunit(`aegis threat ${model.system.name}`, [{ name: `threat model of ${model.system.name}`, cases, timestamp: model.generated }]);
}

function lineOf(model: ThreatModel, t: Threat): number | undefined {
  const flow = t.target.flow;
  return flow
    ? model.description.flows.find((f) => f.from === flow.from && f.to === flow.to)?.line
    : model.description.components.find((c) => c.id === t.target.component)?.line;
}
