/**
 * Builds the adversarial-suffix detector's character n-gram model (adversarial-suffix.ts)
 * into models/adversarial-suffix.ngrams, deterministically, from the benign ("label": 0)
 * "use: train" rows of the development corpus and data/llm/supplement.jsonl, the benign rows
 * of the generated sets and Aegis's own code (suffix-training.ts). Eval-only rows are never read.
 *
 * --evaluate is how SUFFIX_CUTOFF_BITS and the window were chosen, without writing the model:
 * every benign corpus source in turn is scored by a model built without it (out-of-source),
 * and generated suffix attacks (suffix-attacks.ts: random vocabulary tokens after the corpus's
 * plain harmful requests; and attack-styles.ts's GCG-style rows) by the full model. It prints
 * the attacks' detection rate at the cutoffs that 0.2%–5% of the benign rows reach, and the
 * rate above --cutoff per benign source. Attack rows of the corpus are not read, so
 * JailbreakBench's GCG and DSN rows play no part in the choice.
 *
 *   node --import tsx scripts/build-suffix-model.ts [--evaluate] [--cutoff 4.01] [--data ../shared/data/llm]
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_SUFFIX_MODEL_PATH,
  SUFFIX_CUTOFF_BITS,
  serializeCharNgramModel,
  suffixScore,
  trainCharNgramModel,
} from "../src/llm/injection/adversarial-suffix.js";
import { attackStyleTexts } from "../src/llm/injection/attack-styles.js";
import { readJsonl } from "../src/llm/injection/data.js";
import { suffixAttackTexts } from "../src/llm/injection/suffix-attacks.js";
import { isHeldOutGroup, suffixTrainingTexts } from "../src/llm/injection/suffix-training.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    evaluate: { type: "boolean", default: false },
    cutoff: { type: "string", default: String(SUFFIX_CUTOFF_BITS) },
    data: { type: "string", default: resolve(root, "../shared/data/llm") },
    supplement: { type: "string", default: resolve(root, "data/llm/supplement.jsonl") },
    out: { type: "string", default: DEFAULT_SUFFIX_MODEL_PATH },
  },
});

const corpus = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl")), ...readJsonl(args.supplement)];
const rows = suffixTrainingTexts(corpus, root);
if (!args.evaluate) {
  const bytes = serializeCharNgramModel(trainCharNgramModel(rows.map((r) => r.text)));
  writeFileSync(args.out, bytes);
  process.stdout.write(`${rows.length} benign texts -> ${args.out} (${bytes.length} bytes)\n`);
} else {
  const groups = [...new Set(rows.map((r) => r.group))].filter(isHeldOutGroup);
  const outOfSource = new Map<number, number>();
  for (const g of groups) {
    const model = trainCharNgramModel(rows.filter((r) => r.group !== g).map((r) => r.text));
    rows.forEach((r, i) => {
      if (r.group === g) outOfSource.set(i, suffixScore(r.text, model).bits);
    });
  }
  const sorted = [...outOfSource.values()].sort((a, b) => b - a);
  const full = trainCharNgramModel(rows.map((r) => r.text));
  const harmful = readJsonl(join(args.data, "harmful.jsonl")).filter((r) => r.use === "train");
  const randomTokens = suffixAttackTexts(
    harmful.map((r) => r.text),
    500,
    7,
  ).map((r) => suffixScore(r.text, full).bits);
  // Every fifth attack style is the GCG-style suffix (attack-styles.ts).
  const styled = attackStyleTexts(600, 7)
    .filter((_, i) => i % 5 === 2)
    .map((r) => suffixScore(r.text, full).bits);
  const rate = (xs: readonly number[], c: number) => `${((100 * xs.filter((b) => b >= c).length) / xs.length).toFixed(1)}%`;
  process.stdout.write(
    `${sorted.length} benign corpus rows, out-of-source; ${randomTokens.length} random-token and ${styled.length} GCG-style suffix attacks\n`,
  );
  for (const fpr of [0.002, 0.005, 0.01, 0.02, 0.05]) {
    const c = sorted[Math.floor(fpr * sorted.length)];
    process.stdout.write(
      `  benign rate ${fpr}: cutoff ${c.toFixed(2)} bits/letter, random-token suffixes ${rate(randomTokens, c)}, GCG-style ${rate(styled, c)}\n`,
    );
  }
  const cutoff = Number(args.cutoff);
  process.stdout.write(`at --cutoff ${cutoff}: random-token ${rate(randomTokens, cutoff)}, GCG-style ${rate(styled, cutoff)}; per benign source:\n`);
  for (const g of groups) {
    const scores = rows.flatMap((r, i) => (r.group === g ? [outOfSource.get(i) ?? 0] : []));
    process.stdout.write(`  ${rate(scores, cutoff).padStart(6)} (${scores.filter((b) => b >= cutoff).length}/${scores.length})  ${g}\n`);
  }
}
