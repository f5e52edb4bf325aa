/**
 * Fingerprinting a deployed classifier without changing it, from two papers:
 * - IPGuard — Cao, Jia & Gong, "IPGuard: Protecting Intellectual Property of Deep Neural
 *   Networks via Fingerprinting the Classification Boundary", AsiaCCS 2021: the fingerprint
 *   is a set of inputs near the model's decision boundary, each with the label the model
 *   gives it; a suspect model whose labels match on many of them was derived from it, since
 *   an independently trained model draws its boundary elsewhere (the matching rate).
 * - Conferrable adversarial examples — Lukas, Zhang & Kerschbaum, "Deep Neural Network
 *   Fingerprinting by Conferrable Adversarial Examples", ICLR 2021: adversarial examples
 *   whose target label transfers to surrogate copies of the model but not to independently
 *   trained reference models, optimised on an ensemble of both that the owner trains
 *   locally, and judged on copies and references that took no part in the optimisation.
 * How it is built here: three ensembles of `surrogates` models that learn the victim's
 * answers (copies, as an extraction attacker makes them) and `references` models that learn
 * the true labels (independent models), each model with its own seed: the walk ensemble on
 * a third of the owner's labelled data (which the victim was not trained on), the selection
 * and calibration ensembles on the other two thirds, where the walks never start. These
 * are the larger share so that their references are as strong as a competitor's: weak
 * references (trained on fewer digits) agree with the victim less than honest models
 * trained on more do, and a threshold set between them and the surrogates accuses those.
 * - Walk: from seeds of the first third, a targeted sign-gradient walk (steps of `stepSize`,
 *   kept within an L∞ ball of `epsilon` around the seed) carries each seed into its runner-up
 *   class — IPGuard's nearest boundary. With `method: "conferrable"` it follows the summed,
 *   per-model L1-normalised cross-entropy gradients of the victim and the walk surrogates
 *   (towards the target) and of the walk references (towards the seed's own label), and stops
 *   once the victim and every walk surrogate give the target with a probability margin of
 *   `margin`; `method: "ipguard"` walks on the victim alone.
 * - Selection: the points the victim labels as the target are scored on the selection
 *   ensemble, which the walk never saw: the selection surrogates' mean probability of the
 *   label times one minus the selection references' (Lukas et al.'s conferrability, on
 *   held-out models). The best `count` are kept.
 * - Calibration: the calibration ensemble, which neither walked nor selected, measures the
 *   fingerprint as a suspect would meet it. Its `calibrationReferences` references are the
 *   sample of independent models: the threshold is the upper (1 − alpha) prediction bound of
 *   one more independent model's matching rate, mean + t(1 − alpha; R − 1)·s·√(1 + 1/R) over
 *   their R rates (Student's t, since s is estimated from few models), with s never below
 *   the binomial spread of one model's rate on `count` points. This takes the spread between
 *   models into account, which a per-point null (points taken as independent, version 2)
 *   ignores: versions 1 and 2 of the file set the threshold that way and accused honest
 *   models. Every reference learns from its own bootstrap sample of its ensemble's part,
 *   so that the references differ in data as well as seed, as independent competitors do.
 *   The calibration surrogates measure the power: `make` warns when one of them would not
 *   verify. Lukas et al. likewise judge on surrogates and references held out of the
 *   generation, and set the decision threshold so that references are rejected.
 * Deviation: Lukas et al. optimise a conferrability score by gradient descent on the
 * ensemble's softmax outputs; here the walk sums cross-entropies and selection scores the
 * conferrability on held-out models instead.
 */
import { type StolenModelSpec, trainStolen } from "../../attacks/index.js";
import { studentUpperQuantile, studentUpperTail } from "../../binomial.js";
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

export const MISTAKE_FINGERPRINT_PAPER = "Guan, Liang & He 2022, Are You Stealing My Model? Sample Correlation for Fingerprinting Deep Neural Networks (SAC-w)";

export const FINGERPRINT_PAPERS = [
  "Cao, Jia & Gong 2021, IPGuard: Protecting Intellectual Property of Deep Neural Networks via Fingerprinting the Classification Boundary",
  "Lukas, Zhang & Kerschbaum 2021, Deep Neural Network Fingerprinting by Conferrable Adversarial Examples",
];

