/**
 * Neural Cleanse — Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao, "Neural Cleanse:
 * Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P 2019. For each
 * class t, find the smallest trigger that sends clean inputs to t: a mask m (one value per
 * pixel) and a pattern p, stamped as x′ = (1 − m)·x + m·p, minimising
 * CE(f(x′), t) + λ·‖m‖₁ with m and p parameterised through tanh so they stay in range. A
 * backdoored class needs a far smaller mask than the others, so the L1 norms are tested for
 * outliers with the median absolute deviation (×1.4826); a class whose anomaly index is
 * large on the small side is reported as backdoored. Only clean inputs are needed.
 *
 * Defaults from the authors' code (bolunwang/backdoor, visualizer.py and the MNIST/GTSRB
 * examples): mini-batches of 32, an epoch of 1,000 inputs, Adam with learning rate 0.1 and
 * betas (0.5, 0.9). λ starts at 0 and is set to 10⁻³ once the trigger has sent ≥ 99% of an
 * epoch's inputs to the class for `patience` (5) epochs in a row; from then on it is
 * multiplied by 2 after 5 successful epochs and divided by 2^1.5 after 5 failed ones. The
 * reversed trigger is the smallest epoch-mean mask of a successful epoch; the search stops
 * early once λ has moved both ways and that norm has not improved for 25 epochs.
 * Deviations:
 * - at most `maxEpochs` (default 100; the authors' 1,000) per class — 1,000 epochs a class
 *   are hours on a CPU, and early stopping ends most classes sooner;
 * - the outlier test. The paper flags a class whose ‖m‖₁ lies more than 2 MADs below the
 *   median. Over 10 classes that fails both ways on MNIST: the MAD of ten values collapses
 *   when most classes agree (seven of the bundled clean CNN's lie within 7% of each
 *   other, so classes merely 1.5× smaller score 4–5), a backdoor's index is held down by the
 *   spread of the rest (3 against 34–82), and a per-class cut-off of 2 is crossed by one of
 *   ten outlier-free values a third of the time. Aegis takes the index of log ‖m‖₁ (sizes
 *   differ by factors), sets the cut-off to the index one of a clean model's classes crosses
 *   with probability `falseAlarmRate` (5%: 3.84 for 10 classes), and asks that the trigger
 *   also be `minSizeRatio` (2) times smaller than the median — a significant and a large
 *   difference. `anomalyThreshold: 2, minSizeRatio: 1` is the paper's rule on log sizes.
 */
