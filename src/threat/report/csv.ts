/** The risk register as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break). */
import type { ThreatModel } from "../types.js";
import { byRisk, targetLabel } from "./shared.js";

export const CSV_HEADER = [
  "id",
  "title",
  "target",
  "kind",
  "stride",
  "atlas",
  "owasp_ml",
  "owasp_llm",
  "nist_class",
  "likelihood",
  "impact",
  "risk",
  "level",
  "status",
  "mitigated_by",
  "recommended_mitigations",
] as const;

export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(model: ThreatModel): string {
  const rows = byRisk(model.threats).map((t) => [
    t.id,
    t.title,
    targetLabel(t),
    t.kind,
    t.stride.join("; "),
    t.atlas.join("; "),
    t.owasp_ml.join("; "),
    t.owasp_llm.join("; "),
    t.nist_class ?? "",
    t.likelihood,
    t.impact,
    t.risk,
    t.level,
    t.status,
    t.mitigated_by.join("; "),
    t.mitigations.map((m) => m.name).join("; "),
  ]);
  return [CSV_HEADER as readonly (string | number)[], ...rows].map((r) => `${r.map(csvField).join(",")}\r\n`).join("");
}