export interface FingerprintParams {
  /**
   * ipguard: the walk follows the victim alone; conferrable: the victim, the walk surrogates and the walk references;
   * errors: the victim's own mistakes on natural data (Guan et al.'s SAC-w), see makeMistakeFingerprint.
   */
  method: "ipguard" | "conferrable" | "errors";
  /** Points kept in the fingerprint; with method errors, the most of the victim's mistakes kept. */
  count: number;
  /** Method errors: points the victim labels right, kept so that verification measures a suspect's own error rate. */
  correct: number;
  /** Seeds walked across the boundary, of which `count` are kept (at most a third of the data). */
  candidates: number;
  /** Probability margin over the runner-up at which a walk stops, for the victim and each walk surrogate. */
  margin: number;
  /** L∞ bound of a point's distance from its seed. */
  epsilon: number;
  /** L∞ size of one step of the walk. */
  stepSize: number;
  /** Most steps of a walk; a seed the victim does not give the target by then is dropped. */
  maxIter: number;
  /** Surrogates distilled from the victim's answers in each of the walk, selection and calibration ensembles. */
  surrogates: number;
  /** References trained on the true labels in each of the walk and selection ensembles (at least 1). */
  references: number;
  /** References of the calibration ensemble, whose matching rates are the sample of independent models the threshold comes from (at least 3). */
  calibrationReferences: number;
  /** Architecture of the surrogates and references: an Aegis architecture, or the victim's own re-initialised. */
  architecture: Architecture | "like";
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Chance that an independent model reaches the threshold, under the null fitted on the calibration references. */
  alpha: number;
  seed: number;
}

export const FINGERPRINT_DEFAULTS: FingerprintParams = {
  method: "conferrable",
  count: 100,
  correct: 2000,
  candidates: 600,
  margin: 0.5,
  epsilon: 0.3,
  stepSize: 0.01,
  maxIter: 100,
  surrogates: 2,
  references: 2,
  calibrationReferences: 6,
  architecture: "mlp",
  epochs: 10,
  batchSize: 64,
  learningRate: 1e-3,
  alpha: 0.01,
  seed: 0,
};

/** Matching rates, on the kept points, of the models of one ensemble. */
export interface EnsembleRates {
  surrogates: number[];
  references: number[];
}

/** Matching rates of independent models: their mean and standard deviation over `references` models. */
export interface IndependentNull {
  mean: number;
  sd: number;
  references: number;
}

/**
 * Version 4 (method errors): the line through the calibration references' (error rate, share of the
 * victim's mistakes repeated) pairs, and what a prediction bound around it needs.
 */
export interface MistakeLine {
  intercept: number;
  slope: number;
  /** Residual standard deviation about the line (R − 2 degrees of freedom), never below one model's binomial spread. */
  sd: number;
  references: number;
  meanErrorRate: number;
  /** Σ (error rate − mean)² over the references: how far apart their qualities are. */
  errorRateSpread: number;
  /** Each reference: its rows of training data, its error rate on the victim-right points, the share of the victim's mistakes it repeats. */
  fitted: { rows: number; errorRate: number; repeated: number }[];
}

/** Version 4: the first `mistakes` points are the victim's mistakes (its wrong label in `labels`), the rest points it labels right. */
export interface MistakeSample {
  mistakes: number;
  /** The true label of every point. */
  truth: number[];
  line: MistakeLine;
}

/** What verification needs: the points, their labels, and the null model of an independent suspect. */
export interface Fingerprint {
  format: "aegis-fingerprint";
  /**
   * 3: the threshold and p-value come from `independent`, the spread of the calibration references' rates;
   * 2 (still read): three ensembles, the p-value from `nullMatch`; 1 (still read): the calibration references alone were held out;
   * 4: method errors, the victim's mistakes judged by `mistakes.line`.
   */
  version: 1 | 2 | 3 | 4;
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
  /** Each point's chance that an independent model matches it (Laplace's rule over the calibration references): which points independent models give away. */
  nullMatch: number[];
  /** Version 3: the null model of an independent suspect's matching rate, from the calibration references' rates. */
  independent?: IndependentNull;
  /** Version 4: the victim's mistakes and the line of honest models' repeated mistakes against their error rate. */
  mistakes?: MistakeSample;
  alpha: number;
  /** Fewest matches that verify; version 4: for a suspect of the references' mean error rate (each suspect gets its own). */
  threshold: number;
  /** Matching rates measured when the fingerprint was made: `surrogates` and `references` are the calibration ensemble's, held out of the walk and the selection. */
  calibration: EnsembleRates & { walk?: EnsembleRates; selection?: EnsembleRates; selectionReferences?: number[] };
  params: Omit<FingerprintParams, "count">;
  /** Seeds walked, walks that reached the target. */
  candidates: { walked: number; crossed: number };
}

export interface MakeFingerprintOptions {
  /** The victim's ONNX graph, for surrogates and references of its own architecture. */
  victimModel?: Model;
  victimName: string;
  /**
   * Labelled data of the victim's own distribution — its training data, which an owner has —
   * for the references, cut in three (one part per ensemble). Without it they learn from the
   * fingerprint data; references from another distribution than the victim's agree with it
   * less than honest competitors trained like it do, and the threshold then accuses those.
   */
  referenceData?: LabelledData;
  runtime?: RuntimeOptions;
  signal?: AbortSignal;
  onStatus?: (message: string) => void;
}

