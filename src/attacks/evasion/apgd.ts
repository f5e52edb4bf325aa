/**
 * Auto-PGD — Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
 * of diverse parameter-free attacks", ICML 2020. PGD with momentum α = 0.75 whose step
 * size needs no tuning: it starts at η = 2ε and is halved at checkpoints w_j = ⌈p_j·N⌉
 * (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) when fewer than
 * ρ = 75% of the steps since the previous checkpoint raised the loss, or when neither η
 * nor the best loss changed since then; a halving restarts from the best point so far.
 * Three variants: APGD-CE, APGD-DLR (the difference of logits ratio, invariant to shifting
 * and scaling the logits) and APGD-T (the targeted DLR towards each of the
 * nTargetClasses most likely other classes in turn). Defaults from the paper: N = 100
 * iterations and one run, as AutoAttack "standard" runs them (the paper's standalone
 * comparisons use 5 restarts); eotIter averages gradients for randomised defences
 * (20 in AutoAttack "rand").
 * Deviations: the random start is uniform in the ε-ball (the authors' code starts on its
 * surface); steps ignore coordinates pinned at the edge of the input box they push
 * against, as our PGD does; a sample stops at the first iterate that fools the model, and
 * a sample never fooled ends at the highest-loss point of its last run. The L1 version
 * (APGD-L1, a later paper) is not implemented.
 */
import type { Labels, LossGradient, LossName, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { ascentDirection, projectBall, randomInBall } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams, FeatureConstraints, Norm } from "../types.js";

export interface ApgdParams extends CommonParams {
  maxIter: number;
  restarts: number;
  /** Loss gradients averaged per step (expectation over transformation); 1 for deterministic models. */
  eotIter: number;
  batchSize: number;
}

export interface ApgdTParams extends ApgdParams {
  /** How many of the most likely other classes to try as targets, one run each. */
  nTargetClasses: number;
}

type ApgdModel = Predictor & LossGradient;

const MOMENTUM = 0.75;
const RHO = 0.75;

/** The iterations at which the step size is checked, each with the length of the window it closes. */
export function checkpoints(maxIter: number): Map<number, number> {
  const p = [0, 0.22];
  while (p[p.length - 1] < 1) {
    const j = p.length - 1;
    p.push(p[j] + Math.max(p[j] - p[j - 1] - 0.03, 0.06));
  }
  const out = new Map<number, number>();
  let previous = 0;
  for (const pj of p.slice(1)) {
    // The tolerance keeps 0.22·100 at 22 despite floating point.
    const w = Math.ceil(pj * maxIter - 1e-9);
    if (w > maxIter) break;
    if (w > previous) out.set(w, w - previous);
    previous = w;
  }
  return out;
}

/**
 * Batch size for m samples: the next power of two, at most `cap`. Batches that shrink as
 * samples get broken then reuse a handful of cached gradient graphs (one per shape).
 */
export function bucketSize(m: number, cap: number): number {
  let size = 1;
  while (size < m) size *= 2;
  return Math.min(size, cap);
}

/** Rows `indices` of a flat batch, padded to `size` rows by repeating the last. */
export function gatherPadded(data: Float32Array, row: number, indices: readonly number[], size: number): Float32Array {
  const out = new Float32Array(size * row);
  for (let r = 0; r < size; r++) {
    const i = indices[Math.min(r, indices.length - 1)];
    out.set(data.subarray(i * row, (i + 1) * row), r * row);
  }
  return out;
}

/** The classes ranked by the model's output, most likely first, without `exclude`. */
export function rankedOthers(output: Tensor<"float32">, i: number, exclude: number): number[] {
  const k = output.shape[1];
  const scores = output.data.subarray(i * k, (i + 1) * k);
  return [...Array(k).keys()].filter((c) => c !== exclude).sort((a, b) => scores[b] - scores[a]);
}

