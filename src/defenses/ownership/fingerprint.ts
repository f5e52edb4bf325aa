/**
 * Fingerprinting a deployed classifier without changing it, from two papers:
 * - IPGuard — Cao, Jia & Gong, "IPGuard: Protecting Intellectual Property of Deep Neural
 *   Networks via Fingerprinting the Classification Boundary", AsiaCCS 2021: the fingerprint
 *   is a set of inputs near the model's decision boundary, each with the label the model
 *   gives it; a suspect model whose labels match on many of them was derived from it, since
 *   an independently trained model draws its boundary elsewhere (the matching rate).
 * - Conferrable adversarial examples — Lukas, Zhang & Kerschbaum, "Deep Neural Network
 *   Fingerprinting by Conferrable Adversarial Examples", ICLR 2021: keep the inputs whose
 *   label transfers to surrogate copies of the model but not to independently trained
 *   reference models, judged by an ensemble of both that the owner trains locally.
 * How it is built here: the owner's labelled data (which the victim was not trained on) is
 * split in halves. On the first, surrogates learn the victim's answers (copies, as an
 * extraction attacker makes them) and selection references learn the true labels
 * (independent models). From seeds of that half, a targeted iterative sign-gradient walk
 * (steps of `stepSize`) carries each seed across the victim's boundary into its runner-up
 * class — IPGuard's nearest boundary — and stops once the victim gives that class with a
 * probability margin of `margin` (IPGuard's k, on probabilities rather than logits). With
 * `method: "conferrable"` the walk follows the summed gradients of the victim, the
 * surrogates (towards the target) and the selection references (towards the seed's label),
 * and also waits for every surrogate to agree: Lukas et al.'s ensemble. Candidates are
 * scored by the share of surrogates that give their label times the share of selection
 * references that do not, and the best `count` are kept.
 * Deviation: Lukas et al. optimise a conferrability score with a distance bound; here the
 * ensemble's cross-entropies are summed, L1-normalised per model, and selection does the rest.
 * Calibration: references trained on the other half, never seen by the walk or the
 * selection, give each point's chance that an independent model matches it,
 * p_i = (m_i + 1)/(R + 2) from its m_i matches out of R (Laplace's rule, so that a point no
 * reference matched does not count as impossible to match). Under the null "the suspect is
 * one more independent model" the number of matches is Poisson-binomial with those p_i,
 * points taken as independent (an approximation the report states); the suspect's p-value
 * is that tail at its count. The threshold is the larger of the fewest matches whose tail
 * is ≤ `alpha` and the midpoint between the references' mean matching rate and 100%: the
 * references learn from half of the owner's data, and a competitor trained on more data
 * comes closer to the victim than they do (measured: 64% against their 38%), which the
 * Poisson-binomial tail alone would call a copy.
 */
import { type StolenModelSpec, trainStolen } from "../../attacks/index.js";
import { createRng } from "../../data/random.js";
import {
  ARCHITECTURES,
  type Architecture,
  type Classifier,
  type OnnxClassifier,
  type Predictor,
  probabilitiesOf,
  type RuntimeOptions,
} from "../../engine/index.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import type { Model } from "../../onnx/ir.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";

export const FINGERPRINT_PAPERS = [
  "Cao, Jia & Gong 2021, IPGuard: Protecting Intellectual Property of Deep Neural Networks via Fingerprinting the Classification Boundary",
  "Lukas, Zhang & Kerschbaum 2021, Deep Neural Network Fingerprinting by Conferrable Adversarial Examples",
];

export interface FingerprintParams {
  /** ipguard: the walk follows the victim alone; conferrable: the victim, the surrogates and the selection references. */
  method: "ipguard" | "conferrable";
  /** Points kept in the fingerprint. */
  count: number;
  /** Seeds walked to the boundary, of which `count` are kept (at most the data's size). */
  candidates: number;
  /** Probability margin over the runner-up at which a walk stops (IPGuard's k). */
  margin: number;
  /** L∞ size of one step of the walk. */
  stepSize: number;
  /** Most steps of a walk; a seed that has not crossed by then is dropped. */
  maxIter: number;
  /** Surrogates distilled from the victim's answers, for selection (0: IPGuard alone). */
  surrogates: number;
  /** References trained on the true labels: half select, half calibrate (at least 1 each). */
  references: number;
  /** Architecture of the surrogates and references: an Aegis architecture, or the victim's own re-initialised. */
  architecture: Architecture | "like";
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Chance of accusing an independent model the threshold allows. */
  alpha: number;
  seed: number;
}

