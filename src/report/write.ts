/**
 * `--format json,md,html,sarif,junit`: a report folder holds one file per format, each
 * written atomically (a crash or Ctrl-C never leaves half a report), named report.json,
 * report.md, report.html, report.sarif and report.junit.xml unless the capability names
 * them (a threat model writes threat-model.* and risk-register.csv).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";

export type ReportFormat = "json" | "md" | "html" | "sarif" | "junit" | "csv";

/** The formats every findings report offers; csv only where a report is a table (the risk register). */
export const REPORT_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif", "junit"];

const EXTENSIONS: Record<ReportFormat, string> = { json: "json", md: "md", html: "html", sarif: "sarif", junit: "junit.xml", csv: "csv" };

/** The file a format is written to: `report.json`, or `<base>.json` and any file named for one format. */
export function reportFile(format: ReportFormat, base = "report", names: Partial<Record<ReportFormat, string>> = {}): string {
  return names[format] ?? `${base}.${EXTENSIONS[format]}`;
}

/** A comma-separated --format value, checked against the formats the command writes. */
export function parseFormats(value: string, allowed: readonly ReportFormat[] = REPORT_FORMATS): ReportFormat[] {
  const names = value
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .map((s) => (s === "markdown" ? "md" : s === "xml" ? "junit" : s));
  const bad = names.find((n) => !allowed.includes(n as ReportFormat));
  if (bad !== undefined || names.length === 0)
    throw new AegisError("BAD_OPTION", `--format takes a comma-separated list of ${allowed.join(", ")}${bad === undefined ? "" : `, not "${bad}"`}`);
  return [...new Set(names as ReportFormat[])];
}

/** Writes the chosen formats into `dir`; only the formats asked for are rendered. Returns the paths written. */
export function writeReports(
  dir: string,
  formats: readonly ReportFormat[],
  render: Partial<Record<ReportFormat, () => string>>,
  files: { base?: string; names?: Partial<Record<ReportFormat, string>> } = {},
): Partial<Record<ReportFormat, string>> {
  mkdirSync(dir, { recursive: true });
  const written: Partial<Record<ReportFormat, string>> = {};
  for (const format of formats) {
    const renderer = render[format];
    if (!renderer) throw new AegisError("BAD_OPTION", `this command does not write ${format} reports`);
    const path = join(dir, reportFile(format, files.base, files.names));
    writeFileAtomic(path, renderer());
    written[format] = path;
  }
  return written;
}
