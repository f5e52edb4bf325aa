/**
 * De-anonymisation output scanner (LLM Guard's Deanonymize, Protect AI 2023): the input pii
 * scanner replaced personal values with placeholders such as [EMAIL_1] and kept the
 * originals in the context's vault; this scanner puts them back into the model's answer,
 * so the user sees their own data while the model never did.
 */
import type { ScanContext, Scanner, ScanResult } from "./types.js";

const PLACEHOLDER = /\[[A-Z][A-Z0-9_]*_\d+\]/g;

export function deanonymizeScanner(): Scanner {
  return {
    name: "deanonymize",
    stage: "output",
    description: "puts back the values the pii scanner replaced with vault placeholders",
    scan(text: string, context: ScanContext = {}): ScanResult {
      const vault = context.vault;
      const out = vault?.size ? text.replace(PLACEHOLDER, (p) => vault.get(p) ?? p) : text;
      return { text: out, valid: true, score: 0, findings: [] };
    },
  };
}
