/** The threat model as Markdown: summary, risk register, per-threat details and the NIST AI RMF view. */
import { cell } from "../../report/markdown.js";
import { MITIGATED_RATIO } from "../evidence.js";
import type { Threat, ThreatModel } from "../types.js";
import { byRisk, LEVELS, levelCounts, oneLine, RMF_FUNCTIONS, RMF_PURPOSE, STATUS_TEXT, targetLabel } from "./shared.js";

const list = (ids: string[]) => (ids.length > 0 ? ids.map((i) => `\`${i}\``).join(", ") : "—");

export function renderMarkdown(model: ThreatModel): string {
  const threats = byRisk(model.threats);
  const s = model.system;
  const counts = levelCounts(model);
  const tested = threats.filter((t) => t.status !== "untested").length;
  const out: string[] = [
    `# Threat model: ${s.name}`,
    "",
    [
      s.owner ? `Owner: ${s.owner}` : "",
      `Deployment: ${s.deployment}`,
      s.regulated_data?.length ? `Regulated data: ${s.regulated_data.join(", ")}` : "",
      `Generated: ${model.generated}`,
    ]
      .filter(Boolean)
      .join(" · "),
    "",
    s.description ?? "",
    "",
    "## Summary",
    "",
    `${threats.length} threats across ${model.description.components.length} components and ${model.description.flows.length} flows: ${LEVELS.map((l) => `${counts[l]} ${l}`).join(", ")}. ${tested} tested by Aegis reports (${threats.filter((t) => t.status === "tested-vulnerable").length} vulnerable).`,
    "",
    `Risk is likelihood × impact, each scored 1–5 from the description (exposure, output granularity, access level, data sensitivity, controls present); the rationale under each threat says which factors moved the score. A threat is tested-mitigated when every Aegis report attached to it passes (evasion: the worst robust accuracy at every audited ε is at least ${MITIGATED_RATIO * 100}% of clean accuracy), tested-vulnerable when one fails, and untested without evidence.`,
    "",
  ];
  if (model.warnings.length > 0) out.push("## Warnings", "", ...model.warnings.map((w) => `- ${w}`), "");
  out.push(
    "## Risk register",
    "",
    "| # | Threat | Target | L | I | Risk | Level | Status | ATLAS | OWASP |",
    "| ---: | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |",
    ...threats.map(
      (t, i) =>
        `| ${i + 1} | ${cell(t.title)} (\`${cell(t.id)}\`) | ${cell(targetLabel(t))} | ${t.likelihood} | ${t.impact} | ${t.risk} | ${t.level} | ${STATUS_TEXT[t.status]} | ${cell(t.atlas.join(", ") || "—")} | ${cell([...t.owasp_ml, ...t.owasp_llm].join(", ") || "—")} |`,
    ),
    "",
    "## Threats",
    "",
  );
  for (const t of threats) out.push(...threatDetails(t));
  out.push("## By NIST AI RMF function", "");
  for (const f of RMF_FUNCTIONS) {
    const inF = threats.filter((t) => t.rmf.includes(f));
    out.push(`### ${f}`, "", `_${RMF_PURPOSE[f]}_`, "");
    out.push(...(inF.length > 0 ? inF.map((t) => `- **${t.level}** ${oneLine(t.title)} (\`${t.id}\`) — ${STATUS_TEXT[t.status]}`) : ["- none"]), "");
  }
  return `${out.join("\n").replace(/\n{3,}/g, "\n\n")}\n`;
}

function threatDetails(t: Threat): string[] {
  const out = [
    `### ${oneLine(t.title)} — \`${t.id}\``,
    "",
    t.description,
    "",
    `- Target: ${targetLabel(t)}`,
    `- Risk: **${t.risk}** (${t.level}) = likelihood ${t.likelihood} × impact ${t.impact}`,
    `- STRIDE: ${t.stride.join(", ") || "—"}`,
    `- MITRE ATLAS: ${list(t.atlas)}`,
    `- OWASP ML Top 10: ${list(t.owasp_ml)}`,
    `- OWASP LLM Top 10 (2025): ${list(t.owasp_llm)}`,
    `- NIST AI 100-2 class: ${t.nist_class ?? "—"}`,
    `- NIST AI RMF: ${t.rmf.join(", ") || "—"}`,
    `- Status: ${STATUS_TEXT[t.status]}`,
    "",
  ];
  if (t.rationale.length > 0) out.push("Why this score:", "", ...t.rationale.map((r) => `- ${r}`), "");
  if (t.mitigations.length > 0) {
    out.push(
      "| Mitigation | ATLAS | In place | Aegis |",
      "| --- | --- | --- | --- |",
      ...t.mitigations.map((m) => `| ${cell(m.name)} | ${m.atlas ?? "—"} | ${t.mitigated_by.includes(m.control) ? "yes" : "no"} | \`${cell(m.aegis)}\` |`),
      "",
    );
  }
  if (t.evidence.length > 0) {
    out.push("Evidence:", "", ...t.evidence.map((e) => `- ${e.mitigated ? "✅ mitigated" : "❌ vulnerable"} — ${e.summary} (${e.kind}: \`${e.source}\`)`), "");
  }
  return out;
}
