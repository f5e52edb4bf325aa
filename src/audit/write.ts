/** Writes report.json, report.html and report.md into a folder, each atomically. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../fs.js";
import type { AuditResult } from "./suite.js";
import { renderHtml } from "./html.js";
import { renderMarkdown } from "./markdown.js";

export function writeAuditReports(dir: string, result: AuditResult): { json: string; html: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { json: join(dir, "report.json"), html: join(dir, "report.html"), markdown: join(dir, "report.md") };
  writeFileAtomic(paths.json, `${JSON.stringify(result.report, null, 2)}\n`);
  writeFileAtomic(paths.html, renderHtml(result.report, result.images));
  writeFileAtomic(paths.markdown, renderMarkdown(result.report));
  return paths;
}
