/**
 * System-prompt leakage output scanner (OWASP Top 10 for LLM Applications 2025, LLM07
 * System Prompt Leakage; Perez & Ribeiro 2022, "Ignore Previous Prompt"; Zhang et al. 2024,
 * "Effective Prompt Extraction from Language Models"). Two signals: canary tokens planted
 * in the system prompt or documents (Rebuff's canary words, Protect AI 2023) appearing in
 * the answer, and textual similarity of the answer to the configured system prompt over
 * normalised words — the longest run of consecutive system-prompt words copied into the
 * answer, and the share of the system prompt's word 3-grams the answer contains (Zhang et
 * al. count a leak when most of the prompt is recovered; we flag at half). The answer is
 * invalid when a canary appears or the similarity score reaches the threshold.
 */
import { numberOption, stringListOption } from "./options.js";
import type { Detection, ScanContext, Scanner, ScanResult } from "./types.js";

export interface SystemPromptLeakOptions {
  /** System prompt to compare with when the context has none. */
  systemPrompt?: string;
  /** Canaries to look for besides the context's. */
  canaries?: readonly string[];
  /** Similarity score at or above which the answer leaks (default 0.5). */
  threshold?: number;
  /** Consecutive copied words that count as a full leak (default 12). */
  runWords?: number;
}

const NGRAM = 3;

export function normalizedWords(text: string): string[] {
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** Longest run of consecutive words shared by a and b (dynamic programming over word ids). */
export function longestCommonRun(a: readonly string[], b: readonly string[]): number {
  let best = 0;
  let prev = new Uint16Array(b.length + 1);
  let cur = new Uint16Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? Math.min(prev[j - 1] + 1, 65535) : 0;
      if (cur[j] > best) best = cur[j];
    }
    [prev, cur] = [cur, prev];
  }
  return best;
}

function ngrams(words: readonly string[], n: number): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + n <= words.length; i++) out.add(words.slice(i, i + n).join(" "));
  return out;
}

/** Share of the system prompt's word n-grams found in the answer. */
export function ngramContainment(system: readonly string[], answer: readonly string[], n = NGRAM): number {
  const sys = ngrams(system, n);
  if (sys.size === 0) return 0;
  const ans = ngrams(answer, n);
  let shared = 0;
  for (const g of sys) if (ans.has(g)) shared++;
  return shared / sys.size;
}

/** Similarity of an answer to a system prompt, 0 … 1: the larger of copied-run length and 3-gram containment. */
export function leakScore(systemPrompt: string, answer: string, runWords = 12): number {
  const system = normalizedWords(systemPrompt);
  if (system.length === 0) return 0;
  const words = normalizedWords(answer);
  const run = longestCommonRun(system, words);
  // A short system prompt copied whole is a full leak even below runWords.
  const runScore = Math.min(1, run / Math.min(runWords, system.length));
  return Math.max(runScore, ngramContainment(system, words));
}

export function systemPromptLeakScanner(options: SystemPromptLeakOptions = {}): Scanner {
  const threshold = numberOption("system-prompt-leak", "threshold", options.threshold, 0, 1) ?? 0.5;
  stringListOption("system-prompt-leak", "canaries", options.canaries);
  return {
    name: "system-prompt-leak",
    stage: "output",
    description: "canary tokens and text of the system prompt in the model's answer",
    scan(text: string, context: ScanContext = {}): ScanResult {
      const findings: Detection[] = [];
      const lower = text.toLowerCase();
      for (const canary of [...(options.canaries ?? []), ...(context.canaries ?? [])]) {
        if (!canary) continue;
        const at = lower.indexOf(canary.toLowerCase());
        if (at >= 0)
          findings.push({ scanner: "system-prompt-leak", kind: "canary", span: [at, at + canary.length], score: 1, detail: "a planted canary token" });
      }
      const systemPrompt = context.systemPrompt ?? options.systemPrompt;
      if (systemPrompt) {
        const score = leakScore(systemPrompt, text, options.runWords);
        if (score >= threshold)
          findings.push({
            scanner: "system-prompt-leak",
            kind: "similarity",
            score,
            detail: `answer reproduces ${Math.round(score * 100)}% of the system prompt`,
          });
      }
      const score = Math.max(0, ...findings.map((f) => f.score));
      return { text, valid: findings.length === 0, score, findings };
    },
  };
}
