/**
 * A membership-inference assessment: every attack of this folder against one target, on
 * samples whose membership the assessor knows (members: some of the target's training
 * data; non-members: data it never saw), with the attacker's own reference data from the
 * same distribution. It trains the shadow models the attacks need (shadow-models.ts),
 * queries the target and every shadow model once per sample and augmentation, runs the
 * attacks on those observations and scores them as Carlini et al. 2022 ask: ROC, AUC,
 * balanced accuracy, TPR at 0.1 % and 1 % FPR (metrics.ts).
 *
 * The attacks never see which candidate is a member; only the scoring does.
 */
import { createRng } from "../../data/random.js";
import type { Predictor } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { decodeModel } from "../../onnx/proto.js";
import type { Progress } from "../../progress.js";
import { sizeOf } from "../../tensor.js";
import { labelOnlyAugmentationScores, labelOnlyBoundaryScores } from "./label-only.js";
import {
  fitInShift,
  fitTargetScale,
  type InShift,
  LIRA_OFFLINE_TESTS,
  type LiraOfflineTest,
  liraOffline,
  liraOnline,
  MIN_CALIBRATION_SAMPLES,
  type ShadowConfidences,
  type TargetScale,
} from "./lira.js";
import { LOW_FPRS, type MembershipMetrics, membershipMetrics, type ThresholdOutcome, thresholdOutcome } from "./metrics.js";
import {
  type Augment,
  type AugmentationName,
  augmentations,
  concatData,
  type LabelledData,
  type Outputs,
  queryOutputs,
  sampleRows,
  trueClassLogit,
  trueClassProbability,
} from "./observations.js";
import { calibrateOfflineA, rmia } from "./rmia.js";
import { planShadowModels, type ShadowConfig, type ShadowPlan, type ShadowTrainer, trainedOn, trainShadowModels } from "./shadow-models.js";
import { shokriScores } from "./shokri.js";
import { calibrateThreshold, thresholdScores } from "./threshold.js";

export const MEMBERSHIP_ATTACKS = [
  "loss",
  "confidence",
  "shokri",
  "label-only",
  "label-only-boundary",
  "lira-offline",
  "lira-online",
  "rmia",
  "rmia-online",
] as const;
export type MembershipAttackName = (typeof MEMBERSHIP_ATTACKS)[number];

export interface MembershipAttackInfo {
  title: string;
  paper: string;
  /** What the attacker needs from the target. */
  access: "probabilities" | "labels";
  /** Which shadow models it needs: none, offline ones (never trained on a candidate) or online ones. */
  shadows: "none" | "offline" | "online";
}

export const MEMBERSHIP_ATTACK_INFO: Record<MembershipAttackName, MembershipAttackInfo> = {
  loss: {
    title: "Loss threshold",
    paper: "Yeom, Giacomelli, Fredrikson & Jha 2018, Privacy Risk in Machine Learning",
    access: "probabilities",
    shadows: "none",
  },
  confidence: { title: "Confidence threshold", paper: "Salem et al. 2019, ML-Leaks (after Yeom et al. 2018)", access: "probabilities", shadows: "none" },
  shokri: {
    title: "Shadow models + attack classifier",
    paper: "Shokri, Stronati, Song & Shmatikov 2017, Membership Inference Attacks Against Machine Learning Models",
    access: "probabilities",
    shadows: "offline",
  },
  "label-only": {
    title: "Label-only, augmentation",
    paper: "Choquette-Choo, Tramèr, Carlini & Papernot 2021, Label-Only Membership Inference Attacks",
    access: "labels",
    shadows: "none",
  },
  "label-only-boundary": {
    title: "Label-only, boundary distance",
    paper: "Choquette-Choo, Tramèr, Carlini & Papernot 2021, Label-Only Membership Inference Attacks",
    access: "labels",
    shadows: "none",
  },
  "lira-offline": {
    title: "LiRA, offline",
    paper: "Carlini, Chien, Nasr, Song, Terzis & Tramèr 2022, Membership Inference Attacks From First Principles",
    access: "probabilities",
    shadows: "offline",
  },
  "lira-online": {
    title: "LiRA, online",
    paper: "Carlini, Chien, Nasr, Song, Terzis & Tramèr 2022, Membership Inference Attacks From First Principles",
    access: "probabilities",
    shadows: "online",
  },
  rmia: {
    title: "RMIA, offline",
    paper: "Zarifzadeh, Liu & Shokri 2024, Low-Cost High-Power Membership Inference Attacks",
    access: "probabilities",
    shadows: "offline",
  },
  "rmia-online": {
    title: "RMIA, online",
    paper: "Zarifzadeh, Liu & Shokri 2024, Low-Cost High-Power Membership Inference Attacks",
    access: "probabilities",
    shadows: "online",
  },
};

