/**
 * Generated optimisation-style jailbreaks, the set the adversarial-suffix detector
 * (adversarial-suffix.ts) is tuned and tested on, so that JailbreakBench's GCG and DSN rows
 * are only ever scored, never chosen on. GCG (Zou et al., "Universal and Transferable
 * Adversarial Attacks on Aligned Language Models", 2023) searches over a tokenizer's
 * vocabulary for a suffix of about 20 tokens; its outputs read as vocabulary tokens strung
 * together, some with a leading space (a word), most fused onto the previous one. Here the
 * tokens are drawn from the first 32,000 of gpt-tokenizer's byte-pair vocabulary (the size
 * of the Llama vocabulary GCG attacked), printable ASCII only, after a harmful request.
 */
import { decode } from "gpt-tokenizer";
import { createRng, type Rng } from "../../data/random.js";
import type { LabelledText } from "./labelled-text.js";

export const SUFFIX_ATTACK_SOURCE = "generated:adversarial-suffix";

const PRINTABLE = /^ ?[\x21-\x7e]+$/;

let vocabulary: string[] | undefined;
function tokens(): string[] {
  vocabulary ??= Array.from({ length: 32000 - 256 }, (_, i) => decode([256 + i])).filter((t) => PRINTABLE.test(t));
  return vocabulary;
}

/** A suffix of `length` random vocabulary tokens. */
export function randomTokenSuffix(rng: Rng, length: number): string {
  const vocab = tokens();
  return Array.from({ length }, () => vocab[Math.floor(rng.next() * vocab.length)])
    .join("")
    .trim();
}

/** `count` label-1 rows: each request of `requests` in turn, then a suffix of 15–25 tokens. */
export function suffixAttackTexts(requests: readonly string[], count: number, seed: number): LabelledText[] {
  const rng = createRng(seed + 53);
  return Array.from({ length: count }, (_, i) => ({
    text: `${requests[i % requests.length].trim()} ${randomTokenSuffix(rng, 15 + Math.floor(rng.next() * 11))}`,
    label: 1,
    source: SUFFIX_ATTACK_SOURCE,
    kind: "jailbreak",
  }));
}