/** Trains the three ensembles, walks seeds of the walk ensemble's third, selects and calibrates on models that never walked. */
export async function makeFingerprint(
  victim: Classifier,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  params: FingerprintParams,
  options: MakeFingerprintOptions,
): Promise<Fingerprint> {
  if (params.method === "errors") return makeMistakeFingerprint(victim, data, params, options);
  checkParams(params, data.x.shape[0]);
  const referenceRows = options.referenceData?.x.shape[0];
  if (referenceRows !== undefined && referenceRows < 3 * params.batchSize)
    throw new AegisError(
      "BAD_OPTION",
      `the references' data holds ${referenceRows} samples; each ensemble trains on a third of it, give at least ${3 * params.batchSize}`,
    );
  const rows = createRng(params.seed).shuffle(Array.from({ length: data.x.shape[0] }, (_, i) => i));
  const third = Math.floor(rows.length / 3);
  const [walkRows, heldOutRows] = [rows.slice(0, third), rows.slice(third)];
  const walked = Math.min(params.candidates, third);
  const seeds = gatherRows(data.x, walkRows.slice(0, walked));
  const seedProbs = probabilitiesOf(victim, await victim.predict(seeds));
  const seedLabels = labelsOf(seedProbs);
  const targets = seedLabels.map((_, i) => runnerUp(seedProbs, i));
  const ensembles: Ensemble[] = [];
  try {
    const part = (from: LabelledData, r: readonly number[]) => ({ x: gatherRows(from.x, r), labels: r.map((i) => from.labels[i]) });
    const [walkData, heldOutData] = [part(data, walkRows), part(data, heldOutRows)];
    const referenceThirds = options.referenceData ? thirdsOf(options.referenceData, params.seed) : [walkData, heldOutData, heldOutData];
    for (const [k, role] of (["walk", "selection", "calibration"] as const).entries()) {
      const training = { surrogates: k === 0 ? walkData : heldOutData, references: referenceThirds[k] };
      const counts = { surrogates: params.surrogates, references: role === "calibration" ? params.calibrationReferences : params.references };
      ensembles.push(await trainEnsemble(victim, training, role, counts, params, 1 + k * (params.surrogates + params.references), options));
    }
    const [walkModels, selection, calibration] = ensembles;
    options.onStatus?.(`walking ${walked} seeds across the boundary`);
    const walk = await walkToBoundary(victim, walkModels, seeds, { targets, seedLabels }, params, options.signal);
    const walkedLabels = labelsOf(await victim.predict(walk));
    const crossed = targets.flatMap((t, i) => (walkedLabels[i] === t ? [i] : []));
    if (crossed.length < params.count) {
      throw new AegisError(
        "BAD_OPTION",
        `the victim gives the target class to only ${crossed.length} of ${walked} walked seeds, fewer than the ${params.count} points asked for; raise --param candidates, maxIter or epsilon`,
      );
    }
    const candidates = { x: gatherRows(walk, crossed), labels: crossed.map((i) => targets[i]) };
    options.onStatus?.(`scoring ${crossed.length} candidates on the selection ensemble`);
    const surrogateShare = await meanProbabilityOf(selection.surrogates, candidates);
    const referenceShare = await meanProbabilityOf(selection.references, candidates);
    const score = candidates.labels.map((_, i) => (selection.surrogates.length > 0 ? surrogateShare[i] : 1) * (1 - referenceShare[i]));
    const chosen = candidates.labels
      .map((_, i) => i)
      .sort((a, b) => score[b] - score[a] || a - b)
      .slice(0, params.count);
    const kept = { x: gatherRows(candidates.x, chosen), labels: chosen.map((i) => candidates.labels[i]) };
    const calibrationHits = await hitsOf(calibration.references, kept);
    const calibrationRates = { surrogates: ratesOf(await hitsOf(calibration.surrogates, kept)), references: ratesOf(calibrationHits) };
    const ensembleRates = async (e: Ensemble) => ({
      surrogates: ratesOf(await hitsOf(e.surrogates, kept)),
      references: ratesOf(await hitsOf(e.references, kept)),
    });
    const nullMatch = kept.labels.map((_, i) => (calibrationHits.reduce((s, hits) => s + hits[i], 0) + 1) / (calibrationHits.length + 2));
    const points = kept.labels.length;
    const independent = independentNull(calibrationHits, points);
    const threshold = Math.ceil(points * (independent.mean + predictionMultiplier(independent.references, params.alpha) * independent.sd) - 1e-9);
    // Such a fingerprint would call no suspect a copy, not even the victim: refuse to write it.
    if (threshold > points)
      throw new AegisError(
        "BAD_OPTION",
        `even a suspect matching all ${points} points would not be accused at alpha ${params.alpha}: the held-out references match them too often, or too unevenly, for so few points; raise --count (and --param candidates) or calibrationReferences, or --param alpha`,
      );
    const weakest = Math.min(...calibrationRates.surrogates);
    if (calibrationRates.surrogates.length > 0 && weakest * points < threshold) {
      options.onStatus?.(
        `warning: a held-out surrogate matches ${(weakest * 100).toFixed(0)}%, below the threshold (${((threshold / points) * 100).toFixed(0)}%); copies as weak as it will not verify`,
      );
    }
    const { count: _, ...rest } = params;
    return {
      format: "aegis-fingerprint",
      version: 3,
      papers: FINGERPRINT_PAPERS,
      ...victimInterface(victim, options.victimName),
      x: kept.x,
      labels: kept.labels,
      nullMatch,
      independent,
      alpha: params.alpha,
      threshold,
      calibration: { ...calibrationRates, walk: await ensembleRates(walkModels), selection: await ensembleRates(selection) },
      params: rest,
      candidates: { walked, crossed: crossed.length },
    };
  } finally {
    for (const e of ensembles) for (const m of [...e.surrogates, ...e.references]) await m.release();
  }
}