/** The attacks run when none are named: all but the boundary distance, whose HopSkipJump costs thousands of queries per sample. */
export const DEFAULT_MEMBERSHIP_ATTACKS: readonly MembershipAttackName[] = MEMBERSHIP_ATTACKS.filter((a) => a !== "label-only-boundary");

export interface ShadowSetup {
  config: ShadowConfig;
  /** Models per plan (offline and online plans are trained separately). */
  count: number;
  /** Samples each shadow model trains on: the size of the target's training set. */
  trainSize: number;
  /** Worker threads (default 1: this thread). */
  workers?: number;
  /** Trains the shadow models elsewhere, e.g. a campaign's workers (`workers` is then unused). */
  trainer?: ShadowTrainer;
  /** Folder for finished shadow models (offline/ and online/ inside); a rerun reuses them. */
  checkpointDir?: string;
}

export interface MembershipOptions {
  target: Predictor;
  /** Samples the target trained on. */
  members: LabelledData;
  /** Samples it did not train on. */
  nonMembers: LabelledData;
  /** The attacker's own data from the same distribution, never trained on by the target. */
  reference: LabelledData;
  attacks?: readonly MembershipAttackName[];
  /** Without it, the attacks that need shadow models are skipped (with a warning). */
  shadow?: ShadowSetup;
  /** Query augmentations (default: the shadow models' training augmentation, i.e. the target's; none without shadow models). */
  augment?: AugmentationName;
  /** LiRA's fixed variance (default: when a plan has fewer than 64 models, as the paper advises). */
  fixedVariance?: boolean;
  /** LiRA reads the shadow models' confidences on the target's scale, fitted on the population (lira.ts; default true). */
  targetCalibration?: boolean;
  /** Offline LiRA's test: the likelihood ratio with the IN shift estimated on the population (default), or the paper's one-sided test. */
  liraOfflineTest?: LiraOfflineTest;
  /** Reference samples used as RMIA's population and for calibration (default 2,000). */
  population?: number;
  rmia?: { gamma?: number; a?: number };
  labelOnly?: { noiseDraws?: number; sigma?: number; maxQueries?: number };
  /** Epochs of Shokri et al.'s attack classifier (default 30). */
  attackEpochs?: number;
  seed?: number;
  signal?: AbortSignal;
  progress?: Progress;
  log?: (message: string) => void;
}

export interface MembershipAttackResult {
  attack: MembershipAttackName;
  title: string;
  paper: string;
  access: "probabilities" | "labels";
  /** Shadow models the attack used (0 for none). */
  shadow_models: number;
  /** Target queries per sample. */
  queries: number;
  auc: number;
  balanced_accuracy: number;
  /** TPR at FPR ≤ 0.1 % and ≤ 1 %. */
  tpr_at_low_fpr: { fpr: number; tpr: number }[];
  /** The attack's own decision threshold, calibrated without the answer, and what it gives. */
  threshold: ThresholdOutcome | null;
  /** (FPR, TPR) points of the ROC curve. */
  roc: [number, number][];
  seconds: number;
  params: Record<string, number | string | boolean>;
}

export interface MembershipResult {
  members: number;
  non_members: number;
  reference: number;
  population: number;
  augment: AugmentationName;
  target: { member_accuracy: number; non_member_accuracy: number };
  shadow: { offline_models: number; online_models: number; train_size: number; architecture: string; training: ShadowConfig["training"] } | null;
  attacks: MembershipAttackResult[];
  warnings: string[];
}