export const FINGERPRINT_DEFAULTS: FingerprintParams = {
  method: "conferrable",
  count: 100,
  candidates: 1000,
  margin: 0.1,
  stepSize: 0.01,
  maxIter: 100,
  surrogates: 4,
  references: 8,
  architecture: "mlp",
  epochs: 10,
  batchSize: 64,
  learningRate: 1e-3,
  alpha: 1e-3,
  seed: 0,
};

/** What verification needs: the points, their labels, and the null model of an independent suspect. */
export interface Fingerprint {
  format: "aegis-fingerprint";
  version: 1;
  papers: string[];
  /** The model fingerprinted, as the user named it. */
  victim: string;
  inputShape: number[];
  numClasses: number;
  clipRange: [number, number];
  /** [count, ...inputShape] */
  x: Tensor<"float32">;
  /** The victim's label of each point. */
  labels: number[];
  /** Each point's chance that an independent model matches it (from the calibration references). */
  nullMatch: number[];
  alpha: number;
  /** Fewest matches that verify: the tail of the null at this count is ≤ alpha. */
  threshold: number;
  /** Matching rates measured when the fingerprint was made. */
  calibration: { surrogates: number[]; selectionReferences: number[]; references: number[] };
  params: Omit<FingerprintParams, "count">;
  /** Seeds walked, walks that crossed the boundary. */
  candidates: { walked: number; crossed: number };
}

export interface MakeFingerprintOptions {
  /** The victim's ONNX graph, for surrogates and references of its own architecture. */
  victimModel?: Model;
  victimName: string;
  runtime?: RuntimeOptions;
  signal?: AbortSignal;
  onStatus?: (message: string) => void;
}

/** Walks `data`'s rows to the victim's boundary, trains the ensemble, selects and calibrates. */
export async function makeFingerprint(
  victim: Classifier,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  params: FingerprintParams,
  options: MakeFingerprintOptions,
): Promise<Fingerprint> {
  checkParams(params, data.x.shape[0]);
  const rows = createRng(params.seed).shuffle(Array.from({ length: data.x.shape[0] }, (_, i) => i));
  const half = Math.floor(rows.length / 2);
  const [selectionRows, calibrationRows] = [rows.slice(0, half), rows.slice(half)];
  const walked = Math.min(params.candidates, half);
  const seeds = gatherRows(data.x, selectionRows.slice(0, walked));
  const seedProbs = probabilitiesOf(victim, await victim.predict(seeds));
  const seedLabels = labelsOf(seedProbs);
  const targets = seedLabels.map((_, i) => runnerUp(seedProbs, i));
  const part = (r: readonly number[]) => ({ x: gatherRows(data.x, r), labels: r.map((i) => data.labels[i]) });
  const ensemble = await trainEnsemble(victim, part(selectionRows), part(calibrationRows), params, options);
  options.onStatus?.(`walking ${walked} seeds across the boundary`);
  const rateOf = async (models: readonly Predictor[], x: Tensor<"float32">, labels: readonly number[]) =>
    Promise.all(models.map(async (m) => matchesOf(await m.predict(x), labels)));
  try {
    const walk = await walkToBoundary(victim, ensemble, seeds, { targets, seedLabels }, params, options.signal);
    const crossed = walk.crossed.flatMap((ok, i) => (ok ? [i] : []));
    if (crossed.length < params.count) {
      throw new AegisError(
        "BAD_OPTION",
        `only ${crossed.length} of ${walked} seeds reached a margin of ${params.margin} in ${params.maxIter} steps, fewer than the ${params.count} points asked for; raise --candidates or maxIter, or lower the margin`,
      );
    }
    const candidates = { x: gatherRows(walk.x, crossed), labels: crossed.map((i) => targets[i]) };
    options.onStatus?.(`scoring ${crossed.length} candidates on ${ensemble.surrogates.length} surrogates and ${ensemble.selection.length} references`);
    const surrogateHits = await rateOf(ensemble.surrogates, candidates.x, candidates.labels);
    const selectionHits = await rateOf(ensemble.selection, candidates.x, candidates.labels);
    const score = candidates.labels.map((_, i) => shareOf(surrogateHits, i) * (1 - shareOf(selectionHits, i)));
    const chosen = candidates.labels
      .map((_, i) => i)
      .sort((a, b) => score[b] - score[a] || a - b)
      .slice(0, params.count);
    const x = gatherRows(candidates.x, chosen);
    const labels = chosen.map((i) => candidates.labels[i]);
    const referenceHits = await rateOf(ensemble.calibration, x, labels);
    const nullMatch = labels.map((_, i) => (referenceHits.reduce((s, hits) => s + hits[i], 0) + 1) / (ensemble.calibration.length + 2));
    const rate = (hits: readonly number[][], rows: readonly number[]) => hits.map((h) => rows.reduce((s, i) => s + h[i], 0) / rows.length);
    const { count: _, ...rest } = params;
    return {
      format: "aegis-fingerprint",
      version: 1,
      papers: FINGERPRINT_PAPERS,
      victim: options.victimName,
      inputShape: [...victim.inputShape],
      numClasses: victim.numClasses,
      clipRange: [victim.clipRange[0], victim.clipRange[1]],
      x,
      labels,
      nullMatch,
      alpha: params.alpha,
      threshold: Math.max(
        nullThreshold(nullMatch, params.alpha),
        Math.ceil(
          (labels.length *
            (1 +
              mean(
                rate(
                  referenceHits,
                  labels.map((_, i) => i),
                ),
              ))) /
            2,
        ),
      ),
      calibration: {
        surrogates: rate(surrogateHits, chosen),
        selectionReferences: rate(selectionHits, chosen),
        references: rate(
          referenceHits,
          labels.map((_, i) => i),
        ),
      },
      params: rest,
      candidates: { walked, crossed: crossed.length },
    };
  } finally {
    for (const m of [...ensemble.surrogates, ...ensemble.selection, ...ensemble.calibration]) await m.release();
  }
}