/** What a fingerprint records of the model it was made from: its name and the interface a suspect must share. */
function victimInterface(victim: Classifier, name: string): Pick<Fingerprint, "victim" | "inputShape" | "numClasses" | "clipRange"> {
  return { victim: name, inputShape: [...victim.inputShape], numClasses: victim.numClasses, clipRange: [victim.clipRange[0], victim.clipRange[1]] };
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
  /** Version 4: the suspect's error rate on the points the victim labels right, which its threshold depends on. */
  errorRate?: number;
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
  if (fingerprint.mistakes) return judgeMistakes(labelsOf(await suspect.predict(x)), fingerprint, fingerprint.mistakes);
  const hits = matchesOf(await suspect.predict(x), fingerprint.labels);
  const matches = hits.reduce((s, h) => s + h, 0);
  const points = fingerprint.labels.length;
  return {
    matches,
    points,
    matchingRate: matches / points,
    threshold: fingerprint.threshold,
    thresholdRate: fingerprint.threshold / points,
    pValue: fingerprint.independent ? independentPValue(matches / points, fingerprint.independent) : poissonBinomialTail(fingerprint.nullMatch)[matches],
    alpha: fingerprint.alpha,
    stolen: matches >= fingerprint.threshold,
  };
}

/**
 * Method errors — Guan, Liang & He, "Are You Stealing My Model? Sample Correlation for
 * Fingerprinting Deep Neural Networks", NeurIPS 2022 (SAC-w): a copy learns the victim's
 * answers, so it inherits the victim's mistakes on natural data with the victim's wrong label;
 * an honest model learns the truth and does not. The fingerprint is the labelled natural points
 * of the owner's data where the victim errs (each with its wrong label) and a sample of points
 * where it is right (with their true label). Nothing is optimised, so nothing adversarial is
 * stored and a suspect sees only ordinary digits.
 * Why the statistic is not the plain count of repeated mistakes: honest models repeat some of
 * them too — the victim's mistakes are the ambiguous digits — and the weaker a model, the more
 * it repeats, so a fixed threshold on the count accuses weak honest models or misses strong
 * copies. The statistic is the share of the victim's mistakes the suspect repeats, judged
 * against a line fitted through the calibration references' shares against their own error
 * rates, at the suspect's own error rate: the excess over what an honest model of the same
 * quality repeats. The error rate is measured on the victim-right points, which are disjoint
 * from the mistakes, so the two measurements do not share noise. The threshold is the
 * ordinary-least-squares upper prediction bound at alpha, ŷ(x) + t(1 − α; R − 2)·s·√(1 + 1/R +
 * (x − x̄)²/Sxx), Student's t since the line and s come from few models; it widens where a
 * suspect's error rate lies outside the references' (the line is extrapolated there).
 * The references span quality on purpose: an honest competitor's data size is unknown, so they
 * train on bootstrap samples of the whole reference data, a half, a quarter and an eighth of it
 * in turn, from much weaker than the owner's data allows to as strong. They never train on the
 * fingerprint's points: on `referenceData` when given, else on the rows of the data not kept.
 */