interface Run {
  loss: LossName;
  /** +1 to ascend the loss, −1 to descend it (targeted cross-entropy). */
  sign: number;
  /** Per sample: the labels the loss reads and, for the targeted DLR, its targets. */
  labels: Labels;
  targets?: Labels;
}

interface Setting {
  eps: number;
  norm: Norm;
  maxIter: number;
  eotIter: number;
  constraints?: FeatureConstraints;
}

/** One APGD run over the samples `idx` (padded to `size` rows); writes fooled samples and best points into `result`. */
async function apgdRun(
  model: ApgdModel,
  x: Tensor<"float32">,
  idx: number[],
  size: number,
  run: Run,
  s: Setting,
  fooled: (output: Tensor<"float32">, r: number, sample: number) => boolean,
  done: boolean[],
  result: Float32Array,
  ctx: AttackContext,
): Promise<void> {
  const row = sizeOf(x.shape.slice(1));
  const shape = [size, ...x.shape.slice(1)];
  const m = idx.length;
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, s.constraints);
  const pad = (r: number) => idx[Math.min(r, m - 1)];
  const labels = Array.from({ length: size }, (_, r) => run.labels[pad(r)]);
  const targets = run.targets && Array.from({ length: size }, (_, r) => (run.targets as Labels)[pad(r)]);
  const x0 = gatherPadded(x.data, row, idx, size);

  const evaluate = async (point: Float32Array) => {
    const grad = new Float32Array(point.length);
    const loss = new Float32Array(size);
    let output: Tensor<"float32"> | undefined;
    for (let t = 0; t < s.eotIter; t++) {
      const v = await model.valueAndGradient(float32(shape, point), labels, { loss: run.loss, targets });
      for (let k = 0; k < grad.length; k++) grad[k] += (run.sign * v.grad.data[k]) / s.eotIter;
      for (let r = 0; r < size; r++) loss[r] += (run.sign * v.loss[r]) / s.eotIter;
      output = v.output;
    }
    return { grad, loss, output: output as Tensor<"float32"> };
  };
  /** Ball around x0, then input box, then feasibility: the projection P_S of the paper. */
  const offset = new Float32Array(row);
  const project = (point: Float32Array, start: number) => {
    for (let k = 0; k < row; k++) offset[k] = point[start + k] - x0[start + k];
    projectBall(offset, 0, row, s.norm, s.eps);
    for (let k = 0; k < row; k++) point[start + k] = Math.min(hi, Math.max(lo, x0[start + k] + offset[k]));
    projectFeasible(point, x0, start, row, s.constraints);
  };

  const adv = Float32Array.from(x0);
  const delta = new Float32Array(adv.length);
  for (let r = 0; r < m; r++) {
    randomInBall(delta, r * row, (r + 1) * row, s.norm, s.eps, ctx.rng.next, ctx.rng.normal);
    for (let k = r * row; k < (r + 1) * row; k++) if (movable[k - r * row]) adv[k] += delta[k];
    project(adv, r * row);
  }
  let current = await evaluate(adv);
  const frozen = new Array<boolean>(m).fill(false);
  const freezeFooled = (output: Tensor<"float32">) => {
    for (let r = 0; r < m; r++) {
      if (frozen[r] || !fooled(output, r, idx[r])) continue;
      frozen[r] = true;
      done[idx[r]] = true;
      result.set(adv.subarray(r * row, (r + 1) * row), idx[r] * row);
    }
  };
  freezeFooled(current.output);

  const prev = Float32Array.from(adv);
  const best = Float32Array.from(adv);
  const bestGrad = Float32Array.from(current.grad);
  const grad = current.grad;
  const eta = new Float64Array(m).fill(2 * s.eps);
  const lossNow = Float64Array.from(current.loss.subarray(0, m));
  const bestLoss = Float64Array.from(lossNow);
  const bestAtCheck = Float64Array.from(lossNow);
  const reducedAtCheck = new Array<boolean>(m).fill(false);
  const raised = new Int32Array(m);
  const checks = checkpoints(s.maxIter);
  const objective = new Float32Array(row);
  const direction = new Float32Array(row);
  const z = new Float32Array(adv.length);

  for (let k = 0; k < s.maxIter && !frozen.every(Boolean); k++) {
    if (ctx.signal?.aborted) break;
    const alpha = k === 0 ? 1 : MOMENTUM;
    for (let r = 0; r < m; r++) {
      if (frozen[r]) continue;
      const o = r * row;
      for (let j = 0; j < row; j++) {
        const g = grad[o + j];
        objective[j] = !movable[j] || (g > 0 && adv[o + j] >= hi) || (g < 0 && adv[o + j] <= lo) ? 0 : g;
      }
      ascentDirection(objective, 0, row, s.norm, direction);
      for (let j = 0; j < row; j++) z[o + j] = adv[o + j] + eta[r] * direction[j];
      project(z, o);
      for (let j = 0; j < row; j++) {
        const next = adv[o + j] + alpha * (z[o + j] - adv[o + j]) + (1 - alpha) * (adv[o + j] - prev[o + j]);
        prev[o + j] = adv[o + j];
        adv[o + j] = next;
      }
      project(adv, o);
    }
    current = await evaluate(adv);
    freezeFooled(current.output);
    for (let r = 0; r < m; r++) {
      if (frozen[r]) continue;
      const o = r * row;
      const f = current.loss[r];
      if (f > lossNow[r]) raised[r]++;
      lossNow[r] = f;
      grad.set(current.grad.subarray(o, o + row), o);
      if (f > bestLoss[r]) {
        bestLoss[r] = f;
        best.set(adv.subarray(o, o + row), o);
        bestGrad.set(current.grad.subarray(o, o + row), o);
      }
    }
    const window = checks.get(k + 1);
    if (window === undefined) continue;
    for (let r = 0; r < m; r++) {
      if (frozen[r]) continue;
      const o = r * row;
      const halve = raised[r] < RHO * window || (!reducedAtCheck[r] && bestAtCheck[r] === bestLoss[r]);
      if (halve) {
        eta[r] /= 2;
        adv.set(best.subarray(o, o + row), o);
        grad.set(bestGrad.subarray(o, o + row), o);
        lossNow[r] = bestLoss[r];
      }
      reducedAtCheck[r] = halve;
      bestAtCheck[r] = bestLoss[r];
      raised[r] = 0;
    }
  }
  for (let r = 0; r < m; r++) if (!frozen[r]) result.set(best.subarray(r * row, (r + 1) * row), idx[r] * row);
}