/** The shadow models of one plan and what they answered. */
interface ShadowRound {
  plan: ShadowPlan;
  /** Per model, outputs on the candidates and on the population. */
  candidates: Outputs[];
  population: Outputs[];
  trainedCandidates: Uint8Array[];
  trainedPopulation: Uint8Array[];
}

export async function runMembershipInference(o: MembershipOptions): Promise<MembershipResult> {
  const log = o.log ?? (() => {});
  const seed = o.seed ?? 0;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log(`warning: ${message}`);
  };
  const candidates = concatData([o.members, o.nonMembers]);
  checkData(o, candidates);
  if (o.liraOfflineTest !== undefined && !LIRA_OFFLINE_TESTS.includes(o.liraOfflineTest))
    throw new AegisError("BAD_OPTION", `offline LiRA's test must be one of ${LIRA_OFFLINE_TESTS.join(", ")}, not "${o.liraOfflineTest}"`);
  const isMember = candidates.labels.map((_, i) => i < o.members.labels.length);
  const sampleShape = candidates.x.shape.slice(1);
  // Query with the augmentations the model trained with: those it fits on its members; others only blur the signal.
  const augment = o.augment ?? o.shadow?.config.training.augment ?? "none";
  const transforms = augmentations(augment, sampleShape);
  const rng = createRng(seed);
  const populationSize = Math.min(o.population ?? 2000, o.reference.labels.length);
  const populationRows = rng.shuffle(Array.from({ length: o.reference.labels.length }, (_, i) => i)).slice(0, populationSize);
  const population = sampleRows(o.reference, populationRows);

  let requested = [...(o.attacks ?? DEFAULT_MEMBERSHIP_ATTACKS)];
  if (!o.shadow) {
    const skipped = requested.filter((a) => MEMBERSHIP_ATTACK_INFO[a].shadows !== "none");
    if (skipped.length > 0) warn(`${skipped.join(", ")} skipped: they need shadow models, and no shadow-model training was configured`);
    requested = requested.filter((a) => MEMBERSHIP_ATTACK_INFO[a].shadows === "none");
  }
  const needs = (kind: "offline" | "online") => requested.some((a) => MEMBERSHIP_ATTACK_INFO[a].shadows === kind);
  // Thresholds are calibrated on shadow models when any are trained anyway.
  const wantOffline = needs("offline") || (o.shadow !== undefined && requested.some((a) => a === "loss" || a === "confidence") && !needs("online"));

  const pool = concatData([candidates, o.reference]);
  // Every plan is made, and so checked, before any model trains: a plan that cannot work fails in a second, not after the first one's hours.
  const shadow = o.shadow;
  const plans = (["offline", "online"] as const).flatMap((kind) =>
    shadow && (kind === "offline" ? wantOffline : needs(kind))
      ? [
          {
            kind,
            plan: planShadowModels({
              count: shadow.count,
              trainSize: shadow.trainSize,
              candidates: candidates.labels.length,
              poolSize: pool.labels.length,
              online: kind === "online",
              seed: seed + (kind === "online" ? 1 : 0),
            }),
          },
        ]
      : [],
  );
  const rounds: Partial<Record<"offline" | "online", ShadowRound>> = {};
  for (const { kind, plan } of plans) {
    const s = shadow as ShadowSetup;
    log(`training ${s.count} ${kind} shadow models on ${s.trainSize} samples each (${s.config.training.epochs} epochs)`);
    const bytes = await trainShadowModels(s.config, plan, pool, {
      workers: s.workers,
      trainer: s.trainer,
      checkpointDir: s.checkpointDir ? `${s.checkpointDir}/${kind}` : undefined,
      signal: o.signal,
      progress: o.progress,
      log,
    });
    rounds[kind] = await observeShadows(bytes, plan, candidates, population, populationRows, transforms, o.progress);
  }

  log(`querying the target on ${candidates.labels.length} candidates and ${populationSize} population samples × ${transforms.length} augmentations`);
  const targetCandidates = await queryOutputs(o.target, candidates.x, transforms);
  const targetPopulation = await queryOutputs(o.target, population.x, transforms);
  const fixedVariance = (count: number) => o.fixedVariance ?? count < 64;

  const results: MembershipAttackResult[] = [];
  for (const attack of requested) {
    if (o.signal?.aborted) throw new AegisError("INTERRUPTED", "membership inference was interrupted");
    const started = performance.now();
    const info = MEMBERSHIP_ATTACK_INFO[attack];
    const round = info.shadows === "online" ? rounds.online : info.shadows === "offline" ? rounds.offline : (rounds.offline ?? rounds.online);
    const labels = candidates.labels;
    let scores: Float64Array;
    let threshold: number | null = null;
    let queries = transforms.length;
    const params: MembershipAttackResult["params"] = {};
    switch (attack) {
      case "loss":
      case "confidence": {
        scores = thresholdScores(attack, targetCandidates, labels);
        queries = 1;
        threshold = round
          ? calibrateThreshold(
              round.population.map((out, j) => ({ scores: thresholdScores(attack, out, population.labels), trained: round.trainedPopulation[j] })),
            )
          : null;
        if (threshold === null)
          warn(
            `${attack}: ${round ? "no shadow model trained on some of the reference samples" : "no shadow models"} to calibrate a threshold on; only the threshold-free metrics are reported`,
          );
        break;
      }
      case "shokri": {
        const r = round as ShadowRound;
        const epochs = o.attackEpochs ?? 30;
        params.attack_epochs = epochs;
        queries = 1;
        scores = await shokriScores(
          firstAugmentation(targetCandidates),
          labels,
          r.population.map((out, j) => ({ outputs: firstAugmentation(out), labels: population.labels, trained: r.trainedPopulation[j] })),
          { epochs, seed },
        );
        break;
      }
      case "label-only": {
        const draws = o.labelOnly?.noiseDraws ?? 16;
        const sigma = o.labelOnly?.sigma ?? 0.5;
        Object.assign(params, { noise_draws: draws, sigma });
        queries = transforms.length + draws;
        scores = await labelOnlyAugmentationScores(o.target, candidates.x, labels, targetCandidates, {
          draws,
          sigma,
          featureSd: featureSd(o.reference.x),
          rng: createRng(seed + 7),
        });
        break;
      }
      case "label-only-boundary": {
        const maxQueries = o.labelOnly?.maxQueries ?? 1000;
        params.max_queries = maxQueries;
        queries = maxQueries;
        const bar = o.progress?.("boundary distance", labels.length);
        scores = await labelOnlyBoundaryScores(o.target, candidates.x, labels, {
          maxQueries,
          rng: createRng(seed + 11),
          signal: o.signal,
          onProgress: (done) => bar?.update(done),
        });
        bar?.stop();
        break;
      }
      case "lira-offline":
      case "lira-online": {
        const r = round as ShadowRound;
        const fixed = fixedVariance(r.plan.models.length);
        params.fixed_variance = fixed;
        scores = liraScores(
          attack,
          o,
          r,
          { candidates: targetCandidates, population: targetPopulation },
          { candidates: labels, population: population.labels },
          fixed,
          params,
          warn,
        );
        break;
      }
      case "rmia":
      case "rmia-online": {
        const r = round as ShadowRound;
        const online = attack === "rmia-online";
        const gamma = o.rmia?.gamma ?? 1;
        const refs = {
          candidates: r.candidates.map((out) => trueClassProbability(out, labels)),
          trainedCandidates: r.trainedCandidates,
          population: r.population.map((out) => trueClassProbability(out, population.labels)),
          trainedPopulation: r.trainedPopulation,
        };
        const a = online ? undefined : (o.rmia?.a ?? calibrateOfflineA(refs, gamma));
        Object.assign(params, { gamma, ...(a === undefined ? {} : { a }) });
        scores = rmia(
          { candidates: trueClassProbability(targetCandidates, labels), population: trueClassProbability(targetPopulation, population.labels) },
          refs,
          { online, a: a ?? 0, gamma },
        );
        break;
      }
    }
    results.push(attackResult(attack, scores, isMember, threshold, round, queries, params, started));
  }
  return {
    members: o.members.labels.length,
    non_members: o.nonMembers.labels.length,
    reference: o.reference.labels.length,
    population: populationSize,
    augment,
    target: accuracies(targetCandidates, candidates.labels, isMember),
    shadow: o.shadow
      ? {
          offline_models: rounds.offline?.plan.models.length ?? 0,
          online_models: rounds.online?.plan.models.length ?? 0,
          train_size: o.shadow.trainSize,
          architecture: "arch" in o.shadow.config.architecture ? o.shadow.config.architecture.arch : "the target's, re-initialised",
          training: o.shadow.config.training,
        }
      : null,
    attacks: results,
    warnings,
  };
}