async function makeMistakeFingerprint(
  victim: Classifier,
  data: LabelledData,
  params: FingerprintParams,
  options: MakeFingerprintOptions,
): Promise<Fingerprint> {
  checkMistakeParams(params);
  const rng = createRng(params.seed);
  const victimLabels = labelsOf(await victim.predict(data.x));
  const rows = rng.shuffle(Array.from({ length: data.labels.length }, (_, i) => i));
  const wrong = rows.filter((i) => victimLabels[i] !== data.labels[i]);
  const right = rows.filter((i) => victimLabels[i] === data.labels[i]);
  const [mistakes, correct] = [wrong.slice(0, params.count), right.slice(0, params.correct)];
  if (mistakes.length < MIN_MISTAKES)
    throw new AegisError(
      "BAD_OPTION",
      `the victim errs on only ${wrong.length} of the ${data.labels.length} labelled samples, fewer than the ${MIN_MISTAKES} mistakes the errors method needs; give more labelled data it was not trained on`,
    );
  if (correct.length < MIN_MISTAKES)
    throw new AegisError("BAD_OPTION", `the victim labels only ${right.length} samples right; give more labelled data or another method`);
  const kept = [...mistakes, ...correct];
  const keptSet = new Set(kept);
  const rest = rows.filter((i) => !keptSet.has(i));
  const referenceData = options.referenceData ?? { x: gatherRows(data.x, rest), labels: rest.map((i) => data.labels[i]) };
  if (referenceData.labels.length < 8 * params.batchSize)
    throw new AegisError(
      "BAD_OPTION",
      `the references would train on ${referenceData.labels.length} samples, fewer than ${8 * params.batchSize} (an eighth of them must fill a batch); give --reference-data or more --data`,
    );
  const points = {
    x: gatherRows(data.x, kept),
    labels: kept.map((i) => victimLabels[i]),
    truth: kept.map((i) => data.labels[i]),
  };
  const fitted: MistakeLine["fitted"] = [];
  const hits: number[][] = [];
  const schedule = { epochs: params.epochs, batchSize: params.batchSize, learningRate: params.learningRate };
  for (let r = 0; r < params.calibrationReferences; r++) {
    if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "fingerprinting was interrupted; nothing was written");
    const size = Math.max(params.batchSize, Math.round(referenceData.labels.length / 2 ** (r % 4)));
    options.onStatus?.(`training reference ${r + 1} of ${params.calibrationReferences} on ${size} samples`);
    const seed = params.seed + 1 + r;
    const spec: StolenModelSpec = { architecture: params.architecture, victimModel: options.victimModel, seed, runtime: options.runtime };
    const model = await trainStolen(victim, spec, schedule, truthOf(bootstrap(referenceData, seed, size), victim.numClasses), options.signal);
    try {
      const labels = labelsOf(await model.predict(points.x));
      hits.push(labels.map((l, i) => (l === points.labels[i] ? 1 : 0)));
      fitted.push({ rows: size, ...mistakeStatistic(labels, points, mistakes.length) });
    } finally {
      await model.release();
    }
  }
  const line = fitMistakeLine(fitted, mistakes.length);
  // The model itself repeats every mistake at error rate 0; a bound above 100% there (references far weaker than it, the line
  // extrapolated) would call no faithful copy a copy: refuse to write such a fingerprint.
  const itself = mistakeBound(line, 0, params.alpha).bound;
  if (itself > 1)
    throw new AegisError(
      "BAD_OPTION",
      `even the model itself would not verify: the references err on ${(Math.min(...fitted.map((f) => f.errorRate)) * 100).toFixed(1)}% or more of the points it labels right, too far from its 0% for the line through them to judge faithful copies; raise --param epochs or calibrationReferences, or give more --reference-data`,
    );
  const typical = mistakeBound(line, line.meanErrorRate, params.alpha);
  const { count: _, ...stored } = params;
  return {
    format: "aegis-fingerprint",
    version: 4,
    papers: [MISTAKE_FINGERPRINT_PAPER],
    ...victimInterface(victim, options.victimName),
    x: points.x,
    labels: points.labels,
    nullMatch: points.labels.map((_, i) => (hits.reduce((s, h) => s + h[i], 0) + 1) / (hits.length + 2)),
    mistakes: { mistakes: mistakes.length, truth: points.truth, line },
    alpha: params.alpha,
    threshold: Math.max(0, Math.ceil(mistakes.length * typical.bound - 1e-9)),
    calibration: { surrogates: [], references: fitted.map((f) => f.repeated) },
    params: stored,
    candidates: { walked: data.labels.length, crossed: wrong.length },
  };
}

const MIN_MISTAKES = 10;

/** The share of the first `mistakes` points where `labels` repeats the victim's wrong label, and the error rate on the rest. */
function mistakeStatistic(labels: readonly number[], points: { labels: readonly number[]; truth: readonly number[] }, mistakes: number) {
  let repeated = 0;
  let errors = 0;
  labels.forEach((l, i) => {
    if (i < mistakes) repeated += l === points.labels[i] ? 1 : 0;
    else errors += l === points.truth[i] ? 0 : 1;
  });
  return { repeated: repeated / mistakes, errorRate: errors / (labels.length - mistakes) };
}

