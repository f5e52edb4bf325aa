/**
 * Token-limit input scanner (OWASP Top 10 for LLM Applications 2025, LLM10 Unbounded
 * Consumption; LLM Guard's TokenLimit). Tokens are counted with a real byte-pair encoder
 * (Sennrich et al., 2016), gpt-tokenizer's o200k_base, the vocabulary of GPT-4o. Byte-pair
 * merging is quadratic in the length of a run without spaces (20,000 zero-width spaces
 * take seconds), so the text is counted in chunks of at most 512 characters cut before
 * whitespace, and counting stops as soon as the limit is passed. A cut inside a long
 * unbroken run can add a token per chunk; ordinary text counts exactly. Deliberate
 * deviation: the text is passed on whole (LLM Guard truncates it); the verdict decides.
 */
import { encode } from "gpt-tokenizer";
import { AegisError } from "../../errors.js";
import type { Scanner, ScanResult } from "./types.js";

export interface TokenLimitOptions {
  /** Maximum number of tokens (default 4096). */
  limit?: number;
}

const CHUNK = 512;

/** Tokens in the text, counted chunk by chunk; stops once the count passes `stopAbove`. */
export function countTokens(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let count = 0;
  for (let start = 0; start < text.length && count <= stopAbove; ) {
    let end = Math.min(text.length, start + CHUNK);
    if (end < text.length) {
      // Cut before whitespace, where the tokenizer's pre-splitting would cut anyway.
      const space = text.slice(start + CHUNK / 2, end).search(/\s\S*$/);
      if (space >= 0) end = start + CHUNK / 2 + space;
      // Never split a surrogate pair.
      if (/[\uD800-\uDBFF]/.test(text[end - 1])) end--;
    }
    count += encode(text.slice(start, end)).length;
    start = end;
  }
  return count;
}

export function tokenLimitScanner(options: TokenLimitOptions = {}): Scanner {
  const limit = options.limit ?? 4096;
  if (!Number.isInteger(limit) || limit < 1) throw new AegisError("BAD_OPTION", `token-limit: limit must be a positive integer, not ${limit}`);
  return {
    name: "token-limit",
    stage: "input",
    description: `inputs longer than a token limit (BPE tokenizer, default ${4096} tokens)`,
    scan(text: string): ScanResult {
      // Each token covers at least one character, so short texts need no tokenisation.
      const within = text.length <= limit || countTokens(text, limit) <= limit;
      if (within) return { text, valid: true, score: 0, findings: [] };
      return {
        text,
        valid: false,
        score: 1,
        findings: [{ scanner: "token-limit", kind: "token-limit", score: 1, detail: `more than ${limit} tokens` }],
      };
    },
  };
}
