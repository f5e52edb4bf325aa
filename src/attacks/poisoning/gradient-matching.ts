/**
 * Gradient matching — Geiping, Fowl, Huang, Czaja, Taylor, Moeller & Goldstein, "Witches'
 * Brew: Industrial Scale Data Poisoning via Gradient Matching", ICLR 2021.
 * A targeted clean-label poison against a victim that trains from scratch. The attacker
 * wants one target input t (of some class) classified as the adversarial class A after
 * training. Training follows the summed gradient of its rows, so the attacker perturbs a
 * budget of rows of class A (labels kept, each change within an L∞ ball of radius ε) until
 * their parameter gradient points where the target's gradient under the wrong label does:
 *   min_δ  1 − cos(∇θ Σᵢ L(xᵢ + δᵢ, A), ∇θ L(t, A)),
 * with θ a surrogate model trained on clean data. A victim's descent on the poisons is then
 * also a descent on the target's adversarial loss.
 *
 * The gradient of that objective in δ is a mixed second derivative. With
 * v = ∂cos/∂g (g the poisons' parameter gradient; v follows from g and the target's
 * gradient), it is ∇ₓ[v·∇θL(θ, x)], the derivative of the input gradient in the parameter
 * direction v. The engine's backward graphs cannot be differentiated again (MaxPool's
 * backward is a MaxUnpool, which has no gradient rule), so it is taken as a central
 * difference of two input gradients at shifted weights:
 *   (∇ₓL(θ + hv, x) − ∇ₓL(θ − hv, x)) / 2h,  h = 10⁻⁴·‖θ‖/‖v‖.
 *
 * Defaults from the paper: ε = 16/255 of the input range; a budget of 1% of the training
 * set, drawn at random from class A; R = 8 restarts, keeping the one with the best
 * alignment; M = 240 steps of signed Adam (Adam on the sign of the gradient) from a random
 * start in the ball, step size 0.1·ε divided by 10 at 3/8, 5/8 and 7/8 of the steps (the
 * authors' schedule). Deviation: no differentiable data augmentation while crafting — the
 * paper's option against victims that augment, which Aegis's training does not. The paper
 * adds no rows either: its poisons replace their bases, as here. One target per run.
 */
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import type { Progress } from "../../progress.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { createManifest, encodeInputs } from "./manifest.js";
import { budget, checkClass, drawRows } from "./rows.js";
import type { PoisoningAttack } from "./types.js";

export interface GradientMatchingParams {
  /** The class A the target should be classified as; the poisons are (and stay labelled) A. */
  adversarialClass: number;
  /** Share of all rows poisoned, drawn among class A's rows. */
  fraction: number;
  /** L∞ radius as a share of the model's input range. */
  eps: number;
  restarts: number;
  /** Signed-Adam steps per restart. */
  maxIter: number;
}

/**
 * The finite-difference step in parameter space, relative to ‖θ‖/‖v‖. On a ReLU CNN 10⁻³
 * crosses activation kinks (its estimates disagree with 10⁻⁴'s); 10⁻⁴ and 10⁻⁵ agree.
 */
const DIFFERENCE_SCALE = 1e-4;
const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