/** Least squares of the share repeated on the error rate; s never below one model's binomial spread on `mistakes` points. */
export function fitMistakeLine(fitted: MistakeLine["fitted"], mistakes: number): MistakeLine {
  const r = fitted.length;
  const meanErrorRate = mean(fitted.map((f) => f.errorRate));
  const meanRepeated = mean(fitted.map((f) => f.repeated));
  const errorRateSpread = fitted.reduce((s, f) => s + (f.errorRate - meanErrorRate) ** 2, 0);
  const slope = errorRateSpread > 0 ? fitted.reduce((s, f) => s + (f.errorRate - meanErrorRate) * (f.repeated - meanRepeated), 0) / errorRateSpread : 0;
  const intercept = meanRepeated - slope * meanErrorRate;
  const residual = fitted.reduce((s, f) => s + (f.repeated - intercept - slope * f.errorRate) ** 2, 0) / (r - 2);
  const pooled = (meanRepeated * r * mistakes + 1) / (r * mistakes + 2);
  const sd = Math.sqrt(Math.max(residual, (pooled * (1 - pooled)) / mistakes));
  return { intercept, slope, sd, references: r, meanErrorRate, errorRateSpread, fitted };
}

/** The line's prediction at `errorRate`, its standard error for one more honest model, and the upper bound at alpha. */
function mistakeBound(line: MistakeLine, errorRate: number, alpha: number) {
  const predicted = line.intercept + line.slope * errorRate;
  const leverage = line.errorRateSpread > 0 ? (errorRate - line.meanErrorRate) ** 2 / line.errorRateSpread : 0;
  const se = line.sd * Math.sqrt(1 + 1 / line.references + leverage);
  return { predicted, se, bound: predicted + studentUpperQuantile(alpha, line.references - 2) * se };
}

/** A suspect's verdict on a version 4 fingerprint: its repeated mistakes against the bound at its own error rate. */
function judgeMistakes(labels: readonly number[], fingerprint: Fingerprint, sample: MistakeSample): FingerprintVerdict {
  const points = sample.mistakes;
  const { repeated, errorRate } = mistakeStatistic(labels, { labels: fingerprint.labels, truth: sample.truth }, points);
  const { predicted, se, bound } = mistakeBound(sample.line, errorRate, fingerprint.alpha);
  const threshold = Math.max(0, Math.ceil(points * bound - 1e-9));
  const matches = Math.round(repeated * points);
  return {
    matches,
    points,
    matchingRate: repeated,
    threshold,
    thresholdRate: threshold / points,
    pValue: studentUpperTail((repeated - predicted) / se, sample.line.references - 2),
    alpha: fingerprint.alpha,
    stolen: matches >= threshold,
    errorRate,
  };
}