/**
 * LiRA's scores, the shadow models' confidences mapped onto the target's scale and offline
 * LiRA's test as the options ask (lira.ts), both fitted on the population; notes what was
 * fitted in `params`, and warns when the population cannot fit it.
 */
function liraScores(
  attack: "lira-offline" | "lira-online",
  o: MembershipOptions,
  round: ShadowRound,
  target: { candidates: Outputs; population: Outputs },
  labels: { candidates: readonly number[]; population: readonly number[] },
  fixedVariance: boolean,
  params: MembershipAttackResult["params"],
  warn: (message: string) => void,
): Float64Array {
  const populationPhi: ShadowConfidences = { phi: round.population.map((out) => trueClassLogit(out, labels.population)), trained: round.trainedPopulation };
  let scale: TargetScale | undefined;
  if (o.targetCalibration ?? true) {
    scale = fitTargetScale(trueClassLogit(target.population, labels.population), populationPhi) ?? undefined;
    if (!scale)
      warn(
        `${attack}: the target's confidences could not be calibrated on the population (fewer than ${MIN_CALIBRATION_SAMPLES} samples a shadow model did not train on, or no relation to the shadow models'); the shadow models' are used as they are`,
      );
  }
  Object.assign(params, scale ? { calibration_slope: scale.slope, calibration_offset: scale.offset } : { target_calibration: false });
  let inShift: InShift | undefined;
  if (attack === "lira-offline") {
    const test = o.liraOfflineTest ?? "likelihood-ratio";
    inShift = test === "likelihood-ratio" ? (fitInShift(populationPhi) ?? undefined) : undefined;
    if (test === "likelihood-ratio" && !inShift)
      warn(
        `lira-offline: fewer than ${MIN_CALIBRATION_SAMPLES} population samples a shadow model trained on, so training's effect cannot be estimated; the one-sided test is used instead`,
      );
    params.test = inShift ? "likelihood-ratio" : "one-sided";
  }
  const phi = trueClassLogit(target.candidates, labels.candidates);
  const shadows: ShadowConfidences = { phi: round.candidates.map((out) => trueClassLogit(out, labels.candidates)), trained: round.trainedCandidates };
  const options = { fixedVariance, scale, inShift };
  return attack === "lira-online" ? liraOnline(phi, shadows, options) : liraOffline(phi, shadows, options);
}