export const gradientMatching: PoisoningAttack<GradientMatchingParams> = {
  name: "gradient-matching",
  title: "Gradient matching (Witches' Brew)",
  paper: "Geiping et al. 2021, Witches' Brew: Industrial Scale Data Poisoning via Gradient Matching",
  needsModel: true,
  defaults: { adversarialClass: 0, fraction: 0.01, eps: 16 / 255, restarts: 8, maxIter: 240 },
  help: {
    adversarialClass: "class A the target should be classified as; poisons are perturbed rows of A and keep A's label",
    fraction: "share of all rows poisoned, drawn among class A's rows (paper: 0.01)",
    eps: "L∞ radius of the perturbation, as a share of the input range (paper: 16/255)",
    restarts: "crafting runs from fresh random starts; the best-aligned one is kept (paper: 8)",
    maxIter: "signed-Adam steps per restart (paper: 240)",
  },
  async poison(data, p, { rng, model, targets, signal, progress }) {
    if (!model)
      throw new AegisError(
        "BAD_OPTION",
        "gradient matching aligns gradients of a model trained on clean data; give the victim's architecture trained on the clean set (a surrogate) with --model",
      );
    if (targets?.x.shape[0] !== 1)
      throw new AegisError("BAD_OPTION", "gradient matching needs exactly one target input (--target-index), the input the poisoned model should misclassify");
    checkClass(p.adversarialClass, data.numClasses, "--base-class");
    if (targets.labels[0] === p.adversarialClass)
      throw new AegisError("BAD_OPTION", `the target is already of class ${p.adversarialClass}; choose a --base-class other than its own`);
    if (!(p.eps > 0 && p.eps <= 1)) throw new AegisError("BAD_OPTION", `eps must be in (0, 1] (a share of the input range), not ${p.eps}`);
    for (const key of ["restarts", "maxIter"] as const)
      if (!(Number.isInteger(p[key]) && p[key] >= 1)) throw new AegisError("BAD_OPTION", `${key} must be a positive integer, not ${p[key]}`);
    const sampleShape = data.x.shape.slice(1);
    if (sizeOf(targets.x.shape.slice(1)) !== sizeOf(sampleShape))
      throw new AegisError("SHAPE_MISMATCH", `the target has shape [${targets.x.shape.slice(1).join(", ")}], the data's samples [${sampleShape.join(", ")}]`);
    const candidates = data.labels.flatMap((y, i) => (y === p.adversarialClass ? [i] : []));
    const rows = drawRows(candidates, budget(p.fraction, data.x.shape[0]), rng, `gradient matching with poisons of class ${p.adversarialClass}`);
    const surrogate = await trainableCopy(model);
    let brew: Brew;
    try {
      brew = await brewPoisons(surrogate, gatherRows(data.x, rows), targets.x, p, { random: rng.next, signal, progress });
    } finally {
      if (surrogate !== model) await surrogate.release();
    }
    const x = Float32Array.from(data.x.data);
    const row = sizeOf(sampleShape);
    rows.forEach((r, i) => {
      x.set(brew.poisons.data.subarray(i * row, (i + 1) * row), r * row);
    });
    const goal = { kind: "targeted" as const, adversarial_class: p.adversarialClass, targets: encodeInputs(targets.x, targets.labels) };
    return { x: { ...data.x, data: x }, labels: [...data.labels], manifest: createManifest(gradientMatching, p, data, goal, null, rows) };
  },
};

/** The model itself when its parameters are fed (trainable), else a trainable copy to release. */
async function trainableCopy(model: OnnxClassifier): Promise<OnnxClassifier> {
  if (model.parameters.length > 0) return model;
  return OnnxClassifier.create(model.exportModel(), {
    ...model.runtimeOptions,
    trainable: true,
    clipRange: [...model.clipRange] as [number, number],
    outputKind: model.outputKind,
    batchSize: model.batchSize,
  });
}

export interface Brew {
  poisons: Tensor<"float32">;
  /** cos(poisons' gradient, target's adversarial gradient) of the unperturbed bases. */
  startAlignment: number;
  /** The same for the kept restart's poisons. */
  alignment: number;
  /** Final alignment of every restart. */
  restartAlignments: number[];
}

/**
 * The paper's crafting loop for bases all of class `adversarialClass` against one target:
 * `restarts` runs of signed Adam, each projected onto the ε ball and the valid range after
 * every step; the best-aligned run is kept. `model` must be trainable (its parameters fed).
 */
export async function brewPoisons(
  model: OnnxClassifier,
  bases: Tensor<"float32">,
  target: Tensor<"float32">,
  p: Pick<GradientMatchingParams, "adversarialClass" | "eps" | "restarts" | "maxIter">,
  options: { random: () => number; signal?: AbortSignal; progress?: Progress },
): Promise<Brew> {
  const n = bases.shape[0];
  const labels = new Array<number>(n).fill(p.adversarialClass);
  const goal = await parameterGradient(model, target, [p.adversarialClass]);
  const [lo, hi] = model.clipRange;
  const eps = p.eps * (Number.isFinite(hi - lo) ? hi - lo : 1);
  const base = bases.data;
  const project = (v: number, k: number) => Math.min(Math.min(hi, base[k] + eps), Math.max(Math.max(lo, base[k] - eps), v));
  const milestones = [3 / 8, 5 / 8, 7 / 8].map((f) => Math.floor(f * p.maxIter));
  const startAlignment = (await gradientAlignment(model, bases, labels, goal)).cosine;
  const restartAlignments: number[] = [];
  let best: { x: Float32Array; cosine: number } | undefined;
  const bar = options.progress?.("gradient matching", p.restarts * p.maxIter);
  try {
    for (let restart = 0; restart < p.restarts; restart++) {
      const x = Float32Array.from(base, (v, k) => project(v + (2 * options.random() - 1) * eps, k));
      const first = new Float32Array(x.length);
      const second = new Float32Array(x.length);
      for (let step = 1; step <= p.maxIter; step++) {
        if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "gradient matching was interrupted");
        const lr = 0.1 * eps * 0.1 ** milestones.filter((m) => step > m).length;
        const { gradient, cosine } = await gradientAlignment(model, float32(bases.shape, x), labels, goal, true);
        const c1 = 1 - ADAM.beta1 ** step;
        const c2 = 1 - ADAM.beta2 ** step;
        for (let k = 0; k < x.length; k++) {
          const s = Math.sign((gradient as Float32Array)[k]);
          first[k] = ADAM.beta1 * first[k] + (1 - ADAM.beta1) * s;
          second[k] = ADAM.beta2 * second[k] + (1 - ADAM.beta2) * s * s;
          x[k] = project(x[k] - (lr * first[k]) / c1 / (Math.sqrt(second[k] / c2) + ADAM.epsilon), k);
        }
        bar?.update(restart * p.maxIter + step, `cos ${cosine.toFixed(3)}`);
      }
      const cosine = (await gradientAlignment(model, float32(bases.shape, x), labels, goal)).cosine;
      restartAlignments.push(cosine);
      if (!best || cosine > best.cosine) best = { x, cosine };
    }
  } finally {
    bar?.stop();
  }
  const kept = best as { x: Float32Array; cosine: number };
  return { poisons: float32(bases.shape, kept.x), startAlignment, alignment: kept.cosine, restartAlignments };
}