/** Runs APGD with the given loss over every sample the model still gets right, in fixed-size batches. */
async function apgdAttack(
  model: ApgdModel,
  x: Tensor<"float32">,
  y: Labels,
  p: ApgdParams,
  ctx: AttackContext,
  variant: "ce" | "dlr" | "t",
  nTargetClasses = 1,
): Promise<AttackOutput> {
  if (p.norm !== "inf" && p.norm !== "2") throw new AegisError("BAD_OPTION", `APGD supports the inf and 2 norms, not ${p.norm}; use pgd for L1`);
  if (!(p.maxIter >= 1 && p.restarts >= 1 && p.eotIter >= 1 && nTargetClasses >= 1)) {
    throw new AegisError("BAD_OPTION", "APGD needs maxIter, restarts, eotIter and nTargetClasses of at least 1");
  }
  if (variant === "dlr" && p.targeted) {
    throw new AegisError("BAD_OPTION", "apgd-dlr is untargeted; for chosen target classes run apgd-t or apgd-ce with targeted");
  }
  const n = x.shape[0];
  const result = Float32Array.from(x.data);
  const clean = await model.predict(x);
  const predicted = Array.from({ length: n }, (_, i) => argmaxRow(clean, i));
  // Targeted, y holds the targets; untargeted, the true classes.
  const fooled = (output: Tensor<"float32">, r: number, i: number) => isAdversarial(argmaxRow(output, r), y[i], p.targeted);
  const done = predicted.map((c, i) => isAdversarial(c, y[i], p.targeted));

  const runs: Run[] = [];
  if (variant === "ce") runs.push({ loss: "ce", sign: p.targeted ? -1 : 1, labels: y });
  else if (variant === "dlr") runs.push({ loss: "dlr", sign: 1, labels: y });
  else if (p.targeted) runs.push({ loss: "dlr-targeted", sign: 1, labels: predicted, targets: y });
  else {
    const ranked = y.map((c, i) => rankedOthers(clean, i, c));
    const count = Math.min(nTargetClasses, model.numClasses - 1);
    for (let j = 0; j < count; j++) runs.push({ loss: "dlr-targeted", sign: 1, labels: y, targets: ranked.map((r) => r[j]) });
  }

  const setting: Setting = { eps: p.eps, norm: p.norm, maxIter: p.maxIter, eotIter: p.eotIter, constraints: p.constraints };
  const cap = Math.max(1, Math.min(p.batchSize, n));
  const total = runs.length * p.restarts;
  let pass = 0;
  for (const run of runs) {
    for (let restart = 0; restart < p.restarts; restart++) {
      pass++;
      const todo = done.flatMap((d, i) => (d ? [] : [i]));
      for (let start = 0; start < todo.length && !ctx.signal?.aborted; start += cap) {
        const idx = todo.slice(start, start + cap);
        await apgdRun(model, x, idx, bucketSize(idx.length, cap), run, setting, fooled, done, result, ctx);
        // A sample is finished once fooled, or after its last run.
        const finished = pass === total ? n - todo.length + start + idx.length : done.filter(Boolean).length;
        ctx.onProgress?.(finished, n);
      }
      if (ctx.signal?.aborted) return { x: float32(x.shape, result) };
    }
  }
  return { x: float32(x.shape, result) };
}