import { type CompiledTrigger, imageOf, stamp } from "../../attacks/index.js";
import { createRng } from "../../data/random.js";
import type { Labels, LossGradient, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import type { Progress } from "../../progress.js";
import { gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { withDefaults } from "../settings.js";
import { familyWiseThreshold, lowAnomalyIndices, median } from "./anomaly.js";

export interface NeuralCleanseOptions {
  /** Classes to reverse (default: all). */
  classes?: readonly number[];
  batchSize?: number;
  /** Inputs per epoch, the unit λ's schedule counts in (at most the inputs given). */
  epochInputs?: number;
  maxEpochs?: number;
  learningRate?: number;
  /** λ once the trigger first succeeds. */
  initCost?: number;
  /** Share of the batch the reversed trigger must send to the class (default 0.99). */
  attackSuccessThreshold?: number;
  patience?: number;
  costMultiplier?: number;
  earlyStopPatience?: number;
  /** Anomaly index above which a class is reported (default: the family-wise cut-off for `falseAlarmRate`). */
  anomalyThreshold?: number;
  /** Chance that a clean model gets any class reported, which sets the default cut-off (0.05). */
  falseAlarmRate?: number;
  /** How many times smaller than the median class's a reported class's trigger must also be (default 2). */
  minSizeRatio?: number;
  seed?: number;
  signal?: AbortSignal;
  progress?: Progress;
}

type Settings = Required<Omit<NeuralCleanseOptions, "classes" | "signal" | "progress" | "anomalyThreshold">>;

export const NEURAL_CLEANSE_DEFAULTS: Settings = {
  batchSize: 32,
  epochInputs: 1000,
  maxEpochs: 100,
  learningRate: 0.1,
  initCost: 1e-3,
  attackSuccessThreshold: 0.99,
  patience: 5,
  costMultiplier: 2,
  earlyStopPatience: 25,
  falseAlarmRate: 0.05,
  minSizeRatio: 2,
  seed: 0,
};

export interface ReversedTrigger {
  class: number;
  /** ‖m‖₁ of the smallest mask that reached the success threshold (Infinity when none did). */
  l1: number;
  /** Share of the inputs given (other classes only) the reversed trigger sends to the class. */
  attack_success_rate: number;
  /** How many MADs log ‖m‖₁ lies below the median of all classes' (negative above it). */
  anomaly_index: number;
  flagged: boolean;
  epochs: number;
  /** The mask [H·W] and pattern [sample size]. */
  mask: Float32Array;
  pattern: Float32Array;
}

export interface NeuralCleanseResult {
  paper: string;
  params: Record<string, number>;
  /** The classes reported as backdoored: anomaly index above the threshold, and a reversed trigger that sends most other inputs there. */
  flagged: number[];
  triggers: ReversedTrigger[];
  height: number;
  width: number;
}

/**
 * A small trigger is a backdoor only if it also moves the other classes' inputs: a broken
 * model that already gives (nearly) every clean input one class reaches the success
 * threshold with an empty mask, while the mask sends none of the rest there.
 */
const MIN_SHORTCUT_SUCCESS = 0.5;

export const NEURAL_CLEANSE_PAPER =
  "Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019, Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks";

/** Reverse-engineers a trigger per class on clean inputs x and tests their sizes for outliers. */
export async function neuralCleanse(model: Predictor & LossGradient, x: Tensor<"float32">, options: NeuralCleanseOptions = {}): Promise<NeuralCleanseResult> {
  const o = withDefaults(NEURAL_CLEANSE_DEFAULTS, options);
  if (x.shape[0] === 0) throw new AegisError("BAD_DATA", "Neural Cleanse needs clean inputs; the data is empty");
  const layout = imageOf(x.shape.slice(1));
  const classes = options.classes ?? Array.from({ length: model.numClasses }, (_, c) => c);
  for (const c of classes)
    if (!Number.isInteger(c) || c < 0 || c >= model.numClasses)
      throw new AegisError("BAD_OPTION", `class ${c} is not one of the model's classes 0..${model.numClasses - 1}`);
  const triggers: ReversedTrigger[] = [];
  const bar = options.progress?.("neural cleanse", classes.length);
  try {
    for (const [i, target] of classes.entries()) {
      const reversed = await reverseTrigger(model, x, target, o, options.signal);
      triggers.push(reversed);
      bar?.update(i + 1, `class ${target}: ‖m‖₁ ${reversed.l1.toFixed(1)}`);
    }
  } finally {
    bar?.stop();
  }
  // A class no trigger reached the threshold for cannot be a small outlier: it counts as the whole image.
  const norms = triggers.map((t) => (Number.isFinite(t.l1) ? t.l1 : layout.height * layout.width));
  const { anomaly, anomalyThreshold, flagged } = smallTriggerOutliers(norms, { ...o, anomalyThreshold: options.anomalyThreshold });
  triggers.forEach((t, i) => {
    t.anomaly_index = anomaly[i];
    t.flagged = flagged[i] && t.attack_success_rate >= MIN_SHORTCUT_SUCCESS;
  });
  return {
    paper: NEURAL_CLEANSE_PAPER,
    params: { ...o, anomalyThreshold, samples: x.shape[0] },
    flagged: triggers.filter((t) => t.flagged).map((t) => t.class),
    triggers,
    height: layout.height,
    width: layout.width,
  };
}

/**
 * The outlier test on the classes' trigger sizes ‖m‖₁: each class's anomaly index (MADs of
 * log ‖m‖₁ below the median), the cut-off (`anomalyThreshold` when given, else the
 * family-wise one for `falseAlarmRate` and this many classes), and the classes reported:
 * above the cut-off and at least `minSizeRatio` times smaller than the median.
 */
export function smallTriggerOutliers(
  norms: readonly number[],
  options: { anomalyThreshold?: number; falseAlarmRate?: number; minSizeRatio?: number } = {},
): { anomaly: Float64Array; anomalyThreshold: number; flagged: boolean[] } {
  const anomaly = lowAnomalyIndices(norms.map(Math.log));
  const anomalyThreshold = options.anomalyThreshold ?? familyWiseThreshold(norms.length, options.falseAlarmRate ?? NEURAL_CLEANSE_DEFAULTS.falseAlarmRate);
  const typical = median(norms);
  const ratio = options.minSizeRatio ?? NEURAL_CLEANSE_DEFAULTS.minSizeRatio;
  return { anomaly, anomalyThreshold, flagged: norms.map((v, i) => anomaly[i] > anomalyThreshold && v * ratio <= typical) };
}

/** Adam on an unconstrained vector, with the authors' betas. */
function adamStep(theta: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, t: number, lr: number): void {
  const b1 = 0.5;
  const b2 = 0.9;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  for (let i = 0; i < theta.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * grad[i];
    v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
    theta[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-7);
  }
}

/** The authors' schedule for λ and their early stop, fed one epoch's success at a time. */
class CostSchedule {
  cost = 0;
  private setCounter = 0;
  private upCounter = 0;
  private downCounter = 0;
  private movedUp = false;
  private movedDown = false;
  private stale = 0;
  private bestSeen = Number.POSITIVE_INFINITY;

  constructor(private readonly o: Settings) {}

  /** Updates λ after an epoch; true when the search should stop. */
  step(succeeded: boolean, bestL1: number): boolean {
    const { patience, costMultiplier, initCost, earlyStopPatience } = this.o;
    if (this.cost === 0) {
      this.setCounter = succeeded ? this.setCounter + 1 : 0;
      if (this.setCounter >= patience) this.cost = initCost;
      return false;
    }
    if (succeeded) {
      this.upCounter++;
      this.downCounter = 0;
    } else {
      this.upCounter = 0;
      this.downCounter++;
    }
    if (this.upCounter >= patience) {
      this.upCounter = 0;
      this.cost *= costMultiplier;
      this.movedUp = true;
    } else if (this.downCounter >= patience) {
      this.downCounter = 0;
      this.cost /= costMultiplier ** 1.5;
      this.movedDown = true;
    }
    if (Number.isFinite(bestL1)) {
      this.stale = bestL1 >= this.bestSeen ? this.stale + 1 : 0;
      this.bestSeen = Math.min(this.bestSeen, bestL1);
    }
    return this.movedUp && this.movedDown && this.stale >= earlyStopPatience;
  }
}

async function reverseTrigger(
  model: Predictor & LossGradient,
  x: Tensor<"float32">,
  target: number,
  o: Settings,
  signal?: AbortSignal,
): Promise<ReversedTrigger> {
  const layout = imageOf(x.shape.slice(1));
  const { height: h, width: w, channels } = layout;
  const pixels = h * w;
  const size = sizeOf(x.shape.slice(1));
  const [lo, hi] = model.clipRange;
  const range = Number.isFinite(hi - lo) ? hi - lo : 1;
  const base = Number.isFinite(lo) ? lo : 0;
  const n = x.shape[0];
  // A random start in tanh space, as the authors' code.
  const rng = createRng(o.seed + target);
  const thetaM = Float64Array.from({ length: pixels }, () => Math.atanh((rng.next() - 0.5) * 1.99));
  const thetaP = Float64Array.from({ length: size }, () => Math.atanh((rng.next() - 0.5) * 1.99));
  const moments = { mM: new Float64Array(pixels), vM: new Float64Array(pixels), mP: new Float64Array(size), vP: new Float64Array(size) };
  const trigger: CompiledTrigger = { layout, mask: new Float32Array(pixels), pattern: new Float32Array(size) };
  const { mask, pattern } = trigger;
  const pixelOf = (k: number) => (layout.channelsFirst ? k % pixels : Math.floor(k / channels));
  const decode = () => {
    for (let i = 0; i < pixels; i++) mask[i] = (Math.tanh(thetaM[i]) + 1) / 2;
    for (let k = 0; k < size; k++) pattern[k] = base + (range * (Math.tanh(thetaP[k]) + 1)) / 2;
  };
  const schedule = new CostSchedule(o);
  let best: { l1: number; mask: Float32Array; pattern: Float32Array } | undefined;
  const batch = Math.min(o.batchSize, n);
  const batches = Math.max(1, Math.ceil(Math.min(o.epochInputs, n) / batch));
  const targets: Labels = new Array(batch).fill(target);
  let cursor = 0;
  let adamStepCount = 0;
  let epoch = 0;
  while (epoch < o.maxEpochs) {
    epoch++;
    let hits = 0;
    let l1Sum = 0;
    for (let k = 0; k < batches; k++) {
      if (signal?.aborted) throw new AegisError("INTERRUPTED", "Neural Cleanse was interrupted");
      decode();
      const clean = gatherRows(
        x,
        Array.from({ length: batch }, (_, i) => (cursor + i) % n),
      );
      cursor = (cursor + batch) % n;
      const { grad, output } = await model.valueAndGradient(stamp(clean, trigger), targets);
      for (let b = 0; b < batch; b++) if (argmaxRow(output, b) === target) hits++;
      // Chain rule of the batch-mean cross-entropy through x′ = (1 − m)·x + m·p, then through tanh.
      const gM = new Float64Array(pixels);
      const gP = new Float64Array(size);
      for (let b = 0; b < batch; b++)
        for (let j = 0; j < size; j++) {
          const g = grad.data[b * size + j] / batch;
          const p = pixelOf(j);
          gM[p] += g * (pattern[j] - clean.data[b * size + j]);
          gP[j] += g * mask[p];
        }
      for (let i = 0; i < pixels; i++) {
        l1Sum += mask[i];
        const t = Math.tanh(thetaM[i]);
        gM[i] = (gM[i] + schedule.cost) * ((1 - t * t) / 2);
      }
      for (let j = 0; j < size; j++) {
        const t = Math.tanh(thetaP[j]);
        gP[j] *= (range * (1 - t * t)) / 2;
      }
      adamStepCount++;
      adamStep(thetaM, gM, moments.mM, moments.vM, adamStepCount, o.learningRate);
      adamStep(thetaP, gP, moments.mP, moments.vP, adamStepCount, o.learningRate);
    }
    const succeeded = hits / (batches * batch) >= o.attackSuccessThreshold;
    const l1 = l1Sum / batches;
    if (succeeded && l1 < (best?.l1 ?? Number.POSITIVE_INFINITY)) {
      decode();
      best = { l1, mask: Float32Array.from(mask), pattern: Float32Array.from(pattern) };
    }
    if (schedule.step(succeeded, best?.l1 ?? Number.POSITIVE_INFINITY)) break;
  }
  decode();
  const chosen = best ?? { l1: Number.POSITIVE_INFINITY, mask: Float32Array.from(mask), pattern: Float32Array.from(pattern) };
  return {
    class: target,
    l1: chosen.l1,
    attack_success_rate: await successRate(model, x, { layout, mask: chosen.mask, pattern: chosen.pattern }, target),
    anomaly_index: 0,
    flagged: false,
    epochs: epoch,
    mask: chosen.mask,
    pattern: chosen.pattern,
  };
}

/** The share of inputs not already classified as `target` that the trigger sends there. */
async function successRate(model: Predictor, x: Tensor<"float32">, trigger: CompiledTrigger, target: number): Promise<number> {
  const before = await model.predict(x);
  const rows = Array.from({ length: x.shape[0] }, (_, i) => i).filter((i) => argmaxRow(before, i) !== target);
  if (rows.length === 0) return 0;
  const after = await model.predict(stamp(gatherRows(x, rows), trigger));
  let hits = 0;
  for (let i = 0; i < rows.length; i++) if (argmaxRow(after, i) === target) hits++;
  return hits / rows.length;
}
