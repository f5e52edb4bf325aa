/**
 * Training-set augmentation for indirect prompt injection, following the construction of
 * BIPIA (Yi et al., "Benchmarking and Defending Against Indirect Prompt Injection Attacks
 * on Large Language Models", 2023): a short attack instruction is inserted into a benign
 * context at the start, in the middle (at a line or sentence boundary) or at the end.
 * Deliberate deviation: the attacks and contexts are any short label-1 and long label-0
 * rows of the training split, not BIPIA's own lists, so the classifier learns that an
 * instruction stays an injection when it is buried in an otherwise harmless text. Only
 * rows of the current training split are used, so cross-validation does not leak.
 */
import { createRng } from "../../data/random.js";
import type { LabelledText } from "./labelled-text.js";

export const AUGMENTED_SOURCE = "augmented:embedded-injection";

const MAX_ATTACK_CHARS = 400;
const MIN_CONTEXT_CHARS = 200;
const MAX_TEXT_CHARS = 4000;

/** `count` new label-1 rows, each a short attack from `rows` embedded in a benign context from `rows`. */
export function embedInjections(rows: readonly LabelledText[], count: number, seed: number): LabelledText[] {
  const attacks = rows.filter((r) => r.label === 1 && r.text.length <= MAX_ATTACK_CHARS && r.kind !== "indirect_injection");
  const contexts = rows.filter((r) => r.label === 0 && r.kind === "benign" && r.text.length >= MIN_CONTEXT_CHARS);
  if (attacks.length === 0 || contexts.length === 0 || count <= 0) return [];
  const rng = createRng(seed);
  const out: LabelledText[] = [];
  for (let i = 0; i < count; i++) {
    const attack = attacks[rng.int(attacks.length)].text;
    const context = contexts[rng.int(contexts.length)].text.slice(0, MAX_TEXT_CHARS - attack.length - 2);
    const where = rng.int(3);
    let text: string;
    if (where === 0) text = `${attack}\n${context}`;
    else if (where === 2) text = `${context}\n${attack}`;
    else {
      // The boundary nearest the middle: a newline, else the end of a sentence.
      const middle = Math.floor(context.length / 2);
      const after = context.slice(middle).search(/\n|[.!?]\s/);
      const cut = after >= 0 ? middle + after + 1 : middle;
      text = `${context.slice(0, cut)}\n${attack}\n${context.slice(cut)}`;
    }
    out.push({ text, label: 1, source: AUGMENTED_SOURCE, kind: "indirect_injection" });
  }
  return out;
}
