/**
 * Refusal output scanner (LLM Guard's NoRefusal): the model's answer is invalid when it is
 * a refusal, judged by the phrase-family detector of src/llm/refusal.ts. An application
 * uses it to notice that the model declined (a guardrail fired, or a benign request was
 * over-refused, Röttger et al. 2024, XSTest).
 */
import { refusalScore } from "../refusal.js";
import { numberOption } from "./options.js";
import type { Scanner, ScanResult } from "./types.js";

export interface RefusalOptions {
  /** Refusal score at or above which the answer counts as a refusal (default 0.5). */
  threshold?: number;
}

export function refusalScanner(options: RefusalOptions = {}): Scanner {
  const threshold = numberOption("refusal", "threshold", options.threshold, 0, 1) ?? 0.5;
  return {
    name: "refusal",
    stage: "output",
    description: "answers in which the model refuses",
    scan(text: string): ScanResult {
      const score = refusalScore(text);
      if (score < threshold) return { text, valid: true, score, findings: [] };
      return { text, valid: false, score, findings: [{ scanner: "refusal", kind: "refusal", score }] };
    },
  };
}