function attackResult(
  attack: MembershipAttackName,
  scores: Float64Array,
  isMember: boolean[],
  threshold: number | null,
  round: ShadowRound | undefined,
  queries: number,
  params: MembershipAttackResult["params"],
  started: number,
): MembershipAttackResult {
  const info = MEMBERSHIP_ATTACK_INFO[attack];
  const m: MembershipMetrics = membershipMetrics(scores, isMember);
  return {
    attack,
    title: info.title,
    paper: info.paper,
    access: info.access,
    shadow_models: info.shadows === "none" && threshold === null ? 0 : (round?.plan.models.length ?? 0),
    queries,
    auc: m.auc,
    balanced_accuracy: m.balancedAccuracy,
    tpr_at_low_fpr: m.tprAtLowFpr,
    threshold: threshold === null ? null : thresholdOutcome(scores, isMember, threshold),
    roc: m.roc,
    seconds: (performance.now() - started) / 1000,
    params,
  };
}

/** Loads each shadow model and queries it on the candidates and the population. */
async function observeShadows(
  models: Uint8Array[],
  plan: ShadowPlan,
  candidates: LabelledData,
  population: LabelledData,
  populationRows: number[],
  transforms: readonly Augment[],
  progress: Progress | undefined,
): Promise<ShadowRound> {
  const round: ShadowRound = { plan, candidates: [], population: [], trainedCandidates: [], trainedPopulation: [] };
  const bar = progress?.("querying shadow models", models.length);
  const nc = candidates.labels.length;
  for (const [j, bytes] of models.entries()) {
    const model = await OnnxClassifier.create(decodeModel(bytes));
    try {
      round.candidates.push(await queryOutputs(model, candidates.x, transforms));
      round.population.push(await queryOutputs(model, population.x, transforms));
    } finally {
      await model.release();
    }
    round.trainedCandidates.push(Uint8Array.from({ length: nc }, (_, i) => (trainedOn(plan, j, i) ? 1 : 0)));
    round.trainedPopulation.push(Uint8Array.from(populationRows, (r) => (trainedOn(plan, j, nc + r) ? 1 : 0)));
    bar?.update(j + 1);
  }
  bar?.stop();
  return round;
}

