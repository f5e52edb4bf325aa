/**
 * Feature collision — Shafahi, Huang, Najibi, Suciu, Studer, Dumitras & Goldstein, "Poison
 * Frogs! Targeted Clean-Label Poisoning Attacks on Neural Networks", NeurIPS 2018.
 * A targeted clean-label attack: the attacker wants one target input t (of class A) to be
 * classified as the base class B after the victim trains on its data, without changing any
 * label. Each poison p starts from a base image b of class B and is crafted to sit next to
 * t in feature space (the penultimate layer, or a layer the user names) while staying near
 * b in input space:  p = argmin ‖f(p) − f(t)‖² + β‖p − b‖².  The paper's forward–backward
 * splitting: a gradient step on the feature distance, p ← p − λ∇ₚ‖f(p) − f(t)‖², then the
 * proximal step of the input-space term, p ← (p + λβb)/(1 + λβ), then a clip to the valid
 * range. A victim that retrains its last layer on features it cannot change (transfer
 * learning) then has a row labelled B exactly where t lies, and moves its boundary over t.
 *
 * Defaults from the paper: β = β₀·(dim_f)²/(dim_b)² with β₀ = 0.25 (dim_f features, dim_b
 * input values); no watermark, as in its transfer-learning ("one-shot kill") setting — its
 * end-to-end setting blends the target into each base at 30% opacity first (`watermark`:
 * b ← γ·t + (1 − γ)·b); bases drawn at random from class B. Deviations: the paper leaves the
 * step size λ open; here each poison's first step moves its largest pixel by a quarter of
 * the input range, and a step that raises the poison's objective is undone and halved
 * (the authors' code also decays its step), so the objective never rises. The paper adds its
 * poisons to the training set; here they replace their base rows (the set keeps its size,
 * and the manifest lists them). One target per run, as in the paper.
 */
import type { ModelInfo } from "../../engine/capabilities.js";
import { createFeatureExtractor, type FeatureExtractor } from "../../engine/features.js";
import { AegisError } from "../../errors.js";
import type { Progress } from "../../progress.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { createManifest, encodeInputs } from "./manifest.js";
import { checkClass, drawRows } from "./rows.js";
import type { PoisoningAttack } from "./types.js";

export interface FeatureCollisionParams {
  /** The class B the target should be classified as; the poisons are (and stay labelled) B. */
  baseClass: number;
  /** Number of poisons (base rows replaced). */
  count: number;
  maxIter: number;
  /** β₀ of the paper's β = β₀·(dim_f)²/(dim_b)². */
  beta0: number;
  /** Opacity γ of the target blended into each base before crafting (0: none). */
  watermark: number;
  /** The model value whose features collide; null for the penultimate layer. */
  layer: string | null;
}

export const featureCollision: PoisoningAttack<FeatureCollisionParams> = {
  name: "feature-collision",
  title: "Feature collision (Poison Frogs)",
  paper: "Shafahi et al. 2018, Poison Frogs! Targeted Clean-Label Poisoning Attacks on Neural Networks",
  needsModel: true,
  defaults: { baseClass: 0, count: 1, maxIter: 200, beta0: 0.25, watermark: 0, layer: null },
  help: {
    baseClass: "class B the target should be classified as; poisons are crafted from (and keep) B's labels",
    count: "number of poisons, each crafted from a random row of class B (paper: 1 for transfer learning)",
    maxIter: "forward–backward splitting iterations",
    beta0: "weight of the input-space distance to the base, β = β₀·dim_f²/dim_b² (paper: 0.25)",
    watermark: "opacity of the target blended into each base first (paper: 0 for transfer learning, 0.3 end to end)",
    layer: "model value whose features collide (default: the penultimate layer)",
  },
  async poison(data, p, { rng, model, targets, signal, progress }) {
    if (!model)
      throw new AegisError(
        "BAD_OPTION",
        "feature collision crafts its poisons in a model's feature space; give the victim's (or a surrogate's) model with --model",
      );
    if (targets?.x.shape[0] !== 1)
      throw new AegisError("BAD_OPTION", "feature collision needs exactly one target input (--target-index), the input the poisoned model should misclassify");
    checkClass(p.baseClass, data.numClasses, "--base-class");
    const targetLabel = targets.labels[0];
    if (targetLabel === p.baseClass)
      throw new AegisError("BAD_OPTION", `the target is already of class ${p.baseClass}; choose a --base-class other than its own`);
    if (!(Number.isInteger(p.count) && p.count >= 1)) throw new AegisError("BAD_OPTION", `count must be a positive integer, not ${p.count}`);
    if (!(Number.isInteger(p.maxIter) && p.maxIter >= 1)) throw new AegisError("BAD_OPTION", `maxIter must be a positive integer, not ${p.maxIter}`);
    if (!(p.beta0 >= 0)) throw new AegisError("BAD_OPTION", `beta0 must be ≥ 0, not ${p.beta0}`);
    if (!(p.watermark >= 0 && p.watermark < 1)) throw new AegisError("BAD_OPTION", `the watermark opacity must be in [0, 1), not ${p.watermark}`);
    const sampleShape = data.x.shape.slice(1);
    if (sizeOf(targets.x.shape.slice(1)) !== sizeOf(sampleShape))
      throw new AegisError("SHAPE_MISMATCH", `the target has shape [${targets.x.shape.slice(1).join(", ")}], the data's samples [${sampleShape.join(", ")}]`);
    const candidates = data.labels.flatMap((y, i) => (y === p.baseClass ? [i] : []));
    const rows = drawRows(candidates, p.count, rng, `feature collision with bases of class ${p.baseClass}`);
    // The model's own runtime options, so --threads and --device hold for the extractor too.
    const extractor = await createFeatureExtractor(model.exportModel(), { ...model.runtimeOptions, layer: p.layer ?? undefined, pooling: "none" });
    let crafted: Collision;
    try {
      crafted = await collideFeatures(extractor, model, gatherRows(data.x, rows), targets.x, p, { signal, progress });
    } finally {
      await extractor.release();
    }
    const x = Float32Array.from(data.x.data);
    const row = sizeOf(sampleShape);
    rows.forEach((r, i) => {
      x.set(crafted.poisons.data.subarray(i * row, (i + 1) * row), r * row);
    });
    const goal = { kind: "targeted" as const, adversarial_class: p.baseClass, targets: encodeInputs(targets.x, [targetLabel]) };
    return { x: { ...data.x, data: x }, labels: [...data.labels], manifest: createManifest(featureCollision, p, data, goal, null, rows) };
  },
};

