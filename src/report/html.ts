/**
 * The one HTML shell every Aegis report is a page of (audit, scan, threat model, red team,
 * scanner evaluation): a self-contained document with inline CSS, nothing fetched, every
 * value escaped; the shared look (cards, tables, badges, finding cards); and the findings
 * section, so a finding looks the same whichever capability produced it.
 */
import { type Finding, locationText, SEVERITIES } from "./finding.js";

/** Escapes text for HTML element content and attribute values. */
export const esc = (v: unknown): string =>
  String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** Escaped text whose `backquoted` parts (commands, settings) are set as code. */
export function withCode(text: string): string {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

export interface PageOptions {
  /** Rules of the report's own views, appended to the shared ones. */
  css?: string;
  /** Inline script (the threat register's sortable table); most reports have none. */
  script?: string;
}

/** A complete document: shared CSS plus the report's own, the sections in a <main>. */
export function page(title: string, sections: readonly string[], options: PageOptions = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${BASE_CSS}${options.css ?? ""}</style>
</head>
<body>
<main>
${sections.filter((s) => s !== "").join("\n")}
</main>
${options.script ? `<script>${options.script}</script>\n` : ""}</body>
</html>
`;
}

/** Summary cards: [label, value, note] each. */
export function cards(items: readonly (readonly [string, string, string])[]): string {
  return `<section class="cards">${items.map(([k, v, s]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="s">${esc(s)}</div></div>`).join("")}</section>`;
}

export function warningsSection(title: string, warnings: readonly string[]): string {
  if (warnings.length === 0) return "";
  return `<section class="warnings"><h2>${esc(title)}</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul></section>`;
}

/** One card per finding, most severe first, with its references and recommendation. */
export function findingsSection(findings: readonly Finding[], empty: string): string {
  if (findings.length === 0) return `<section><h2>Findings</h2><p class="muted">${esc(empty)}</p></section>`;
  return `<section><h2>Findings</h2>${findings.map((f) => findingCard(f)).join("\n")}</section>`;
}

/**
 * A finding as a card. In a side-by-side view, under a heading per column, the title is one
 * level lower (h4) and the recommendation is shown once below rather than per card.
 */
export function findingCard(f: Finding, options: { recommendation?: boolean; heading?: "h3" | "h4" } = {}): string {
  const h = options.heading ?? "h3";
  const where = locationText(f.location);
  return `<article class="finding sev-${f.severity}">
  <div class="fhead"><span class="pill sev-${f.severity}">${esc(f.severity)}</span><span class="fid">${esc(f.rule)}</span>${where ? `<span class="fid">${esc(where)}</span>` : ""}</div>
  <${h}>${esc(f.title)}</${h}>
  <p>${esc(f.detail)}</p>
  <div class="tags">${f.references.map((t) => `<a class="tag" href="${esc(t.url)}" title="${esc(t.framework)}">${esc(t.id)} · ${esc(t.name)}</a>`).join("")}</div>
${options.recommendation === false ? "" : `  <p class="rec"><strong>Recommendation.</strong> ${withCode(f.recommendation)}</p>\n`}</article>`;
}

const SEVERITY_COLORS: Record<(typeof SEVERITIES)[number], [string, string, string]> = {
  // pill background, pill text, card edge
  critical: ["#fecaca", "#7f1d1d", "#7f1d1d"],
  high: ["#fee2e2", "#b91c1c", "#dc2626"],
  medium: ["#ffedd5", "#c2410c", "#ea580c"],
  low: ["#fef9c3", "#a16207", "#ca8a04"],
  info: ["#e0f2fe", "#0369a1", "#0284c7"],
};

/** The look every report shares: colours, type, cards, tables, badges, pills, finding cards. */
export const BASE_CSS = `
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f5f7fb;--card:#fff;--accent:#2563eb;--pass:#15803d;--fail:#b91c1c;--warn:#b45309}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 28px 48px}
h1{font-size:26px;margin:2px 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:0 0 14px;padding-bottom:8px;border-bottom:1px solid var(--line)}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 5px;border-radius:4px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 22px;margin:18px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.eyebrow{text-transform:uppercase;letter-spacing:.12em;font-size:11.5px;font-weight:600;color:var(--accent)}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;background:none;border:0;box-shadow:none;padding:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px}
.card .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
.card .v{font-size:26px;font-weight:700;margin:4px 0 2px;font-variant-numeric:tabular-nums}
.card .s{font-size:12.5px;color:var(--muted)}
.warnings{background:#fffbeb;border-color:#fde68a}.warnings h2{border-color:#fde68a;color:var(--warn)}.warnings ul{margin:0;padding-left:20px}
table{width:100%;border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);background:#f8fafc;border-bottom:1px solid #cbd5e1}
tbody tr:hover{background:#f8fafc}
.num{text-align:right}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.03em}
.pill.pass{background:#dcfce7;color:var(--pass)}.pill.fail{background:#fee2e2;color:var(--fail)}.pill.neutral{background:#e2e8f0;color:#334155}
${SEVERITIES.map((s) => `.pill.sev-${s}{background:${SEVERITY_COLORS[s][0]};color:${SEVERITY_COLORS[s][1]}}.finding.sev-${s}{border-left-color:${SEVERITY_COLORS[s][2]}}`).join("\n")}
.finding{border:1px solid var(--line);border-left:5px solid #94a3b8;border-radius:10px;padding:12px 16px;margin:10px 0}
.finding h3{margin:6px 0}.finding p{margin:6px 0}
.fhead{display:flex;gap:10px;align-items:center;flex-wrap:wrap}.fid{font:12px ui-monospace,Menlo,monospace;color:var(--muted)}
.tags{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.tag{font-size:12px;padding:3px 9px;border-radius:6px;background:#eef2ff;color:#3730a3;text-decoration:none;border:1px solid #e0e7ff}
.rec{color:#334155}
.scroll{overflow-x:auto}
footer{color:var(--muted);font-size:12px;margin-top:22px;padding:0 4px}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid}}
`;