function checkMistakeParams(p: FingerprintParams): void {
  for (const [name, min] of [
    ["count", MIN_MISTAKES],
    ["correct", MIN_MISTAKES],
    ["calibrationReferences", 4],
    ["epochs", 1],
    ["batchSize", 1],
  ] as const) {
    const v = p[name];
    if (!Number.isInteger(v) || v < min) throw new AegisError("BAD_OPTION", `${name} must be a whole number ≥ ${min}, got ${v}`);
  }
  if (p.architecture !== "like" && !(ARCHITECTURES as readonly string[]).includes(p.architecture))
    throw new AegisError("BAD_OPTION", `architecture must be ${ARCHITECTURES.join(", ")} or like, not "${p.architecture}"`);
  if (!(p.alpha > 0 && p.alpha < 0.5)) throw new AegisError("BAD_OPTION", `alpha must be in (0, 0.5), got ${p.alpha}`);
  if (!(p.learningRate > 0)) throw new AegisError("BAD_OPTION", `learningRate must be positive, got ${p.learningRate}`);
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

/**
 * The null model of an independent suspect's matching rate: the references' mean rate and
 * their standard deviation between models, never below the binomial spread of one model's
 * rate on `points` points (at the pooled rate by Laplace's rule, so never 0).
 */
export function independentNull(referenceHits: readonly number[][], points: number): IndependentNull {
  const rates = referenceHits.map((h) => mean(h));
  const r = rates.length;
  const average = mean(rates);
  const between = r > 1 ? rates.reduce((s, v) => s + (v - average) ** 2, 0) / (r - 1) : 0;
  const pooled = (average * r * points + 1) / (r * points + 2);
  return { mean: average, sd: Math.sqrt(Math.max(between, (pooled * (1 - pooled)) / points)), references: r };
}

/** How many standard deviations above the mean one more model's rate lies with chance alpha: t(1 − α; R − 1)·√(1 + 1/R). */
export function predictionMultiplier(references: number, alpha: number): number {
  return studentUpperQuantile(alpha, references - 1) * Math.sqrt(1 + 1 / references);
}

/** Chance that an independent model matches at `rate` or more, under the Student-t prediction model: ≤ alpha exactly at the threshold and above. */
function independentPValue(rate: number, independent: IndependentNull): number {
  const t = (rate - independent.mean) / (independent.sd * Math.sqrt(1 + 1 / independent.references));
  return studentUpperTail(t, independent.references - 1);
}

/**
 * Sign-gradient steps on the summed, per-model L1-normalised cross-entropies: the victim's
 * and the walk surrogates' towards each row's target, the walk references' towards the
 * seed's own label (Lukas et al.'s ensemble: transfer to copies, not to independent
 * models), projected onto the L∞ ball of `epsilon` around the seed. A row stops once the
 * victim and every walk surrogate give its target with `margin` over the runner-up.
 */
async function walkToBoundary(
  victim: Classifier,
  ensemble: Ensemble,
  seeds: Tensor<"float32">,
  labels: { targets: readonly number[]; seedLabels: readonly number[] },
  params: FingerprintParams,
  signal?: AbortSignal,
): Promise<Tensor<"float32">> {
  const n = seeds.shape[0];
  const d = sizeOf(seeds.shape.slice(1));
  const [lo, hi] = victim.clipRange;
  const conferrable = params.method === "conferrable";
  const x = Float32Array.from(seeds.data);
  let active = Array.from({ length: n }, (_, i) => i);
  for (let step = 0; step < params.maxIter && active.length > 0; step++) {
    if (signal?.aborted) throw new AegisError("INTERRUPTED", "fingerprinting was interrupted; nothing was written");
    const batch = gatherRows(float32(seeds.shape, x), active);
    const targets = active.map((i) => labels.targets[i]);
    const surrogates = conferrable ? ensemble.surrogates : [];
    const terms = [
      { model: victim, y: targets },
      ...surrogates.map((model) => ({ model, y: targets })),
      ...(conferrable ? ensemble.references.map((model) => ({ model, y: active.map((i) => labels.seedLabels[i]) })) : []),
    ];
    const runs = await Promise.all(terms.map((t) => t.model.valueAndGradient(batch, t.y, { loss: "ce" })));
    const reached = (j: number) =>
      runs.slice(0, 1 + surrogates.length).every((r, m) => marginOf(probabilitiesOf(terms[m].model, r.output), j, targets[j]) >= params.margin);
    const still: number[] = [];
    active.forEach((row, j) => {
      if (reached(j)) return;
      still.push(row);
      const direction = new Float32Array(d);
      for (const { grad } of runs) {
        let norm = 0;
        for (let k = 0; k < d; k++) norm += Math.abs(grad.data[j * d + k]);
        if (norm > 0) for (let k = 0; k < d; k++) direction[k] += grad.data[j * d + k] / norm;
      }
      for (let k = 0; k < d; k++) {
        const seed = seeds.data[row * d + k];
        const moved = x[row * d + k] - params.stepSize * Math.sign(direction[k]);
        x[row * d + k] = Math.min(hi, seed + params.epsilon, Math.max(lo, seed - params.epsilon, moved));
      }
    });
    active = still;
  }
  return float32(seeds.shape, x);
}

/** p[target] minus the largest other probability of a row. */
function marginOf(probs: Tensor<"float32">, row: number, target: number): number {
  const k = probs.shape[1];
  let other = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (j !== target) other = Math.max(other, probs.data[row * k + j]);
  return probs.data[row * k + target] - other;
}

export interface LabelledData {
  x: Tensor<"float32">;
  labels: readonly number[];
}

interface Ensemble {
  surrogates: OnnxClassifier[];
  references: OnnxClassifier[];
}

/**
 * Surrogates learn the victim's answers on one part of the owner's data (what a copycat
 * would do); references learn its true labels (what an honest competitor would do), each
 * from its own bootstrap sample of its part, so that they differ in data as competitors do.
 * Each model has its own seed of weights and shuffling, from `firstSeed` on; the caller
 * releases them, and on failure the ones trained so far are released here.
 */
async function trainEnsemble(
  victim: Classifier,
  data: { surrogates: LabelledData; references: LabelledData },
  role: string,
  counts: { surrogates: number; references: number },
  params: FingerprintParams,
  firstSeed: number,
  options: MakeFingerprintOptions,
): Promise<Ensemble> {
  const answers = { x: data.surrogates.x, answers: probabilitiesOf(victim, await victim.predict(data.surrogates.x)) };
  const schedule = { epochs: params.epochs, batchSize: params.batchSize, learningRate: params.learningRate };
  const ensemble: Ensemble = { surrogates: [], references: [] };
  const total = counts.surrogates + counts.references;
  try {
    for (let i = 0; i < total; i++) {
      const kind = i < counts.surrogates ? "surrogates" : "references";
      options.onStatus?.(`training ${role} ${kind === "surrogates" ? "surrogate" : "reference"} ${i + 1} of ${total}`);
      const seed = params.seed + firstSeed + i;
      const spec: StolenModelSpec = { architecture: params.architecture, victimModel: options.victimModel, seed, runtime: options.runtime };
      const job = kind === "surrogates" ? answers : truthOf(bootstrap(data.references, seed), victim.numClasses);
      ensemble[kind].push(await trainStolen(victim, spec, schedule, job, options.signal));
    }
  } catch (e) {
    for (const m of [...ensemble.surrogates, ...ensemble.references]) await m.release();
    throw e;
  }
  return ensemble;
}

/** `size` rows (as many as the data holds by default) drawn with replacement. */
function bootstrap(data: LabelledData, seed: number, size = data.labels.length): LabelledData {
  const rng = createRng(seed + 7919);
  const rows = Array.from({ length: size }, () => rng.int(data.labels.length));
  return { x: gatherRows(data.x, rows), labels: rows.map((i) => data.labels[i]) };
}

function truthOf(data: LabelledData, numClasses: number) {
  return { x: data.x, answers: oneHot(data.labels, numClasses) };
}

/** The data's rows shuffled and cut in three parts. */
function thirdsOf(data: LabelledData, seed: number): LabelledData[] {
  const rows = createRng(seed + 1).shuffle(Array.from({ length: data.x.shape[0] }, (_, i) => i));
  const third = Math.floor(rows.length / 3);
  return [0, 1, 2].map((k) => {
    const part = rows.slice(k * third, (k + 1) * third);
    return { x: gatherRows(data.x, part), labels: part.map((i) => data.labels[i]) };
  });
}

/** 1 where each model's top class of a row is its label, else 0: one list per model. */
async function hitsOf(models: readonly Predictor[], points: LabelledData): Promise<number[][]> {
  const hits: number[][] = [];
  for (const m of models) hits.push(matchesOf(await m.predict(points.x), points.labels));
  return hits;
}

function ratesOf(hits: readonly number[][]): number[] {
  return hits.map((h) => mean(h));
}

/** The models' mean probability of each row's label (0 for every row when there is no model). */
async function meanProbabilityOf(models: readonly OnnxClassifier[], points: LabelledData): Promise<number[]> {
  const sum = new Array<number>(points.labels.length).fill(0);
  for (const m of models) {
    const probs = probabilitiesOf(m, await m.predict(points.x));
    const k = probs.shape[1];
    points.labels.forEach((label, i) => {
      sum[i] += probs.data[i * k + label] / models.length;
    });
  }
  return sum;
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
  whole("references", 1);
  whole("calibrationReferences", 3);
  whole("epochs", 1);
  whole("batchSize", 1);
  if (p.architecture !== "like" && !(ARCHITECTURES as readonly string[]).includes(p.architecture))
    throw new AegisError("BAD_OPTION", `architecture must be ${ARCHITECTURES.join(", ")} or like, not "${p.architecture}"`);
  if (p.candidates < p.count) throw new AegisError("BAD_OPTION", `candidates (${p.candidates}) must be at least count (${p.count})`);
  if (Math.floor(rows / 3) < p.count)
    throw new AegisError(
      "BAD_OPTION",
      `the data holds ${rows} samples; a third of them seed the walks, fewer than the ${p.count} fingerprint points asked for`,
    );
  if (!(p.margin >= 0 && p.margin < 1)) throw new AegisError("BAD_OPTION", `margin is a probability difference in [0, 1), got ${p.margin}`);
  if (!(p.epsilon > 0)) throw new AegisError("BAD_OPTION", `epsilon must be positive, got ${p.epsilon}`);
  if (!(p.stepSize > 0)) throw new AegisError("BAD_OPTION", `stepSize must be positive, got ${p.stepSize}`);
  if (!(p.alpha > 0 && p.alpha < 1)) throw new AegisError("BAD_OPTION", `alpha must be in (0, 1), got ${p.alpha}`);
  if (!(p.learningRate > 0)) throw new AegisError("BAD_OPTION", `learningRate must be positive, got ${p.learningRate}`);
}

/** 1 where a row's top class is the label, else 0. */
function matchesOf(outputs: Tensor<"float32">, labels: readonly number[]): number[] {
  return labels.map((label, i) => (argmaxRow(outputs, i) === label ? 1 : 0));
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
