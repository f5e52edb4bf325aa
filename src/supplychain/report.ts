/**
 * Scan reports: text for the terminal (one line per finding, then a summary), and the
 * shared report formats (report/): JSON (the ScanReport), Markdown, HTML, SARIF 2.1.0 and
 * JUnit (one case per scanned file or member, failing at --fail-on); and the optional scan
 * policy.
 */
import { AegisError } from "../errors.js";
import { atLeast, type Finding, locationText, SEVERITIES, type Severity, severitySummary, worstSeverity } from "../report/finding.js";
import { cards, esc, findingsSection, page } from "../report/html.js";
import { renderJunit } from "../report/junit.js";
import { findingsMarkdown, table } from "../report/markdown.js";
import { renderSarif } from "../report/sarif.js";
import type { ReportFormat } from "../report/write.js";
import { readYamlFile } from "../report/yaml.js";
import type { FileReport, ScanReport } from "./types.js";

export const SCAN_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif", "junit"];

const findingsOf = (report: ScanReport): Finding[] => report.files.flatMap((r) => r.findings);
const itemName = (r: FileReport) => (r.members?.length ? `${r.file}:${r.members.join(":")}` : r.file);

/** `SEVERITY RULE file[:member…][@offset] message`, one per finding (severities in capitals, to stand out in a log), then a summary line. */
export function formatText(report: ScanReport): string {
  const findings = findingsOf(report);
  const lines = findings.map((f) => `${f.severity.toUpperCase().padEnd(8)} ${f.rule} ${locationText(f.location)} ${f.detail}`);
  const files = new Set(report.files.map((r) => r.file)).size;
  const counts = severitySummary(findings);
  lines.push(
    `scanned ${files} file${files === 1 ? "" : "s"} (${report.files.length} items) in ${report.seconds.toFixed(2)} s: ${counts === "none" ? "no findings" : counts.toUpperCase()}; verdict ${report.verdict?.toUpperCase() ?? "clean"}`,
  );
  return `${lines.join("\n")}\n`;
}

export function renderScanSarif(report: ScanReport): string {
  return renderSarif(findingsOf(report), { name: "aegis-scan", fullName: "Aegis model-file scanner", version: report.aegis });
}

/** One JUnit case per scanned file or archive member; a case fails when one of its findings is at or above `failOn`. */
export function renderScanJunit(report: ScanReport, failOn: Severity): string {
  const cases = report.files.map((r) => {
    const failing = r.findings.filter((f) => atLeast(f.severity, failOn));
    return {
      name: itemName(r),
      classname: `aegis.scan.${r.format}`,
      ...(failing.length > 0
        ? { failure: { message: failing.map((f) => `${f.severity} ${f.rule}`).join(", "), detail: failing.map((f) => `${f.rule}: ${f.detail}`).join("\n") } }
        : {}),
    };
  });
  return renderJunit("aegis scan", [{ name: `aegis scan (fail on ${failOn})`, cases }]);
}

export function renderScanMarkdown(report: ScanReport): string {
  const findings = findingsOf(report);
  return [
    "# Aegis model-file scan",
    "",
    `- verdict: **${report.verdict ?? "clean"}** (${severitySummary(findings)})`,
    `- ${report.files.length} items scanned in ${report.seconds.toFixed(2)} s; nothing was loaded or run`,
    "",
    ...findingsMarkdown(findings, "No findings."),
    "## Scanned",
    "",
    ...table(
      ["file", "format", "bytes", "findings"],
      report.files.map((r) => [itemName(r), r.format, r.bytes, r.findings.length]),
      [2, 3],
    ),
    "",
  ].join("\n");
}

export function renderScanHtml(report: ScanReport): string {
  const findings = findingsOf(report);
  const rows = report.files
    .map(
      (r) =>
        `<tr><td><code>${esc(itemName(r))}</code></td><td>${esc(r.format)}</td><td class="num">${r.bytes}</td><td class="num">${r.findings.length}</td></tr>`,
    )
    .join("");
  return page("Aegis scan", [
    `<header><div class="eyebrow">Aegis model-file scan</div><h1>Verdict: ${esc(report.verdict ?? "clean")}</h1><div class="muted">nothing was loaded or run · ${esc(new Date().toUTCString())}</div></header>`,
    cards([
      ["Items scanned", String(report.files.length), `${new Set(report.files.map((r) => r.file)).size} files on disk`],
      ["Findings", String(findings.length), severitySummary(findings)],
      ["Duration", `${report.seconds.toFixed(2)} s`, "no file was loaded"],
    ]),
    findingsSection(findings, "No findings: no known way for these files to run code on load, and their headers read the same way as their loaders'."),
    `<section><h2>Scanned</h2><table><thead><tr><th>file</th><th>format</th><th class="num">bytes</th><th class="num">findings</th></tr></thead><tbody>${rows}</tbody></table></section>`,
  ]);
}

/** True when some finding is at or above the threshold (the CLI then exits 11). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  return report.verdict !== null && atLeast(report.verdict, threshold);
}

/** `--policy FILE`: which findings count, for teams that accept some formats on purpose. */
export interface ScanPolicy {
  failOn?: Severity;
  /** Rules dropped from the report. */
  ignore: string[];
  /** Rule → severity overrides. */
  severity: Record<string, Severity>;
}

export function loadScanPolicy(path: string): ScanPolicy {
  const bad = (what: string) => new AegisError("BAD_OPTION", `scan policy ${path}: ${what}`);
  // JSON is YAML, so one reader takes both.
  const raw = readYamlFile(path).value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw bad("must be a mapping with failOn, ignore and severity keys");
  const { failOn, ignore = [], severity = {}, ...rest } = raw as Record<string, unknown>;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey) throw bad(`unknown key "${unknownKey}" (use failOn, ignore, severity)`);
  const sev = (v: unknown, key: string): Severity => {
    if (typeof v !== "string" || !(SEVERITIES as readonly string[]).includes(v.toLowerCase()))
      throw bad(`${key} must be one of ${SEVERITIES.join(", ")}, not ${JSON.stringify(v)}`);
    return v.toLowerCase() as Severity;
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
  return { ...report, files, verdict: worstSeverity(files.flatMap((f) => f.findings)) };
}
