/**
 * Improper output handling scanner (OWASP Top 10 for LLM Applications 2025, LLM05): model
 * output that becomes dangerous when an application renders or executes it. HTML/JS
 * injection (script, iframe/object/embed, event-handler attributes, javascript: and
 * data:text/html URLs — OWASP XSS Prevention Cheat Sheet); markdown image and link
 * exfiltration to hosts outside an allow-list with data in the query string (Rehberger
 * 2023, "Data exfiltration via markdown images"; Greshake et al. 2023); SQL fragments
 * (tautologies, UNION SELECT, stacked statements, comment truncation — OWASP SQL
 * Injection); shell fragments (recursive deletion of /, ~ or *, download piped to a shell,
 * reverse shells, fork bombs — GTFOBins, MITRE ATT&CK T1059). Scores rank certainty: a
 * reverse shell or a script tag is near certain, a bare DROP TABLE in a SQL tutorial less so.
 * Every repetition in the patterns is bounded, so a hostile answer cannot make matching
 * quadratic.
 */
import { numberOption, stringListOption } from "./options.js";
import { matchesOf } from "./spans.js";
import type { Detection, Scanner, ScanResult } from "./types.js";
import { extractUrls, hostAllowed } from "./url-allowlist.js";

export interface OutputHandlingOptions {
  /** Hosts markdown images and links may point to with a query string (and their subdomains). */
  allowedHosts?: readonly string[];
  /** Score at or above which the output is invalid (default 0.5). */
  threshold?: number;
}

interface Rule {
  kind: string;
  re: RegExp;
  score: number;
}

const RULES: Rule[] = [
  { kind: "html-script", re: /<script\b[^>]*>/gi, score: 0.95 },
  { kind: "html-embed", re: /<(?:iframe|object|embed|frame|base|form)\b[^>]{0,500}>/gi, score: 0.7 },
  { kind: "html-event-handler", re: /<[a-z][\w-]{0,30}\b[^<>]{0,500}?\son[a-z]+\s*=\s*["']?[^\s>]/gi, score: 0.9 },
  { kind: "html-meta-refresh", re: /<meta\b[^>]{0,500}http-equiv\s*=\s*["']?refresh/gi, score: 0.8 },
  { kind: "javascript-url", re: /(?:href|src|action|formaction|xlink:href)\s*=\s*["']?\s*javascript:|\]\(\s*javascript:/gi, score: 0.9 },
  { kind: "data-html-url", re: /(?:href|src)\s*=\s*["']?\s*data:text\/html|\]\(\s*data:text\/html/gi, score: 0.85 },
  { kind: "sql-tautology", re: /['"]\s*(?:or|\|\|)\s*['"]?\w+['"]?\s*=\s*['"]?\w+|\bor\s+1\s*=\s*1\b/gi, score: 0.8 },
  { kind: "sql-union-select", re: /\bunion\s+(?:all\s+)?select\b/gi, score: 0.8 },
  { kind: "sql-stacked", re: /;\s*(?:drop|delete|truncate|alter|update|insert|exec|shutdown)\b[^;\n]{0,200}(?:--|#|\/\*|;)/gi, score: 0.85 },
  { kind: "sql-comment-truncation", re: /['"]\s*\)?\s*;?\s*--(?:\s|$)/g, score: 0.7 },
  { kind: "sql-drop", re: /\bdrop\s+(?:table|database|schema)\b/gi, score: 0.6 },
  { kind: "sql-exec", re: /\bxp_cmdshell\b|\bwaitfor\s+delay\b|\bpg_sleep\s*\(|\bsleep\s*\(\s*\d+\s*\)\s*(?:--|#)/gi, score: 0.85 },
  {
    kind: "shell-rm-rf",
    re: /\brm\s+(?:-[a-zA-Z]*[rR][a-zA-Z]*\s+-?[a-zA-Z]*\s*|--recursive\s+(?:--force\s+)?)(?:--no-preserve-root\s+)?(?:\/|~|\*|\/\*|\$HOME)(?=\s|$|;|&|\|)/g,
    score: 0.9,
  },
  { kind: "shell-pipe-to-shell", re: /\b(?:curl|wget)\b[^\n|;]{0,300}\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b/g, score: 0.85 },
  {
    kind: "shell-reverse-shell",
    re: /\/dev\/tcp\/[\w.-]{1,255}\/\d+|\bnc(?:at)?\b[^\n]{0,200}\s-[ec]\s+\/bin\/(?:ba)?sh|\bsocket\.socket\([^\n]{0,300}\bdup2\b|\bmkfifo\b[^\n]{0,200}\bnc\b/g,
    score: 1,
  },
  { kind: "shell-fork-bomb", re: /:\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/g, score: 0.9 },
  { kind: "shell-disk-wipe", re: /\b(?:mkfs(?:\.\w+)?\s+\/dev\/|dd\s+if=\/dev\/(?:zero|random|urandom)\s+of=\/dev\/[sh]d)/g, score: 0.9 },
];

// Markdown images ![alt](url and reference definitions [id]: url; links [text](url — the
// closing parenthesis is not required, so a failed match never backtracks over the URL.
const MD_IMAGE = /!\[[^\]\n]{0,300}\]\(\s*<?([^)\s>]{1,4000})/g;
const MD_LINK = /(?<!!)\[[^\]\n]{0,300}\]\(\s*<?([^)\s>]{1,4000})/g;
const MD_REFERENCE = /^[ \t]*\[[^\]\n]{1,300}\]:[ \t]*<?(\S{1,4000}?)>?(?:\s|$)/gm;
const HTML_IMG = /<img\b[^<>]{0,500}?\ssrc\s*=\s*["']?([^"'\s>]{1,4000})/gi;

function carriesData(url: URL): boolean {
  // A query string or a long path segment can carry stolen text to the attacker's server.
  return url.search.length > 1 || url.pathname.split("/").some((seg) => seg.length >= 40);
}

export function outputHandlingScanner(options: OutputHandlingOptions = {}): Scanner {
  const allowed = stringListOption("output-handling", "allowedHosts", options.allowedHosts) ?? [];
  const threshold = numberOption("output-handling", "threshold", options.threshold, 0, 1) ?? 0.5;
  return {
    name: "output-handling",
    stage: "output",
    description: "HTML/JS injection, markdown image/link exfiltration, SQL and shell fragments in the answer",
    scan(text: string): ScanResult {
      const findings: Detection[] = [];
      for (const rule of RULES)
        for (const m of matchesOf(rule.re, text))
          findings.push({ scanner: "output-handling", kind: rule.kind, span: [m.index, m.index + m[0].length], score: rule.score });
      const exfil = (re: RegExp, kind: string, score: number) => {
        for (const m of matchesOf(re, text)) {
          const [found] = extractUrls(m[1]);
          if (found && !hostAllowed(found.url.hostname, allowed) && carriesData(found.url))
            findings.push({ scanner: "output-handling", kind, span: [m.index, m.index + m[0].length], score, detail: `host ${found.url.hostname}` });
        }
      };
      // Images load without a click, so they leak as soon as the answer is rendered.
      exfil(MD_IMAGE, "markdown-image-exfiltration", 0.9);
      exfil(HTML_IMG, "markdown-image-exfiltration", 0.9);
      exfil(MD_REFERENCE, "markdown-image-exfiltration", 0.7);
      exfil(MD_LINK, "markdown-link-exfiltration", 0.6);
      findings.sort((a, b) => (a.span?.[0] ?? 0) - (b.span?.[0] ?? 0));
      const score = Math.max(0, ...findings.map((f) => f.score));
      return { text, valid: score < threshold, score, findings };
    },
  };
}
