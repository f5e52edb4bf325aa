/**
 * The look every Aegis HTML report shares (audit, threat model): colours, type, cards,
 * tables and badges. Each report appends its own rules.
 */
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
.card .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
.card .v{font-size:26px;font-weight:700;margin:4px 0 2px;font-variant-numeric:tabular-nums}
.card .s{font-size:12.5px;color:var(--muted)}
.warnings{background:#fffbeb;border-color:#fde68a}.warnings h2{border-color:#fde68a;color:var(--warn)}.warnings ul{margin:0;padding-left:20px}
table{width:100%;border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);background:#f8fafc;border-bottom:1px solid #cbd5e1}
tbody tr:hover{background:#f8fafc}
.num{text-align:right}
.pill.pass{background:#dcfce7;color:var(--pass)}.pill.fail{background:#fee2e2;color:var(--fail)}.pill.neutral{background:#e2e8f0;color:#334155}
.finding{border:1px solid var(--line);border-left:5px solid #94a3b8;border-radius:10px;padding:12px 16px;margin:10px 0}
.finding h3{margin:6px 0}.finding p{margin:6px 0}
.fhead{display:flex;gap:10px;align-items:center}.fid{font:12px ui-monospace,Menlo,monospace;color:var(--muted)}
.tags{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.rec{color:#334155}
.scroll{overflow-x:auto}
footer{color:var(--muted);font-size:12px;margin-top:22px;padding:0 4px}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid}}
`;
