/**
 * `aegis harden` as a function: load the data, build or load the model, run one robust
 * training method (PGD adversarial training, TRADES, fast adversarial training, defensive
 * distillation or Gaussian augmentation; each trainer in trainers/ names its paper) in the
 * checkpointed epoch loop, evaluate the result under PGD with the cross-entropy and the
 * margin loss on held-out samples, and write the hardened model atomically.
 */
import { checkLabels, loadDataset, requireLabels } from "../data/index.js";
import { ARCHITECTURES, type Architecture, buildArchitecture } from "../engine/architectures.js";
import { OnnxClassifier } from "../engine/classifier.js";
import { adam, type Optimizer, sgd } from "../engine/optimizers.js";
import type { RuntimeOptions } from "../engine/runtime.js";
import { AegisError } from "../errors.js";
import { loadModel, saveModel } from "../onnx/io.js";
import type { Model } from "../onnx/ir.js";
import { type DpRecord, type DpSgdSettings, describeDp, describePlan, dpRecord, prepareDpSgd, withDpMetadata } from "../privacy/index.js";
import { type Progress, silentProgress } from "../progress.js";
import { gatherRows, sliceRows } from "../tensor.js";
import { adversarialTraining } from "./trainers/adversarial-training.js";
import { defensiveDistillation } from "./trainers/distillation.js";
import { cyclicLearningRate, fastAdversarialTraining, overfittingCheck } from "./trainers/fast-adversarial-training.js";
import { gaussianAugmentation } from "./trainers/gaussian-augmentation.js";
import { evaluateRobustness, type HardeningEpoch, type HardeningOptions, type RobustEvaluation, runHardening } from "./trainers/hardening.js";
import { trades } from "./trainers/trades.js";

export const HARDEN_METHODS = ["adversarial-training", "trades", "fast-at", "distillation", "gaussian-augmentation"] as const;
export type HardenMethod = (typeof HARDEN_METHODS)[number];

export interface HardenSettings {
  method: HardenMethod;
  model?: string;
  arch?: string;
  data: string;
  testData?: string;
  xKey?: string;
  yKey?: string;
  out: string;
  eps: number;
  epsStep?: number;
  maxIter?: number;
  ratio?: number;
  rampEpochs: number;
  epochs: number;
  batchSize: number;
  lr?: number;
  optimizer: "adam" | "sgd";
  beta: number;
  temperature: number;
  sigma: number;
  evalSamples: number;
  evalMaxIter: number;
  seed: number;
  checkpointDir?: string;
  resume?: boolean;
  /** ONNX Runtime threads and device. */
  runtime?: RuntimeOptions;
  /** Train with DP-SGD (its batches are Poisson-sampled with expected size batchSize). */
  dp?: Omit<DpSgdSettings, "batchSize" | "epochs">;
}

