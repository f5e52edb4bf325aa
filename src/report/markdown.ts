/** Markdown building blocks every report uses (pull requests, wikis, CI job summaries), and the findings section. */
import { type Finding, locationText } from "./finding.js";

/** A table cell: no bare "|" or line breaks. */
export const cell = (v: unknown): string => String(v).replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** A GitHub-flavoured table; `numeric` columns are right-aligned. */
export function table(head: readonly string[], rows: readonly (readonly unknown[])[], numeric: readonly number[] = []): string[] {
  return [
    `| ${head.map(cell).join(" | ")} |`,
    `| ${head.map((_, i) => (numeric.includes(i) ? "---:" : "---")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

/** "## Findings" with one entry per finding: severity, title, location, detail, references, recommendation. */
export function findingsMarkdown(findings: readonly Finding[], empty: string): string[] {
  const out = ["## Findings", ""];
  if (findings.length === 0) return [...out, empty, ""];
  for (const f of findings) {
    const where = locationText(f.location);
    out.push(
      `### [${f.severity.toUpperCase()}] ${f.title}`,
      "",
      `\`${f.rule}\`${where ? ` at \`${where}\`` : ""}`,
      "",
      f.detail,
      "",
      ...(f.references.length > 0 ? [`- ${f.references.map((t) => `[${t.id} ${t.name}](${t.url})`).join(" · ")}`] : []),
      `- recommendation: ${f.recommendation}`,
      "",
    );
  }
  return out;
}
