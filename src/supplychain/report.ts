/**
 * Scan reports as text (one line per finding, then a summary), JSON (the ScanReport
 * itself) and SARIF 2.1.0 for code-scanning dashboards; and the optional scan policy.
 */
import { AegisError } from "../errors.js";
import { readYamlFile } from "../report/yaml.js";
import { type ScanFinding, type ScanReport, SEVERITY_ORDER, type Severity } from "./types.js";

export function where(f: ScanFinding): string {
  const l = f.location;
  return `${l.file}${l.members?.length ? `:${l.members.join(":")}` : ""}${l.offset !== undefined ? `@${l.offset}` : ""}`;
}

export function formatText(report: ScanReport): string {
  const findings = report.files.flatMap((r) => r.findings);
  const lines = findings.map((f) => `${f.severity.padEnd(8)} ${f.rule} ${where(f)} ${f.message}`);
  const counts = SEVERITY_ORDER.slice()
    .reverse()
    .map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const files = new Set(report.files.map((r) => r.file)).size;
  lines.push(
    `scanned ${files} file${files === 1 ? "" : "s"} (${report.files.length} items) in ${report.seconds.toFixed(2)} s: ${counts.length ? counts.join(", ") : "no findings"}; verdict ${report.verdict ?? "clean"}`,
  );
  return `${lines.join("\n")}\n`;
}

const LEVEL: Record<Severity, "error" | "warning" | "note"> = { CRITICAL: "error", HIGH: "error", MEDIUM: "warning", LOW: "note", INFO: "note" };

export function formatSarif(report: ScanReport): object {
  const findings = report.files.flatMap((r) => r.findings);
  const rules = [...new Set(findings.map((f) => f.rule))].sort();
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "aegis-scan",
            version: report.aegis,
            informationUri: "https://github.com/aegis-ml/aegis",
            rules: rules.map((id) => ({ id, shortDescription: { text: id.toLowerCase().replaceAll("-", " ") } })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: rules.indexOf(f.rule),
          level: LEVEL[f.severity],
          message: { text: f.location.members?.length ? `${f.message} (in ${f.location.members.join(" → ")})` : f.message },
          properties: { severity: f.severity, ...(f.location.detail ? { detail: f.location.detail } : {}) },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.location.file.split("/").map(encodeURIComponent).join("/") },
                // The byte offset is inside the innermost member; SARIF regions refer to the file, so only top-level offsets become regions.
                ...(f.location.offset !== undefined && !f.location.members?.length ? { region: { byteOffset: f.location.offset } } : {}),
              },
            },
          ],
        })),
      },
    ],
  };
}

/** True when some finding is at or above the threshold (the CLI then exits 11). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  return report.verdict !== null && SEVERITY_ORDER.indexOf(report.verdict) >= SEVERITY_ORDER.indexOf(threshold);
}

/** `--policy FILE`: which findings count, for teams that accept some formats on purpose. */
export interface ScanPolicy {
  failOn?: Severity;
  /** Rules dropped from the report. */
  ignore: string[];
  /** Rule → severity overrides. */
  severity: Record<string, Severity>;
}

const SEVERITIES = SEVERITY_ORDER.map((s) => s.toLowerCase());

export function loadScanPolicy(path: string): ScanPolicy {
  const bad = (what: string) => new AegisError("BAD_OPTION", `scan policy ${path}: ${what}`);
  // JSON is YAML, so one reader takes both.
  const raw = readYamlFile(path).value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw bad("must be a mapping with failOn, ignore and severity keys");
  const { failOn, ignore = [], severity = {}, ...rest } = raw as Record<string, unknown>;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey) throw bad(`unknown key "${unknownKey}" (use failOn, ignore, severity)`);
  const sev = (v: unknown, key: string): Severity => {
    if (typeof v !== "string" || !SEVERITIES.includes(v.toLowerCase())) throw bad(`${key} must be one of ${SEVERITIES.join(", ")}, not ${JSON.stringify(v)}`);
    return v.toUpperCase() as Severity;
  };
  if (!Array.isArray(ignore) || !ignore.every((r) => typeof r === "string")) throw bad("ignore must be a list of rule ids");
  if (typeof severity !== "object" || severity === null || Array.isArray(severity)) throw bad("severity must map rule ids to severities");
  return {
    ...(failOn === undefined ? {} : { failOn: sev(failOn, "failOn") }),
    ignore,
    severity: Object.fromEntries(Object.entries(severity).map(([rule, s]) => [rule, sev(s, `severity.${rule}`)])),
  };
}

export function applyScanPolicy(report: ScanReport, policy: ScanPolicy): ScanReport {
  const files = report.files.map((f) => ({
    ...f,
    findings: f.findings.filter((x) => !policy.ignore.includes(x.rule)).map((x) => (policy.severity[x.rule] ? { ...x, severity: policy.severity[x.rule] } : x)),
  }));
  const findings = files.flatMap((f) => f.findings);
  const worst = findings.reduce((m, x) => Math.max(m, SEVERITY_ORDER.indexOf(x.severity)), -1);
  return { ...report, files, verdict: worst < 0 ? null : SEVERITY_ORDER[worst] };
}
