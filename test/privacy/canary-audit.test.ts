/**
 * The one-run audit (privacy/dp/one-run-bound.ts, canary-audit.ts):
 * - the bound: closed form when every guess is right and δ = 0 (q^r = 1 − c), and the values
 *   of scripts/dp_reference.py (the paper's Algorithm 2 on scipy's binomial);
 * - a DP-SGD with its noise switched off (the test-only noiseScale 0) claims ε 0.95 and is
 *   caught: the MLP memorises the included canaries and the audit measures ε ≥ 2 (measured 2.85);
 * - the same run with its noise is not flagged (measured ε ≥ 0).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture, OnnxClassifier, sgd } from "../../src/engine/index.js";
import { auditDpSgd, auditFindings, makeCanaries, oneRunEpsilonLowerBound, oneRunPValue, SecureRandom, scoreGuesses } from "../../src/privacy/index.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const REFERENCE = [
  { canaries: 1000, guesses: 100, correct: 100, delta: 0, confidence: 0.95, epsilon: 3.492965 },
  { canaries: 1000, guesses: 100, correct: 100, delta: 1e-5, confidence: 0.95, epsilon: 3.465376 },
  { canaries: 1000, guesses: 200, correct: 180, delta: 1e-5, confidence: 0.95, epsilon: 1.796285 },
  { canaries: 1000, guesses: 1000, correct: 700, delta: 1e-5, confidence: 0.95, epsilon: 0.73174 },
  { canaries: 10000, guesses: 1000, correct: 1000, delta: 1e-5, confidence: 0.95, epsilon: 5.52935 },
  { canaries: 200, guesses: 40, correct: 30, delta: 1e-5, confidence: 0.95, epsilon: 0.458408 },
  { canaries: 200, guesses: 40, correct: 21, delta: 1e-5, confidence: 0.95, epsilon: 0 },
  { canaries: 1000, guesses: 100, correct: 90, delta: 0, confidence: 0.99, epsilon: 1.441389 },
];

test("the one-run bound matches its closed form and an independent scipy computation of the paper's Algorithm 2", () => {
  // All r guesses right, δ = 0: P[Bin(r, p) ≥ r] = p^r, so the bound solves p^r = 1 − c.
  for (const r of [10, 100, 1000]) {
    const p = 0.05 ** (1 / r);
    const closed = Math.log(p / (1 - p));
    const got = oneRunEpsilonLowerBound({ canaries: 2 * r, guesses: r, correct: r }, 0, 0.95);
    assert.ok(Math.abs(got - closed) < 1e-5, `r ${r}: ${got} vs ${closed}`);
  }
  for (const c of REFERENCE) {
    const got = oneRunEpsilonLowerBound(c, c.delta, c.confidence);
    assert.ok(Math.abs(got - c.epsilon) < 1e-5, `${JSON.stringify(c)}: ${got}`);
  }
  // The p-value grows with ε and with δ, and is a probability.
  const counts = { canaries: 1000, guesses: 200, correct: 150 };
  assert.ok(oneRunPValue(counts, 0.5, 1e-5) < oneRunPValue(counts, 1, 1e-5));
  assert.ok(oneRunPValue(counts, 1, 1e-5) < oneRunPValue(counts, 1, 1e-3));
  assert.equal(oneRunPValue(counts, 20, 0.1), 1);
  assert.throws(() => oneRunEpsilonLowerBound({ canaries: 10, guesses: 20, correct: 5 }, 0, 0.95), /0 ≤ correct ≤ guesses ≤ canaries/);
});

test("guesses: the k highest scores are guessed in, the k lowest out, abstaining in between", () => {
  const scores = [0.9, 0.1, 0.8, 0.5, 0.2, 0.7];
  const included = [true, false, false, true, false, true];
  // Top 2 (0.9 in, 0.8 out) → 1 right; bottom 2 (0.1 out, 0.2 out) → 2 right.
  assert.deepEqual(scoreGuesses(scores, included, 2, 2), { canaries: 6, guesses: 4, correct: 3 });
  assert.throws(() => scoreGuesses(scores, included, 4, 3), /exceed the 6 canaries/);
});

const { train } = loadMnist();
const TRAINING = 300;
const CANARIES = 400;

async function audit(noiseScale: number) {
  const data = { x: sliceRows(train.x, 0, TRAINING), labels: labelsOf(sliceRows(train.y, 0, TRAINING)) };
  const pool = { x: sliceRows(train.x, TRAINING, TRAINING + CANARIES), labels: labelsOf(sliceRows(train.y, TRAINING, TRAINING + CANARIES)) };
  const canaries = makeCanaries(pool, CANARIES, 10, "noise", SecureRandom.fromSeed(1));
  const classifier = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 3 }), {
    trainable: true,
    batchSize: 64,
  });
  try {
    return await auditDpSgd({
      classifier,
      data,
      canaries,
      settings: { noiseMultiplier: 6, maxGradNorm: 1, delta: 1e-5, batchSize: 64, epochs: 15, noiseSeed: 5 },
      optimizer: sgd({ lr: 1 }),
      seed: 11,
      noiseScale,
    });
  } finally {
    await classifier.release();
  }
}

test("the audit catches a DP-SGD without noise: it measures ε far above the ε its accountant claims", async () => {
  const result = await audit(0);
  assert.ok(Math.abs(result.claimedEpsilon - 0.946) < 0.01, `claimed ε ${result.claimedEpsilon}`);
  assert.ok(result.included > 150 && result.included < 250, `${result.included} canaries included`);
  assert.ok(result.epsilonLower > 2, `measured ε ≥ ${result.epsilonLower}; outcomes ${JSON.stringify(result.outcomes)}`);
  assert.equal(result.violated, true);
  const finding = auditFindings(result);
  assert.equal(finding.rule, "DP-AUDIT-VIOLATION");
  assert.equal(finding.severity, "critical");
  assert.match(finding.title, /DP implementation is broken/);
});

test("the audit does not flag the same DP-SGD with its noise", async () => {
  const result = await audit(1);
  assert.ok(result.epsilonLower < result.claimedEpsilon, `measured ε ≥ ${result.epsilonLower}, claimed ${result.claimedEpsilon}`);
  assert.equal(result.violated, false);
  // Noise at σ 6 leaves the guesses near chance: no k gets more than 60% right.
  for (const o of result.outcomes) assert.ok(o.correct <= 0.6 * 2 * o.perSide, JSON.stringify(o));
  const finding = auditFindings(result);
  assert.equal(finding.rule, "DP-AUDIT");
  assert.equal(finding.severity, "info");
});
