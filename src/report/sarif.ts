/**
 * Findings as SARIF 2.1.0 (OASIS), the format code-scanning UIs take: one rule per rule id,
 * one result per finding, each with a level and a physical location (the model file, the
 * line of system.yaml, the scanned file; an endpoint's URL when there is no file) and,
 * where they apply, logical locations (archive members, report section, route). The
 * "security-severity" property is the 0–10 score GitHub ranks security results by.
 */
import { createHash } from "node:crypto";
import { relative, sep } from "node:path";
import { type Finding, type Severity, severityRank } from "./finding.js";

const LEVEL: Record<Severity, "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note", info: "note" };
/** GitHub's bands: ≥ 9 critical, 7–8.9 high, 4–6.9 medium, < 4 low. */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: "9.5", high: "8.0", medium: "5.5", low: "2.0", info: "0.0" };

export interface SarifTool {
  /** Short name, e.g. "aegis-audit". */
  name: string;
  fullName: string;
  version: string;
}

export interface SarifOptions {
  /** File paths are written relative to this folder (the repository root, by default the working directory). */
  baseDir?: string;
  /** Facts about the whole run (model, data, policy verdict…). */
  properties?: Record<string, unknown>;
}

export function renderSarif(findings: readonly Finding[], tool: SarifTool, options: SarifOptions = {}): string {
  const ruleIds = [...new Set(findings.map((f) => f.rule))].sort();
  const rules = ruleIds.map((id) => {
    const these = findings.filter((f) => f.rule === id);
    const first = these[0];
    const worst = these.reduce((w, f) => (severityRank(f.severity) < severityRank(w) ? f.severity : w), first.severity);
    return {
      id,
      name: id.toLowerCase().replace(/(^|[^a-z0-9]+)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase()),
      shortDescription: { text: first.title },
      fullDescription: { text: first.detail },
      help: { text: first.recommendation, markdown: first.recommendation },
      defaultConfiguration: { level: LEVEL[worst] },
      properties: {
        tags: [...new Set(["security", first.capability, ...first.references.map((r) => r.id)])],
        "security-severity": SECURITY_SEVERITY[worst],
      },
    };
  });
  const base = options.baseDir ?? process.cwd();
  const results = findings.map((f) => ({
    ruleId: f.rule,
    ruleIndex: ruleIds.indexOf(f.rule),
    level: LEVEL[f.severity],
    message: { text: `${f.title}. ${f.detail}` },
    locations: [location(f, base)],
    partialFingerprints: { "aegisFinding/v1": fingerprint(f) },
    properties: {
      severity: f.severity,
      "security-severity": SECURITY_SEVERITY[f.severity],
      evidence: f.evidence,
      references: f.references.map((r) => `${r.id} ${r.name}`),
    },
  }));
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: tool.name, fullName: tool.fullName, version: tool.version, informationUri: "https://github.com/aegis-ml/aegis", rules } },
        results,
        ...(options.properties ? { properties: options.properties } : {}),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function location(f: Finding, base: string) {
  const l = f.location;
  const logical = [
    ...(l.members ?? []).map((m) => ({ name: m, kind: "member" })),
    ...(l.section !== undefined ? [{ name: l.section, kind: "section" }] : []),
    ...(l.symbol !== undefined ? [{ name: l.symbol, kind: "symbol" }] : []),
    ...(l.route !== undefined && l.file !== undefined ? [{ name: l.route, kind: "route" }] : []),
  ];
  const uri = l.file !== undefined ? fileUri(l.file, base) : l.route;
  // A byte offset inside an archive member is not an offset in the file, so only top-level offsets become regions.
  const region = l.line !== undefined ? { startLine: l.line } : l.offset !== undefined && !l.members?.length ? { byteOffset: l.offset } : undefined;
  return {
    ...(uri !== undefined ? { physicalLocation: { artifactLocation: { uri }, ...(region ? { region } : {}) } } : {}),
    ...(logical.length > 0 ? { logicalLocations: logical } : {}),
  };
}

/** A relative path with forward slashes and each segment URI-encoded, as code-scanning UIs match files. */
function fileUri(file: string, base: string): string {
  const rel = relative(base, file);
  const path = rel.startsWith("..") || rel === "" ? file : rel;
  return path.split(sep).join("/").split("/").map(encodeURIComponent).join("/");
}

/** Stable across runs, so a code-scanning UI tracks one finding over time rather than opening a new alert each run. */
function fingerprint(f: Finding): string {
  const l = f.location;
  return createHash("sha256")
    .update(JSON.stringify([f.rule, l.file ?? l.route ?? "", l.members ?? [], l.section ?? "", l.symbol ?? "", l.line ?? "", l.offset ?? ""]))
    .digest("hex")
    .slice(0, 32);
}
