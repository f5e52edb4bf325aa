/**
 * Sensitive-data output scanner (OWASP Top 10 for LLM Applications 2025, LLM02 Sensitive
 * Information Disclosure; LLM Guard's Sensitive output scanner): the pii and secrets
 * detectors run over the model's answer and every value found is replaced with
 * [REDACTED:kind]. Vault placeholders are not PII, so an answer that quotes them passes and
 * the deanonymize scanner, run after this one, restores the user's own values.
 */
import { detectPii, PII_KINDS } from "./pii.js";
import { detectSecrets } from "./secrets.js";
import { replaceDetections, resolveOverlaps } from "./spans.js";
import type { Scanner, ScanResult } from "./types.js";

export interface SensitiveOptions {
  /** Replace what is found with [REDACTED:kind] (default true). */
  redact?: boolean;
  /** PII kinds to look for (default all). */
  piiKinds?: readonly string[];
  /** Flag high-entropy tokens as secrets (default true). */
  entropy?: boolean;
}

export function sensitiveScanner(options: SensitiveOptions = {}): Scanner {
  const redact = options.redact ?? true;
  const kinds = new Set(options.piiKinds ?? PII_KINDS);
  return {
    name: "sensitive",
    stage: "output",
    description: "PII and secrets in the model's answer, redacted as [REDACTED:kind]",
    scan(text: string): ScanResult {
      const detections = resolveOverlaps([...detectSecrets(text, options), ...detectPii(text, kinds)]);
      return {
        text: redact ? replaceDetections(text, detections, (d) => `[REDACTED:${d.kind}]`) : text,
        valid: detections.length === 0,
        score: Math.max(0, ...detections.map((d) => d.score)),
        findings: detections.map((d) => ({ scanner: "sensitive", kind: d.kind, span: d.span, score: d.score })),
      };
    },
  };
}