/** Who watches a hardening run: lines of log, progress per epoch, and a signal that stops it after the current step. */
export interface HardenWatch {
  log?: (line: string) => void;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface HardenResult {
  method: HardenMethod;
  out: string;
  settings: Record<string, unknown>;
  history: HardeningEpoch[];
  /** Distillation only: the teacher's training. */
  teacherHistory?: HardeningEpoch[];
  /** On the held-out slice: clean accuracy, PGD with the cross-entropy and with the margin (C&W) loss. */
  final: { samples: number; eps: number; cleanAccuracy: number; robustAccuracy: number; robustAccuracyMargin: number };
  /** With DP-SGD: the guarantee the model carries in its metadata. */
  differentialPrivacy?: DpRecord;
}

/**
 * Methods DP-SGD composes with: each example's training input comes from that example alone
 * (its attack or noise on the current weights). The others touch the data outside the noisy
 * step (DP_REFUSAL says how).
 */
const DP_METHODS: readonly HardenMethod[] = ["adversarial-training", "gaussian-augmentation"];

const DP_REFUSAL: Partial<Record<HardenMethod, string>> = {
  trades: "TRADES's loss couples each example's clean and adversarial rows, which per-example clipping would split",
  "fast-at": "fast-AT's overfitting check attacks a training minibatch after every epoch and rolls back on the result, a use of the data without noise",
  distillation: "distillation trains its teacher on the data without DP",
};

/** Paper defaults of the inner attack: PGD and TRADES step 0.01 × 40 (MNIST), fast-AT α = 1.25·ε. */
function attackDefaults(s: HardenSettings): { epsStep: number; maxIter: number } {
  if (s.method === "fast-at") return { epsStep: s.epsStep ?? 1.25 * s.eps, maxIter: 1 };
  return { epsStep: s.epsStep ?? 0.01, maxIter: s.maxIter ?? 40 };
}

function makeOptimizer(s: HardenSettings): Optimizer {
  const lr = s.lr ?? defaultLearningRate(s);
  return s.optimizer === "adam" ? adam({ lr }) : sgd({ lr, momentum: 0.9 });
}

function defaultLearningRate(s: HardenSettings): number {
  if (s.method === "fast-at") return s.optimizer === "adam" ? 5e-3 : 0.2;
  return s.optimizer === "adam" ? 1e-3 : 0.05;
}

/** Runs one hardening method end to end and writes the hardened model atomically. */
export async function harden(s: HardenSettings, watch: HardenWatch = {}): Promise<HardenResult> {
  const { signal } = watch;
  const info = watch.log ?? (() => {});
  const progressBar = watch.progress ?? silentProgress;
  if (!HARDEN_METHODS.includes(s.method)) throw new AegisError("BAD_OPTION", `the method must be one of ${HARDEN_METHODS.join(", ")}, not "${s.method}"`);
  if (s.model && s.arch) throw new AegisError("BAD_OPTION", "give either --model (harden an existing model) or --arch (train a new one), not both");
  const arch = s.model ? undefined : (s.arch ?? "cnn");
  if (arch && !ARCHITECTURES.includes(arch as Architecture))
    throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${arch}"`);
  if (s.optimizer !== "adam" && s.optimizer !== "sgd") throw new AegisError("BAD_OPTION", `--optimizer must be adam or sgd, not "${s.optimizer}"`);
  if (!Number.isInteger(s.evalSamples) || s.evalSamples < 1) throw new AegisError("BAD_OPTION", "--eval-samples must be a positive integer");
  if (s.dp && !DP_METHODS.includes(s.method)) {
    throw new AegisError("BAD_OPTION", `--dp works with ${DP_METHODS.join(" and ")}: ${DP_REFUSAL[s.method] ?? `${s.method} is not analysed for DP`}`);
  }

  const trainData = loadDataset(s.data, { xKey: s.xKey, yKey: s.yKey, split: "train" });
  const labels = requireLabels(trainData, "hardening");
  const testSpec = s.testData ?? (s.data === "mnist" ? "mnist" : undefined);
  const testData = testSpec ? loadDataset(testSpec, { xKey: s.xKey, yKey: s.yKey, split: "test" }) : trainData;
  if (!testSpec) info("no --test-data: robust accuracy is measured on training samples, which overstates it");
  const testLabels = requireLabels(testData, "robust evaluation");
  const numClasses = Math.max(...labels, ...testLabels) + 1;
  checkLabels(testData.y as NonNullable<typeof testData.y>, numClasses);

  const source = (seed: number): Model =>
    s.model ? loadModel(s.model) : buildArchitecture(arch as Architecture, { inputShape: trainData.x.shape.slice(1), numClasses, seed });
  const runtime = { ...s.runtime, trainable: true, batchSize: s.batchSize };
  const clf = await OnnxClassifier.create(source(s.seed), runtime);
  if (clf.numClasses !== numClasses) {
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the model has ${clf.numClasses} classes but the labels go up to ${numClasses - 1}; use data with the model's classes`,
    );
  }

  const evalRows = Math.min(s.evalSamples, testLabels.length);
  const evalX = sliceRows(testData.x, 0, evalRows);
  const evalLabels = testLabels.slice(0, evalRows);
  const evalMaxIter = s.evalMaxIter;
  const evaluation: RobustEvaluation = { x: evalX, labels: evalLabels, eps: s.eps, maxIter: evalMaxIter };
  const attack = attackDefaults(s);
  const settings = {
    method: s.method,
    model: s.model,
    arch,
    data: trainData.name,
    samples: labels.length,
    eps: s.eps,
    ...(s.method === "distillation" || s.method === "gaussian-augmentation" ? {} : attack),
    ratio: s.ratio,
    rampEpochs: s.rampEpochs,
    epochs: s.epochs,
    batchSize: s.batchSize,
    optimizer: s.optimizer,
    lr: s.lr ?? defaultLearningRate(s),
    ...(s.method === "trades" ? { beta: s.beta } : {}),
    ...(s.method === "distillation" ? { temperature: s.temperature } : {}),
    ...(s.method === "gaussian-augmentation" ? { sigma: s.sigma } : {}),
    seed: s.seed,
    ...(s.dp ? { dp: { noiseMultiplier: s.dp.noiseMultiplier, targetEpsilon: s.dp.targetEpsilon, maxGradNorm: s.dp.maxGradNorm, delta: s.dp.delta } } : {}),
  };
  const dp = s.dp ? prepareDpSgd(clf, labels.length, { ...s.dp, batchSize: s.batchSize, epochs: s.epochs }) : undefined;
  if (dp) info(describePlan(dp.plan, labels.length, s.dp?.targetEpsilon));

