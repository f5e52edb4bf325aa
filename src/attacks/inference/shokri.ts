/**
 * The shadow-model attack — Shokri, Stronati, Song & Shmatikov, "Membership Inference
 * Attacks Against Machine Learning Models", IEEE S&P 2017.
 *
 * Shadow models trained like the target show what a model's outputs look like on its own
 * training samples and on samples it never saw; an attack classifier learns the difference
 * from them and is then applied to the target's outputs. Features per sample: the class
 * log-probabilities sorted from the largest, the true class's log-probability, and the
 * label one-hot (each clipped at log 10⁻³⁰).
 * Deviations: one attack model that takes the label as input, as ART's black-box attack,
 * instead of one model per class (with few shadow samples per class those overfit); the
 * two kinds of samples are balanced by repeating members, which are the rarer kind among a
 * shadow model's reference samples.
 */
import { fitAttackModel } from "./attack-model.js";
import type { Outputs } from "./observations.js";

/** A shadow model's outputs on reference samples, their labels and which of them it trained on. */
export interface ShadowObservations {
  outputs: Outputs;
  labels: readonly number[];
  trained: Uint8Array;
}

export interface ShokriOptions {
  epochs: number;
  seed: number;
}

export async function shokriScores(
  target: Outputs,
  labels: readonly number[],
  shadows: readonly ShadowObservations[],
  o: ShokriOptions,
): Promise<Float64Array> {
  const k = target.classes;
  const trainingFeatures = shadows.map((s) => attackFeatures(s.outputs, s.labels));
  const width = 2 * k + 1;
  const rows = shadows.reduce((n, s) => n + s.labels.length, 0);
  const features = new Float32Array(rows * width);
  const member: number[] = [];
  let offset = 0;
  for (const [j, s] of shadows.entries()) {
    features.set(trainingFeatures[j], offset * width);
    offset += s.labels.length;
    for (const t of s.trained) member.push(t);
  }
  const model = await fitAttackModel(features, member, { classes: 2, epochs: o.epochs, seed: o.seed, balance: true });
  try {
    const p = await model.probabilities(attackFeatures(target, labels), labels.length);
    return Float64Array.from(labels, (_, i) => p[i * 2 + 1]);
  } finally {
    await model.release();
  }
}

const CLIP = Math.log(1e-30);

/** [N, 2K + 1]: sorted log-probabilities, the true class's, the label one-hot (see the header). */
function attackFeatures(o: Outputs, labels: readonly number[]): Float32Array {
  const k = o.classes;
  const width = 2 * k + 1;
  const out = new Float32Array(o.samples * width);
  for (let i = 0; i < o.samples; i++) {
    const row = Array.from(o.logProbs.subarray(i * k, (i + 1) * k), (v) => Math.max(v, CLIP));
    const sorted = [...row].sort((a, b) => b - a);
    out.set(sorted, i * width);
    out[i * width + k] = row[labels[i]];
    out[i * width + k + 1 + labels[i]] = 1;
  }
  return out;
}
