/**
 * The empirical audit of DP-SGD with one training run — Steinke, Nasr & Jagielski 2023
 * (one-run-bound.ts has the statistics): m canaries are each added to the training data with
 * probability ½ (drawn from the OS's entropy unless seeded), the model trains once with the
 * real DP-SGD (dp-sgd.ts: Poisson sampling, per-example clipping, noise), each canary is
 * scored by the model's log-probability of its label (Yeom et al.'s loss attack: lower loss,
 * more likely "in"), the k highest are guessed "in" and the k lowest "out", and the right
 * guesses become a lower bound on ε at the chosen confidence.
 *
 * - A bound below the accountant's ε is normal: the audit is a lower bound, loose in the
 *   black-box setting. A bound ABOVE it cannot happen to a correct implementation (except
 *   with probability 1 − confidence) and means the DP-SGD or its accounting is broken.
 * - Several k are tried, each at confidence 1 − (1 − c)/K (Bonferroni), so taking the
 *   largest bound keeps the stated confidence.
 * - Canaries are the input-space canaries of the paper's black-box audit: real examples with
 *   a wrong label ("mislabeled"), or uniform noise inputs with a random label ("noise"); both
 *   are outliers the model can only fit by memorising them, the worst case DP must cover.
 */
import { logSumExp, type OnnxClassifier, type Optimizer } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, type Tensor } from "../../tensor.js";
import { type DpEpochStats, type DpSgdPlan, type DpSgdSettings, trainDpSgd } from "./dp-sgd.js";
import { oneRunEpsilonLowerBound, scoreGuesses } from "./one-run-bound.js";
import { SecureRandom } from "./secure-random.js";

/** Share of a noise canary's values set to the pool's maximum (the rest at its minimum): sparse, so canaries barely overlap. */
const NOISE_DENSITY = 0.1;

export const CANARY_KINDS = ["mislabeled", "noise"] as const;
export type CanaryKind = (typeof CANARY_KINDS)[number];

export interface LabelledRows {
  x: Tensor<"float32">;
  labels: readonly number[];
}

/**
 * m canaries from `pool` (rows the training data does not hold): "mislabeled" keeps the
 * input and moves the label to another class at random; "noise" replaces the input by
 * uniform noise over the pool's value range, with a random label.
 */
export function makeCanaries(pool: LabelledRows, count: number, numClasses: number, kind: CanaryKind, random: SecureRandom): LabelledRows {
  if (!CANARY_KINDS.includes(kind)) throw new AegisError("BAD_OPTION", `--canary-kind must be one of ${CANARY_KINDS.join(", ")}, not "${kind}"`);
  const n = pool.x.shape[0];
  if (!(Number.isInteger(count) && count >= 2 && count <= n))
    throw new AegisError("BAD_OPTION", `--canaries must be a whole number from 2 to ${n} (the rows left for canaries), not ${count}`);
  const rows = Array.from({ length: count }, (_, i) => i);
  const x = gatherRows(pool.x, rows);
  if (kind === "noise") {
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (const v of pool.x.data) {
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
    for (let i = 0; i < x.data.length; i++) x.data[i] = random.uniform() < NOISE_DENSITY ? high : low;
  }
  const labels = rows.map((i) => {
    const shift = kind === "mislabeled" ? 1 + Math.floor(random.uniform() * (numClasses - 1)) : Math.floor(random.uniform() * numClasses);
    return (pool.labels[i] + shift) % numClasses;
  });
  return { x, labels };
}

export interface CanaryAuditOptions {
  /** A freshly initialised classifier created with trainable: true. */
  classifier: OnnxClassifier;
  /** The training data, canaries excluded. */
  data: LabelledRows;
  /** m canaries, e.g. from makeCanaries. */
  canaries: LabelledRows;
  settings: DpSgdSettings;
  optimizer: Optimizer;
  /** Guesses per side, k: the k highest scores are guessed "in", the k lowest "out" (default m/20, m/10, m/4, m/2). */
  guessesPerSide?: readonly number[];
  /** Confidence of the lower bound (default 0.95). */
  confidence?: number;
  /** Seeds which canaries are included and the model's initial order (reproducible audits); OS entropy without it. */
  seed?: number;
  signal?: AbortSignal;
  onPlan?: (plan: DpSgdPlan) => void;
  onEpoch?: (stats: DpEpochStats) => void;
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number }) => void;
  /** 1 always; 0 only in the test that shows the audit catches a DP-SGD without noise. */
  noiseScale?: number;
}