export interface FingerprintVerdict {
  /** Points on which the suspect gives the victim's label. */
  matches: number;
  points: number;
  matchingRate: number;
  /** The threshold as a number of matches, and as a rate. */
  threshold: number;
  thresholdRate: number;
  /** Chance that an independent model matches at least as many points (Poisson-binomial null). */
  pValue: number;
  alpha: number;
  /** True when the suspect matches at least `threshold` points: it was derived from the victim. */
  stolen: boolean;
}

/** The suspect's labels on the fingerprint against the victim's: its matching rate, p-value and verdict. */
export async function verifyFingerprint(suspect: Predictor, fingerprint: Fingerprint): Promise<FingerprintVerdict> {
  const shape = suspect.inputShape;
  if (sizeOf(shape) !== sizeOf(fingerprint.inputShape) || suspect.numClasses !== fingerprint.numClasses) {
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the suspect takes inputs of shape [${shape.join(", ")}] into ${suspect.numClasses} classes, but the fingerprint was made on [${fingerprint.inputShape.join(", ")}] into ${fingerprint.numClasses}; a model of another task cannot be a copy`,
    );
  }
  const x = float32([fingerprint.labels.length, ...shape], fingerprint.x.data);
  const hits = matchesOf(await suspect.predict(x), fingerprint.labels);
  const matches = hits.reduce((s, h) => s + h, 0);
  const points = fingerprint.labels.length;
  return {
    matches,
    points,
    matchingRate: matches / points,
    threshold: fingerprint.threshold,
    thresholdRate: fingerprint.threshold / points,
    pValue: poissonBinomialTail(fingerprint.nullMatch)[matches],
    alpha: fingerprint.alpha,
    stolen: matches >= fingerprint.threshold,
  };
}

/** tail[m] = P(M ≥ m) for M the number of successes of independent trials with chances p (length p.length + 2, the last 0). */
export function poissonBinomialTail(p: readonly number[]): number[] {
  let pmf = [1];
  for (const pi of p) {
    const next = new Array<number>(pmf.length + 1).fill(0);
    for (let m = 0; m < pmf.length; m++) {
      next[m] += pmf[m] * (1 - pi);
      next[m + 1] += pmf[m] * pi;
    }
    pmf = next;
  }
  const tail = new Array<number>(pmf.length + 1).fill(0);
  for (let m = pmf.length - 1; m >= 0; m--) tail[m] = Math.min(1, tail[m + 1] + pmf[m]);
  return tail;
}

/** The fewest matches whose null tail probability is at most alpha (points + 1 when none is: nothing verifies). */
export function nullThreshold(nullMatch: readonly number[], alpha: number): number {
  const tail = poissonBinomialTail(nullMatch);
  const m = tail.findIndex((t) => t <= alpha);
  return m < 0 ? nullMatch.length + 1 : m;
}

interface Walk {
  x: Tensor<"float32">;
  crossed: boolean[];
}

/**
 * Sign-gradient steps on the summed, per-model L1-normalised cross-entropies: the victim's
 * and the surrogates' towards each row's target, the selection references' towards the
 * seed's own label (Lukas et al.'s ensemble: transfer to copies, not to independent
 * models). A row stops once the victim gives its target with `margin` over the runner-up
 * and every surrogate agrees.
 */
async function walkToBoundary(
  victim: Classifier,
  ensemble: Ensemble,
  seeds: Tensor<"float32">,
  labels: { targets: readonly number[]; seedLabels: readonly number[] },
  params: FingerprintParams,
  signal?: AbortSignal,
): Promise<Walk> {
  const n = seeds.shape[0];
  const d = sizeOf(seeds.shape.slice(1));
  const [lo, hi] = victim.clipRange;
  const conferrable = params.method === "conferrable";
  const x = Float32Array.from(seeds.data);
  const crossed = new Array<boolean>(n).fill(false);
  let active = Array.from({ length: n }, (_, i) => i);
  for (let step = 0; step <= params.maxIter && active.length > 0; step++) {
    if (signal?.aborted) throw new AegisError("INTERRUPTED", "fingerprinting was interrupted; nothing was written");
    const batch = gatherRows(float32(seeds.shape, x), active);
    const targets = active.map((i) => labels.targets[i]);
    const terms = [
      { model: victim, y: targets },
      ...(conferrable ? ensemble.surrogates.map((model) => ({ model, y: targets })) : []),
      ...(conferrable ? ensemble.selection.map((model) => ({ model, y: active.map((i) => labels.seedLabels[i]) })) : []),
    ];
    const runs = await Promise.all(terms.map((t) => t.model.valueAndGradient(batch, t.y, { loss: "ce" })));
    const agree = (j: number) =>
      marginOf(probabilitiesOf(victim, runs[0].output), j, targets[j]) >= params.margin &&
      (!conferrable || runs.slice(1, 1 + ensemble.surrogates.length).every((r) => argmaxRow(r.output, j) === targets[j]));
    const still: number[] = [];
    active.forEach((row, j) => {
      if (agree(j)) {
        crossed[row] = true;
        return;
      }
      if (step === params.maxIter) return;
      still.push(row);
      const direction = new Float32Array(d);
      for (const { grad } of runs) {
        let norm = 0;
        for (let k = 0; k < d; k++) norm += Math.abs(grad.data[j * d + k]);
        if (norm > 0) for (let k = 0; k < d; k++) direction[k] += grad.data[j * d + k] / norm;
      }
      for (let k = 0; k < d; k++) x[row * d + k] = Math.min(hi, Math.max(lo, x[row * d + k] - params.stepSize * Math.sign(direction[k])));
    });
    active = still;
  }
  return { x: float32(seeds.shape, x), crossed };
}

/** p[target] minus the largest other probability of a row. */
function marginOf(probs: Tensor<"float32">, row: number, target: number): number {
  const k = probs.shape[1];
  let other = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (j !== target) other = Math.max(other, probs.data[row * k + j]);
  return probs.data[row * k + target] - other;
}

interface LabelledData {
  x: Tensor<"float32">;
  labels: readonly number[];
}

interface Ensemble {
  surrogates: OnnxClassifier[];
  selection: OnnxClassifier[];
  calibration: OnnxClassifier[];
}

/**
 * Surrogates learn the victim's answers on the owner's data (what a copycat would do);
 * references learn its true labels (what an honest competitor would do). Each has its own
 * seed of weights and shuffling; every model is released by the caller.
 */
async function trainEnsemble(
  victim: Classifier,
  selectionData: LabelledData,
  calibrationData: LabelledData,
  params: FingerprintParams,
  options: MakeFingerprintOptions,
): Promise<Ensemble> {
  const answers = probabilitiesOf(victim, await victim.predict(selectionData.x));
  const truth = (d: LabelledData) => ({ x: d.x, answers: oneHot(d.labels, victim.numClasses) });
  const schedule = { epochs: params.epochs, batchSize: params.batchSize, learningRate: params.learningRate };
  const ensemble: Ensemble = { surrogates: [], selection: [], calibration: [] };
  const selectionCount = Math.floor(params.references / 2);
  const jobs: { kind: keyof Ensemble; data: { x: Tensor<"float32">; answers: Tensor<"float32"> } }[] = [
    ...Array.from({ length: params.surrogates }, () => ({ kind: "surrogates" as const, data: { x: selectionData.x, answers } })),
    ...Array.from({ length: params.references }, (_, i) =>
      i < selectionCount ? { kind: "selection" as const, data: truth(selectionData) } : { kind: "calibration" as const, data: truth(calibrationData) },
    ),
  ];
  try {
    for (const [i, job] of jobs.entries()) {
      options.onStatus?.(`training ${job.kind === "surrogates" ? "surrogate" : "reference"} ${i + 1} of ${jobs.length}`);
      const spec: StolenModelSpec = {
        architecture: params.architecture,
        victimModel: options.victimModel,
        seed: params.seed + 1 + i,
        runtime: options.runtime,
      };
      ensemble[job.kind].push(await trainStolen(victim, spec, schedule, job.data, options.signal));
    }
  } catch (e) {
    for (const m of [...ensemble.surrogates, ...ensemble.selection, ...ensemble.calibration]) await m.release();
    throw e;
  }
  return ensemble;
}

function checkParams(p: FingerprintParams, rows: number): void {
  const whole = (name: keyof FingerprintParams, min: number) => {
    const v = p[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new AegisError("BAD_OPTION", `${name} must be a whole number ≥ ${min}, got ${v}`);
  };
  whole("count", 1);
  whole("candidates", 1);
  whole("maxIter", 1);
  whole("surrogates", 0);
  whole("references", 2);
  whole("epochs", 1);
  whole("batchSize", 1);
  if (p.architecture !== "like" && !(ARCHITECTURES as readonly string[]).includes(p.architecture))
    throw new AegisError("BAD_OPTION", `architecture must be ${ARCHITECTURES.join(", ")} or like, not "${p.architecture}"`);
  if (p.candidates < p.count) throw new AegisError("BAD_OPTION", `candidates (${p.candidates}) must be at least count (${p.count})`);
  if (Math.floor(rows / 2) < p.count)
    throw new AegisError("BAD_OPTION", `the data holds ${rows} samples; half of them seed the walks, fewer than the ${p.count} fingerprint points asked for`);
  if (!(p.margin >= 0 && p.margin < 1)) throw new AegisError("BAD_OPTION", `margin is a probability difference in [0, 1), got ${p.margin}`);
  if (!(p.stepSize > 0)) throw new AegisError("BAD_OPTION", `stepSize must be positive, got ${p.stepSize}`);
  if (!(p.alpha > 0 && p.alpha < 1)) throw new AegisError("BAD_OPTION", `alpha must be in (0, 1), got ${p.alpha}`);
  if (!(p.learningRate > 0)) throw new AegisError("BAD_OPTION", `learningRate must be positive, got ${p.learningRate}`);
}

/** 1 where a row's top class is the label, else 0. */
function matchesOf(outputs: Tensor<"float32">, labels: readonly number[]): number[] {
  return labels.map((label, i) => (argmaxRow(outputs, i) === label ? 1 : 0));
}

function shareOf(hits: readonly number[][], i: number): number {
  return hits.length === 0 ? 1 : hits.reduce((s, h) => s + h[i], 0) / hits.length;
}

function labelsOf(outputs: Tensor<"float32">): number[] {
  return Array.from({ length: outputs.shape[0] }, (_, i) => argmaxRow(outputs, i));
}

function oneHot(labels: readonly number[], k: number): Tensor<"float32"> {
  const out = new Float32Array(labels.length * k);
  labels.forEach((label, i) => {
    out[i * k + label] = 1;
  });
  return float32([labels.length, k], out);
}

/** The second most likely class of a row. */
function runnerUp(probs: Tensor<"float32">, row: number): number {
  const k = probs.shape[1];
  const top = argmaxRow(probs, row);
  let best = -1;
  for (let j = 0; j < k; j++) if (j !== top && (best < 0 || probs.data[row * k + j] > probs.data[row * k + best])) best = j;
  return best;
}

function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}