export interface Collision {
  poisons: Tensor<"float32">;
  /** ‖f(b) − f(t)‖² per poison, at its (watermarked) base. */
  startDistance: number[];
  /** ‖f(p) − f(t)‖² per poison, at the end. */
  featureDistance: number[];
}

/**
 * The paper's forward–backward splitting for each base row against one target, all rows in
 * one batch with a step size each. Exported for measurement (the distances) and for reuse
 * with a feature extractor the caller keeps.
 */
export async function collideFeatures(
  extractor: FeatureExtractor,
  model: ModelInfo,
  bases: Tensor<"float32">,
  target: Tensor<"float32">,
  p: Pick<FeatureCollisionParams, "maxIter" | "beta0" | "watermark">,
  options: { signal?: AbortSignal; progress?: Progress } = {},
): Promise<Collision> {
  const n = bases.shape[0];
  const row = sizeOf(bases.shape.slice(1));
  const [lo, hi] = model.clipRange;
  const range = Number.isFinite(hi - lo) ? hi - lo : 1;
  const clip = (v: number) => Math.min(hi, Math.max(lo, v));
  const base = Float32Array.from(bases.data, (v, k) => (1 - p.watermark) * v + p.watermark * target.data[k % row]);
  const targetFeatures = (await extractor.extract(target)).features.data;
  const dim = targetFeatures.length;
  const beta = (p.beta0 * dim * dim) / (row * row);
  const featuresOf = async (x: Float32Array) => (await extractor.extract(float32(bases.shape, x))).features.data;
  /** Per row: ‖f(x) − f(t)‖², and the objective with β‖x − b‖². */
  const measure = (x: Float32Array, f: Float32Array, i: number) => {
    let feature = 0;
    for (let j = 0; j < dim; j++) feature += (f[i * dim + j] - targetFeatures[j]) ** 2;
    let input = 0;
    for (let k = i * row; k < (i + 1) * row; k++) input += (x[k] - base[k]) ** 2;
    return { feature, objective: feature + beta * input };
  };
  const poison = Float32Array.from(base);
  let features = await featuresOf(poison);
  const startDistance = Array.from({ length: n }, (_, i) => measure(poison, features, i).feature);
  const objective = Array.from({ length: n }, (_, i) => measure(poison, features, i).objective);
  const step = new Float64Array(n);
  const bar = options.progress?.("feature collision", p.maxIter);
  try {
    for (let iter = 0; iter < p.maxIter; iter++) {
      if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "feature collision was interrupted");
      const seed = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) seed[i * dim + j] = 2 * (features[i * dim + j] - targetFeatures[j]);
      const grad = (await extractor.vjp(float32(bases.shape, poison), float32([n, dim], seed))).data;
      const candidate = new Float32Array(poison.length);
      for (let i = 0; i < n; i++) {
        if (step[i] === 0) {
          let largest = 0;
          for (let k = i * row; k < (i + 1) * row; k++) largest = Math.max(largest, Math.abs(grad[k]));
          step[i] = largest > 0 ? (0.25 * range) / largest : 0;
        }
        const lambda = step[i];
        for (let k = i * row; k < (i + 1) * row; k++) {
          const forward = poison[k] - lambda * grad[k];
          candidate[k] = clip((forward + lambda * beta * base[k]) / (1 + lambda * beta));
        }
      }
      const next = await featuresOf(candidate);
      for (let i = 0; i < n; i++) {
        const m = measure(candidate, next, i);
        if (m.objective < objective[i]) {
          objective[i] = m.objective;
          poison.set(candidate.subarray(i * row, (i + 1) * row), i * row);
          features.set(next.subarray(i * dim, (i + 1) * dim), i * dim);
        } else step[i] /= 2;
      }
      bar?.update(iter + 1);
    }
  } finally {
    bar?.stop();
  }
  features = await featuresOf(poison);
  const featureDistance = Array.from({ length: n }, (_, i) => measure(poison, features, i).feature);
  return { poisons: float32(bases.shape, poison), startDistance, featureDistance };
}
