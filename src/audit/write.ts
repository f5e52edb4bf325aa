/** Writes an audit's reports into a folder in the formats asked for (default json, md, html), each atomically. */
import { renderSarif } from "../report/sarif.js";
import { type ReportFormat, writeReports } from "../report/write.js";
import { AEGIS_VERSION } from "../version.js";
import { renderHtml } from "./html.js";
import { renderAuditJunit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import type { AuditResult } from "./suite.js";

export const AUDIT_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif", "junit"];
export const DEFAULT_AUDIT_FORMATS: readonly ReportFormat[] = ["json", "md", "html"];

export function writeAuditReports(dir: string, result: AuditResult, formats: readonly ReportFormat[] = DEFAULT_AUDIT_FORMATS) {
  const { report } = result;
  return writeReports(dir, formats, {
    json: () => `${JSON.stringify(report, null, 2)}\n`,
    md: () => renderMarkdown(report),
    html: () => renderHtml(report, result.images),
    sarif: () =>
      renderSarif(
        report.findings,
        { name: "aegis-audit", fullName: "Aegis robustness audit", version: AEGIS_VERSION },
        {
          properties: { model: report.model.path, data: report.data.name, clean_accuracy: report.clean_accuracy, policy_passed: report.policy?.passed ?? null },
        },
      ),
    junit: () => renderAuditJunit(report),
  });
}