  let bar = progressBar("epoch 1", 1);
  const common: Omit<HardeningOptions, "optimizer"> = {
    epochs: s.epochs,
    batchSize: s.batchSize,
    seed: s.seed,
    evaluation,
    checkpointDir: s.checkpointDir,
    resume: s.resume,
    // The epoch count may grow on --resume (extending a run); every other setting must match.
    fingerprint: { ...settings, epochs: undefined },
    sampler: dp?.sampler,
    step: dp?.step,
    signal,
    onStep: ({ epoch, step, steps, loss }) => {
      if (step === 1) {
        bar.stop();
        bar = progressBar(`epoch ${epoch}/${s.epochs}`, steps);
      }
      bar.update(step, `loss ${loss.toFixed(4)}`);
    },
    onEpoch: (e) => {
      bar.stop();
      const robust = e.robustAccuracy === undefined ? "" : ` · held-out clean ${pct(e.cleanAccuracy)} PGD-${evalMaxIter} ε=${s.eps} ${pct(e.robustAccuracy)}`;
      const collapse = e.notes?.catastrophicOverfitting ? " · CATASTROPHIC OVERFITTING: rolled back to the previous epoch and stopped" : "";
      const spent = dp ? ` · ε ${dp.epsilonAfter(e.epoch).toFixed(3)} spent (δ ${dp.plan.delta})` : "";
      info(
        `epoch ${e.epoch}/${s.epochs}: loss ${e.loss.toFixed(4)} · train accuracy ${pct(e.accuracy)}${robust}${spent} · ${e.samplesPerSecond.toFixed(0)} samples/s${collapse}`,
      );
    },
  };
  const data = { x: trainData.x, labels };
  let history: HardeningEpoch[];
  let teacherHistory: HardeningEpoch[] | undefined;
  let trained = clf;
  try {
    switch (s.method) {
      case "adversarial-training":
        history = await runHardening(clf, data, {
          ...common,
          optimizer: makeOptimizer(s),
          transform: adversarialTraining({ eps: s.eps, ...attack, ratio: s.ratio, rampEpochs: s.rampEpochs }),
        });
        break;
      case "trades":
        history = await runHardening(clf, data, {
          ...common,
          optimizer: makeOptimizer(s),
          transform: trades({ eps: s.eps, ...attack, beta: s.beta, rampEpochs: s.rampEpochs }),
        });
        break;
      case "fast-at": {
        // The overfitting check runs PGD on a fixed batch of training samples, as the paper.
        const rows = Array.from({ length: Math.min(256, labels.length) }, (_, i) => i);
        history = await runHardening(clf, data, {
          ...common,
          optimizer: makeOptimizer(s),
          learningRate: cyclicLearningRate(s.lr ?? defaultLearningRate(s), s.epochs),
          transform: fastAdversarialTraining({ eps: s.eps, epsStep: attack.epsStep }),
          afterEpoch: overfittingCheck({ x: gatherRows(trainData.x, rows), labels: rows.map((r) => labels[r]), eps: s.eps, seed: s.seed }),
        });
        break;
      }
      case "gaussian-augmentation":
        history = await runHardening(clf, data, {
          ...common,
          optimizer: makeOptimizer(s),
          transform: gaussianAugmentation({ sigma: s.sigma, ratio: s.ratio }),
        });
        break;
      case "distillation": {
        const student = await OnnxClassifier.create(source(s.seed + 1), runtime);
        const result = await defensiveDistillation(clf, student, data, {
          ...common,
          // Distillation masks the cross-entropy gradient: follow it per epoch with the margin loss.
          evaluation: { ...evaluation, loss: "margin" },
          temperature: s.temperature,
          optimizer: () => makeOptimizer(s),
          onPhase: (phase) => info(`distillation: training the ${phase} at T=${s.temperature}`),
        });
        history = result.student;
        teacherHistory = result.teacher;
        await clf.release();
        trained = student;
        break;
      }
    }
  } finally {
    bar.stop();
  }

  info(`evaluating on ${evalRows} held-out samples: PGD-${evalMaxIter} ε=${s.eps} with the cross-entropy and the margin loss`);
  const ce = await evaluateRobustness(trained, evaluation, s.seed + 101, signal);
  const margin = await evaluateRobustness(trained, { ...evaluation, loss: "margin" }, s.seed + 101, signal);
  // A run stopped early (fast-AT's overfitting check) spent only its epochs' ε.
  const privacy = dp ? dpRecord(dp.plan, dp.epsilonAfter(history.length)) : undefined;
  saveModel(s.out, privacy ? withDpMetadata(trained.exportModel(), privacy) : trained.exportModel());
  await trained.release();
  info(`hardened: clean ${pct(ce.cleanAccuracy)} · PGD-CE ${pct(ce.robustAccuracy)} · PGD-margin ${pct(margin.robustAccuracy)} — wrote ${s.out}`);
  if (privacy) info(`private: ${describeDp(privacy)}`);
  return {
    method: s.method,
    out: s.out,
    settings,
    history,
    teacherHistory,
    final: { samples: evalRows, eps: s.eps, cleanAccuracy: ce.cleanAccuracy, robustAccuracy: ce.robustAccuracy, robustAccuracyMargin: margin.robustAccuracy },
    differentialPrivacy: privacy,
  };
}

function pct(v: number | undefined): string {
  return v === undefined ? "n/a" : `${(v * 100).toFixed(2)}%`;
}