export interface GuessOutcome {
  /** k guessed "in" and k guessed "out". */
  perSide: number;
  correct: number;
  /** The lower bound this k alone gives, at the Bonferroni-corrected confidence. */
  epsilonLower: number;
}

export interface CanaryAuditResult {
  plan: DpSgdPlan;
  /** The accountant's ε for the whole run. */
  claimedEpsilon: number;
  delta: number;
  confidence: number;
  canaries: number;
  included: number;
  outcomes: GuessOutcome[];
  /** The largest bound over the k tried: the audit's result. */
  epsilonLower: number;
  /** The audit measured more leakage than the accountant allows: the DP implementation is broken. */
  violated: boolean;
  history: DpEpochStats[];
}

/** Per canary, the model's log-probability of the canary's label: larger for "in". */
export async function canaryScores(classifier: OnnxClassifier, canaries: LabelledRows): Promise<Float64Array> {
  const output = await classifier.predict(canaries.x);
  const k = output.shape[1];
  const scores = new Float64Array(canaries.labels.length);
  for (let i = 0; i < scores.length; i++) {
    const row = output.data.subarray(i * k, (i + 1) * k);
    const label = canaries.labels[i];
    if (classifier.outputKind === "probs") {
      scores[i] = Math.log(Math.max(row[label], Number.MIN_VALUE));
      continue;
    }
    scores[i] = row[label] - logSumExp(row);
  }
  return scores;
}

function defaultPerSide(m: number): number[] {
  return [...new Set([m / 20, m / 10, m / 4, m / 2].map((k) => Math.max(1, Math.floor(k))))];
}

/** Trains once with DP-SGD on the data and a random half of the canaries, then bounds ε from below. */
export async function auditDpSgd(o: CanaryAuditOptions): Promise<CanaryAuditResult> {
  const m = o.canaries.labels.length;
  const confidence = o.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new AegisError("BAD_OPTION", `--confidence must be in (0, 1), not ${confidence}`);
  const perSide = o.guessesPerSide ?? defaultPerSide(m);
  for (const k of perSide) {
    if (!(Number.isInteger(k) && k >= 1 && 2 * k <= m))
      throw new AegisError("BAD_OPTION", `each --guesses k must be a whole number from 1 to ${Math.floor(m / 2)} (half the ${m} canaries), not ${k}`);
  }
  const random = o.seed === undefined ? SecureRandom.fromEntropy() : SecureRandom.fromSeed(`canaries:${o.seed}`);
  const included = Array.from({ length: m }, () => random.uniform() < 0.5);
  const chosen = included.flatMap((inside, i) => (inside ? [i] : []));
  const n = o.data.x.shape[0];
  const sample = o.data.x.data.length / Math.max(1, n);
  const x = new Float32Array((n + chosen.length) * sample);
  x.set(o.data.x.data);
  x.set(gatherRows(o.canaries.x, chosen).data, n * sample);
  const training = { x: float32([n + chosen.length, ...o.data.x.shape.slice(1)], x), labels: [...o.data.labels, ...chosen.map((i) => o.canaries.labels[i])] };

  const { plan, history } = await trainDpSgd(o.classifier, training, o.settings, {
    optimizer: o.optimizer,
    seed: o.seed,
    signal: o.signal,
    onPlan: o.onPlan,
    onEpoch: o.onEpoch,
    onStep: o.onStep,
    noiseScale: o.noiseScale,
  });
  const scores = await canaryScores(o.classifier, o.canaries);
  const corrected = 1 - (1 - confidence) / perSide.length;
  const outcomes = perSide.map((k) => {
    const counts = scoreGuesses(scores, included, k, k);
    return { perSide: k, correct: counts.correct, epsilonLower: oneRunEpsilonLowerBound(counts, plan.delta, corrected) };
  });
  const epsilonLower = Math.max(...outcomes.map((g) => g.epsilonLower));
  const claimedEpsilon = history.at(-1)?.epsilon ?? plan.epsilon;
  return {
    plan,
    claimedEpsilon,
    delta: plan.delta,
    confidence,
    canaries: m,
    included: chosen.length,
    outcomes,
    epsilonLower,
    violated: epsilonLower > claimedEpsilon,
    history,
  };
}
