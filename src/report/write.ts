/**
 * `--format json,md,html,sarif,junit`: a report folder holds one file per format, each
 * written atomically (a crash or Ctrl-C never leaves half a report), named report.json,
 * report.md, report.html, report.sarif and report.junit.xml.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";

export type ReportFormat = "json" | "md" | "html" | "sarif" | "junit";

export const REPORT_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif", "junit"];

export const REPORT_FILES: Record<ReportFormat, string> = {
  json: "report.json",
  md: "report.md",
  html: "report.html",
  sarif: "report.sarif",
  junit: "report.junit.xml",
};

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
): Partial<Record<ReportFormat, string>> {
  mkdirSync(dir, { recursive: true });
  const written: Partial<Record<ReportFormat, string>> = {};
  for (const format of formats) {
    const renderer = render[format];
    if (!renderer) throw new AegisError("BAD_OPTION", `this command does not write ${format} reports`);
    const path = join(dir, REPORT_FILES[format]);
    writeFileAtomic(path, renderer());
    written[format] = path;
  }
  return written;
}
