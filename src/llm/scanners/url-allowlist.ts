/**
 * URL allow-list output scanner (OWASP Top 10 for LLM Applications 2025, LLM05 Improper
 * Output Handling; LLM Guard's BanURLs/URLReachability family, as an allow-list): every
 * absolute URL in the answer (http, https, ftp, ws, wss and protocol-relative) must point to
 * an allowed host or one of its subdomains; others are flagged and, by default, replaced
 * with [REDACTED:url]. Hosts are compared after WHATWG URL parsing (so "EXAMPLE.com.",
 * IDN and userinfo tricks such as https://allowed.com@evil.com resolve to the real host).
 */
import { stringListOption } from "./options.js";
import { matchesOf, replaceDetections } from "./spans.js";
import type { Scanner, ScanResult } from "./types.js";

export interface UrlAllowlistOptions {
  /** Allowed hosts; each also allows its subdomains (default none: every URL is flagged). */
  allowed?: readonly string[];
  /** Replace disallowed URLs with [REDACTED:url] (default true). */
  redact?: boolean;
}

export interface FoundUrl {
  url: URL;
  span: [number, number];
}

const URL_RE = /(?:\b(?:https?|ftp|wss?):)?\/\/[^\s<>"'`)\]]+/gi;

/** Absolute URLs in a text, with trailing punctuation left out. */
export function extractUrls(text: string): FoundUrl[] {
  const out: FoundUrl[] = [];
  for (const m of matchesOf(URL_RE, text)) {
    // "//" inside a path or a comment is not a URL unless it starts a protocol-relative link.
    if (!m[0].includes(":") && m.index > 0 && !/[\s("'=]/.test(text[m.index - 1])) continue;
    const raw = m[0].replace(/[.,;:!?]+$/, "");
    try {
      const url = new URL(raw.startsWith("//") ? `https:${raw}` : raw);
      if (url.hostname) out.push({ url, span: [m.index, m.index + raw.length] });
    } catch {
      // Not a URL after all.
    }
  }
  return out;
}

export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return allowed.some((a) => {
    const d = a
      .toLowerCase()
      .replace(/^\*?\./, "")
      .replace(/\.$/, "");
    return h === d || h.endsWith(`.${d}`);
  });
}

export function urlAllowlistScanner(options: UrlAllowlistOptions = {}): Scanner {
  const allowed = stringListOption("url-allowlist", "allowed", options.allowed) ?? [];
  const redact = options.redact ?? true;
  return {
    name: "url-allowlist",
    stage: "output",
    description: "URLs to hosts outside an allow-list",
    scan(text: string): ScanResult {
      const bad = extractUrls(text).filter((u) => !hostAllowed(u.url.hostname, allowed));
      const findings = bad.map((u) => ({ scanner: "url-allowlist", kind: "url", span: u.span, score: 0.7, detail: `host ${u.url.hostname}` }));
      const out = redact ? replaceDetections(text, findings, () => "[REDACTED:url]") : text;
      return { text: out, valid: bad.length === 0, score: bad.length ? 0.7 : 0, findings };
    },
  };
}