/** ∇θ of the summed cross-entropy of `x` under `labels`, all parameters in one vector. */
export async function parameterGradient(model: OnnxClassifier, x: Tensor<"float32">, labels: number[]): Promise<Float32Array> {
  if (model.parameters.length === 0)
    throw new AegisError("BAD_OPTION", "gradient matching needs the model's parameter gradients; create the classifier with { trainable: true }");
  const { paramGrads } = await model.evaluate(x, model.oneHot(labels), { wrt: { params: true } });
  return flatten(model, (name) => paramGrads?.get(name) as Float32Array);
}

/**
 * cos(∇θ Σᵢ L(xᵢ, yᵢ), goal), and with `withGradient` its gradient 1 − cos's gradient in
 * x: −∇ₓ[v·∇θL] with v = ∂cos/∂g, by the central difference of the input gradients at
 * θ ± hv. Exported so the tests check it against differences of the whole objective.
 */
export async function gradientAlignment(
  model: OnnxClassifier,
  x: Tensor<"float32">,
  labels: number[],
  goal: Float32Array,
  withGradient = false,
): Promise<{ cosine: number; gradient?: Float32Array }> {
  const g = await parameterGradient(model, x, labels);
  const gNorm = Math.sqrt(dot(g, g));
  const goalNorm = Math.sqrt(dot(goal, goal));
  if (gNorm === 0 || goalNorm === 0) return { cosine: 0, gradient: withGradient ? new Float32Array(x.data.length) : undefined };
  const cosine = dot(g, goal) / (gNorm * goalNorm);
  if (!withGradient) return { cosine };
  const direction = Float32Array.from(goal, (t, i) => t / (gNorm * goalNorm) - (cosine * g[i]) / (gNorm * gNorm));
  const theta = flatten(model, (_, value) => value);
  const h = (DIFFERENCE_SCALE * Math.sqrt(dot(theta, theta))) / Math.sqrt(dot(direction, direction));
  const targets = model.oneHot(labels);
  const inputGradientAt = async (scale: number) => {
    const saved = model.parameters.map((p) => p.value);
    let offset = 0;
    for (const p of model.parameters) {
      const start = offset;
      p.value = Float32Array.from(p.value, (w, i) => w + scale * direction[start + i]);
      offset += p.value.length;
    }
    try {
      return ((await model.evaluate(x, targets, { wrt: { input: true } })).inputGrad as Tensor<"float32">).data;
    } finally {
      model.parameters.forEach((p, i) => {
        p.value = saved[i];
      });
    }
  };
  const plus = await inputGradientAt(h);
  const minus = await inputGradientAt(-h);
  return { cosine, gradient: Float32Array.from(plus, (v, k) => -(v - minus[k]) / (2 * h)) };
}

function flatten(model: OnnxClassifier, part: (name: string, value: Float32Array) => Float32Array): Float32Array {
  const out = new Float32Array(model.parameters.reduce((s, p) => s + p.value.length, 0));
  let offset = 0;
  for (const p of model.parameters) {
    out.set(part(p.name, p.value), offset);
    offset += p.value.length;
  }
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
