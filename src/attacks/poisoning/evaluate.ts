/**
 * How well a poisoning attack worked on a trained model, measured on held-out data: the
 * clean accuracy, and the attack success rate (ASR) its goal defines —
 * - backdoor: the share of triggered inputs classified as the attacker's class, over the
 *   inputs not already of it (all-to-one; Gu et al. 2017), or every input sent to
 *   (y + 1) mod K (all-to-all);
 * - targeted (feature collision, gradient matching): the share of the target inputs
 *   classified as the adversarial class;
 * - label flipping: source-class inputs classified as the target, or (random flipping) the
 *   error rate;
 * - blind spot (tabular): positive rows matching the pattern classified as benign.
 */
import { buildArchitecture } from "../../engine/architectures.js";
import type { Predictor } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor } from "../../engine/features.js";
import { adam } from "../../engine/optimizers.js";
import { argmaxRow, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { decodeInputs } from "./manifest.js";
import { compileTrigger, stamp } from "./trigger.js";
import type { PoisonManifest, RowPattern } from "./types.js";

export interface PoisonSuccess {
  goal: PoisonManifest["goal"]["kind"];
  samples: number;
  clean_accuracy: number;
  /** Inputs the attack success rate is measured over. */
  attack_samples: number;
  attack_success_rate: number;
  /** What the rate counts, in words. */
  measures: string;
  /**
   * Blind spot: the same rate over the positive rows outside the pattern, which a targeted
   * attack leaves alone (its rise is the collateral damage).
   */
  elsewhere?: { samples: number; rate: number; measures: string };
}

/** Whether a row meets every condition of the pattern. */
export function matchesPattern(row: Float32Array | ArrayLike<number>, pattern: readonly RowPattern[]): boolean {
  return pattern.every((p) => {
    const v = row[p.feature];
    return p.op === "=" ? v === p.value : p.op === "<=" ? v <= p.value : v >= p.value;
  });
}

export function patternText(pattern: readonly RowPattern[]): string {
  return pattern.map((p) => `${p.name ?? `feature ${p.feature}`} ${p.op} ${p.value}`).join(" and ");
}

async function predictions(model: Predictor, x: Tensor<"float32">): Promise<number[]> {
  if (x.shape[0] === 0) return [];
  const out = await model.predict(x);
  return Array.from({ length: x.shape[0] }, (_, i) => argmaxRow(out, i));
}

export async function poisonSuccess(
  model: Predictor,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  manifest: PoisonManifest,
): Promise<PoisonSuccess> {
  const n = data.x.shape[0];
  const predicted = await predictions(model, data.x);
  const clean = predicted.filter((p, i) => p === data.labels[i]).length / Math.max(1, n);
  const goal = manifest.goal;
  const rate = (hits: number, total: number) => (total > 0 ? hits / total : 0);
  const base = { goal: goal.kind, samples: n, clean_accuracy: clean };
  switch (goal.kind) {
    case "backdoor": {
      const sample = [...data.x.shape.slice(1)];
      if (sizeOf(sample) !== sizeOf(manifest.data.sample_shape))
        throw new AegisError(
          "SHAPE_MISMATCH",
          `the manifest's trigger is for samples of shape [${manifest.data.sample_shape.join(", ")}], the data's are [${sample.join(", ")}]`,
        );
      const trigger = compileTrigger(manifest.trigger as NonNullable<PoisonManifest["trigger"]>, sample);
      const k = manifest.data.num_classes;
      const wanted = (y: number) => (goal.mode === "all-to-one" ? goal.target : (y + 1) % k);
      const rows = data.labels.flatMap((y, i) => (goal.mode === "all-to-all" || y !== goal.target ? [i] : []));
      const triggered = await predictions(model, stamp(gatherRows(data.x, rows), trigger));
      const hits = triggered.filter((p, j) => p === wanted(data.labels[rows[j]])).length;
      const what = goal.mode === "all-to-one" ? `class ${goal.target}` : "class (y + 1) mod K";
      return { ...base, attack_samples: rows.length, attack_success_rate: rate(hits, rows.length), measures: `triggered inputs classified as ${what}` };
    }
    case "targeted": {
      const targets = decodeInputs(goal.targets);
      const p = await predictions(model, targets.x);
      const hits = p.filter((c) => c === goal.adversarial_class).length;
      return {
        ...base,
        attack_samples: p.length,
        attack_success_rate: rate(hits, p.length),
        measures: `target inputs classified as class ${goal.adversarial_class}`,
      };
    }
    case "label-flip": {
      if (goal.source === null || goal.target === null)
        return { ...base, attack_samples: n, attack_success_rate: 1 - clean, measures: "error rate on clean inputs (random flipping)" };
      const rows = data.labels.flatMap((y, i) => (y === goal.source ? [i] : []));
      const hits = rows.filter((i) => predicted[i] === goal.target).length;
      return {
        ...base,
        attack_samples: rows.length,
        attack_success_rate: rate(hits, rows.length),
        measures: `class-${goal.source} inputs classified as class ${goal.target}`,
      };
    }
    case "blind-spot": {
      const row = sizeOf(data.x.shape.slice(1));
      const inside: number[] = [];
      const outside: number[] = [];
      for (const [i, y] of data.labels.entries())
        if (y === goal.positive_class) (matchesPattern(data.x.data.subarray(i * row, (i + 1) * row), goal.pattern) ? inside : outside).push(i);
      const missed = (rows: number[]) => rate(rows.filter((i) => predicted[i] === goal.benign_class).length, rows.length);
      return {
        ...base,
        attack_samples: inside.length,
        attack_success_rate: missed(inside),
        measures: `class-${goal.positive_class} rows with ${patternText(goal.pattern)} classified as class ${goal.benign_class}`,
        elsewhere: {
          samples: outside.length,
          rate: missed(outside),
          measures: `class-${goal.positive_class} rows outside the pattern classified as class ${goal.benign_class}`,
        },
      };
    }
  }
}

/**
 * The victim of Shafahi et al.'s transfer-learning experiment: `model`'s feature extractor
 * (its penultimate layer) frozen, and a new last layer — a softmax regression on those
 * features — trained on `data` (Adam 0.01, batches of 64). Targeted attacks are scored on
 * it with poisonSuccess. Release it when done.
 */
export async function retrainLastLayer(
  model: OnnxClassifier,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  options: { epochs?: number; seed?: number } = {},
): Promise<Predictor & { release(): Promise<void> }> {
  const extractor = await createFeatureExtractor(model.exportModel(), { ...model.runtimeOptions, pooling: "none" });
  const features = async (x: Tensor<"float32">) => (await extractor.extract(x)).features;
  const f = await features(data.x);
  const head = await OnnxClassifier.create(buildArchitecture("linear", { inputShape: [f.shape[1]], numClasses: model.numClasses, seed: options.seed ?? 0 }), {
    trainable: true,
  });
  try {
    await train(head, { x: f, labels: data.labels }, { epochs: options.epochs ?? 30, batchSize: 64, optimizer: adam({ lr: 0.01 }), seed: options.seed ?? 0 });
  } catch (e) {
    await Promise.all([head.release(), extractor.release()]);
    throw e;
  }
  const { inputShape, numClasses, clipRange } = model;
  return {
    inputShape,
    numClasses,
    clipRange,
    outputKind: head.outputKind,
    predict: async (x) => head.predict(await features(x)),
    release: async () => {
      await Promise.all([head.release(), extractor.release()]);
    },
  };
}