const PAPER = "Croce & Hein 2020, Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks";

const help = {
  eps: "radius of the perturbation ball",
  norm: "inf or 2",
  maxIter: "iterations per run (the paper's N = 100)",
  restarts: "runs from new random starts; later ones only rerun the samples not yet fooled",
  eotIter: "gradients averaged per step, for randomised defences (AutoAttack rand uses 20)",
  batchSize: "samples per gradient call",
};

const defaults: ApgdParams = { eps: 0.3, norm: "inf", targeted: false, maxIter: 100, restarts: 1, eotIter: 1, batchSize: 128 };

export const apgdCe: Attack<ApgdParams, ApgdModel> = {
  name: "apgd-ce",
  title: "Auto-PGD (cross-entropy)",
  paper: PAPER,
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2"],
  defaults,
  help: { ...help, targeted: "descend the cross-entropy of the given target classes instead" },
  run: (model, x, y, p, ctx) => apgdAttack(model, x, y, p, ctx, "ce"),
};

export const apgdDlr: Attack<ApgdParams, ApgdModel> = {
  name: "apgd-dlr",
  title: "Auto-PGD (difference of logits ratio)",
  paper: PAPER,
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2"],
  defaults,
  help: { ...help, targeted: "not supported (use apgd-t)" },
  run: (model, x, y, p, ctx) => apgdAttack(model, x, y, p, ctx, "dlr"),
};

export const apgdT: Attack<ApgdTParams, ApgdModel> = {
  name: "apgd-t",
  title: "Auto-PGD (targeted difference of logits ratio)",
  paper: PAPER,
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2"],
  defaults: { ...defaults, nTargetClasses: 9 },
  help: {
    ...help,
    targeted: "reach the given target classes (from the clean prediction) instead of trying the likeliest other classes",
    nTargetClasses: "untargeted: the most likely other classes tried as targets in turn (the paper's 9)",
  },
  run: (model, x, y, p, ctx) => apgdAttack(model, x, y, p, ctx, "t", p.targeted ? 1 : p.nTargetClasses),
};