function firstAugmentation(o: Outputs): Outputs {
  return { logProbs: o.logProbs.subarray(0, o.samples * o.classes), augmentations: 1, samples: o.samples, classes: o.classes };
}

function accuracies(o: Outputs, labels: readonly number[], isMember: boolean[]): MembershipResult["target"] {
  const correct = [0, 0];
  const counts = [0, 0];
  for (let i = 0; i < labels.length; i++) {
    const group = isMember[i] ? 0 : 1;
    counts[group]++;
    let best = 0;
    for (let j = 1; j < o.classes; j++) if (o.logProbs[i * o.classes + j] > o.logProbs[i * o.classes + best]) best = j;
    if (best === labels[i]) correct[group]++;
  }
  return { member_accuracy: correct[0] / counts[0], non_member_accuracy: correct[1] / counts[1] };
}

function checkData(o: MembershipOptions, candidates: LabelledData): void {
  for (const [name, d] of [
    ["members", o.members],
    ["non-members", o.nonMembers],
    ["reference data", o.reference],
  ] as const) {
    if (d.labels.length === 0) throw new AegisError("BAD_DATA", `the ${name} are empty; membership inference needs members, non-members and reference data`);
    const shape = d.x.shape.slice(1).join(",");
    if (shape !== candidates.x.shape.slice(1).join(","))
      throw new AegisError("SHAPE_MISMATCH", `the ${name} have samples of shape [${shape}], unlike the members' [${o.members.x.shape.slice(1).join(", ")}]`);
    const bad = d.labels.findIndex((l) => !Number.isInteger(l) || l < 0 || l >= o.target.numClasses);
    if (bad !== -1)
      throw new AegisError(
        "LABEL_OUT_OF_RANGE",
        `label ${d.labels[bad]} of sample ${bad} of the ${name} is outside the model's classes 0..${o.target.numClasses - 1}`,
      );
  }
  if (LOW_FPRS[0] * o.nonMembers.labels.length < 1)
    o.log?.(
      `note: with ${o.nonMembers.labels.length} non-members, TPR at ${LOW_FPRS[0] * 100}% FPR is the TPR at zero false positives; ${Math.ceil(1 / LOW_FPRS[0])} or more non-members resolve it`,
    );
}

/** Per input element, its standard deviation over the samples of `x` (label-only noise scale). */
function featureSd(x: LabelledData["x"]): Float32Array {
  const n = x.shape[0];
  const size = sizeOf(x.shape.slice(1));
  const mean = new Float64Array(size);
  const squares = new Float64Array(size);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < size; k++) {
      const v = x.data[i * size + k];
      mean[k] += v / n;
      squares[k] += (v * v) / n;
    }
  return Float32Array.from(mean, (m, k) => Math.sqrt(Math.max(0, squares[k] - m * m)));
}
