/**
 * The threat model as SARIF 2.1.0, so a code-scanning UI lists threats beside code
 * findings: one rule per threat rule, one result per threat, located at the line of
 * system.yaml that declares its component or flow, and logically at the component.
 */
import type { RiskLevel, Threat, ThreatModel } from "../types.js";
import { byRisk, targetLabel } from "./shared.js";

const SARIF_LEVEL: Record<RiskLevel, "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note" };

export interface SarifOptions {
  /** The system.yaml path as the code-scanning UI should show it (relative to the repository root). */
  systemFile?: string;
  version?: string;
}

export function renderSarif(model: ThreatModel, options: SarifOptions = {}): string {
  const threats = byRisk(model.threats);
  const ruleIds = [...new Set(threats.map((t) => t.rule))].sort();
  const rules = ruleIds.map((id) => {
    const first = threats.find((t) => t.rule === id)!;
    return {
      id,
      name: id.replace(/[^A-Za-z0-9]+/g, " ").trim(),
      shortDescription: { text: first.title },
      fullDescription: { text: first.description },
      help: { text: first.mitigations.map((m) => `${m.name}: ${m.aegis}`).join("\n") || "No mitigation is catalogued for this rule." },
      properties: { tags: ["security", "threat-model", first.kind, ...first.atlas, ...first.owasp_ml, ...first.owasp_llm] },
    };
  });
  const results = threats.map((t) => ({
    ruleId: t.rule,
    ruleIndex: ruleIds.indexOf(t.rule),
    level: SARIF_LEVEL[t.level],
    message: { text: `${t.title} (${targetLabel(t)}): risk ${t.risk}/25, ${t.level}, ${t.status}. ${t.description}` },
    locations: [location(model, t, options.systemFile)],
    partialFingerprints: { threatId: t.id },
    properties: {
      threatId: t.id,
      risk: t.risk,
      likelihood: t.likelihood,
      impact: t.impact,
      level: t.level,
      status: t.status,
      // GitHub code scanning ranks results by this 0–10 score.
      "security-severity": ((t.risk / 25) * 10).toFixed(1),
      stride: t.stride,
      atlas: t.atlas,
      owasp_ml: t.owasp_ml,
      owasp_llm: t.owasp_llm,
      nist_class: t.nist_class ?? null,
      rmf: t.rmf,
      mitigated_by: t.mitigated_by,
    },
  }));
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: { name: "aegis-threat", fullName: "Aegis threat model", version: options.version ?? "0.1.0", informationUri: "https://aegis-ml.dev", rules },
        },
        results,
        properties: { system: model.system.name, generated: model.generated },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function location(model: ThreatModel, t: Threat, systemFile: string | undefined) {
  const flow = t.target.flow;
  const line = flow
    ? model.description.flows.find((f) => f.from === flow.from && f.to === flow.to)?.line
    : model.description.components.find((c) => c.id === t.target.component)?.line;
  const logical = [{ name: targetLabel(t), kind: flow ? "flow" : "component" }];
  if (!systemFile) return { logicalLocations: logical };
  return {
    physicalLocation: { artifactLocation: { uri: systemFile }, ...(line ? { region: { startLine: line } } : {}) },
    logicalLocations: logical,
  };
}
