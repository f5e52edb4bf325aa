/**
 * Fast Adaptive Boundary attack — Croce & Hein, "Minimally distorted adversarial examples
 * with a fast adaptive boundary attack", ICML 2020; its targeted version FAB-T from Croce
 * & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
 * parameter-free attacks", ICML 2020. A minimum-norm attack: each step linearises the
 * decision boundary between the original class c and a class l at the iterate x,
 * f_l(x) − f_c(x) + ⟨∇(f_l − f_c)(x), z − x⟩ = 0, takes the closest such hyperplane in the
 * chosen norm, and projects onto it, inside the input box, both x (step δ) and the
 * original point x₀ (step δ₀). The next iterate mixes the two, overshooting by η:
 * (1 − α)(x + ηδ) + α(x₀ + ηδ₀) with α = min(‖δ‖/(‖δ‖ + ‖δ₀‖), α_max), which keeps it near
 * x₀; every adversarial iterate is recorded if smaller than the best so far and pulled
 * back to x₀ + β(x − x₀). Plain FAB linearises every class (one class gradient each per
 * step); FAB-T, the default, only the boundary to one target class, trying the
 * nTargetClasses likeliest other classes in turn (two class gradients per step).
 * Defaults from the papers: 100 iterations, α_max = 0.1, η = 1.05, β = 0.9, one run from
 * x₀; further restarts start at a random point at distance min(‖best‖, ε)/2 from x₀.
 * Targeted (y holding the targets), each step linearises the boundary between the target
 * and its strongest rival at the iterate, so that a step across it makes the target the
 * top class; FAB-T's fixed pair would often stop where a third class wins (a deviation:
 * the papers' FAB-T only aims at misclassification).
 * As in the authors' code, a sample stops once some run finds a perturbation within ε;
 * `eps` only decides success: samples without one stay at their input, and the output's
 * `norms` holds the smallest perturbation found for every sample. Class gradients are of
 * the model's outputs, so on a model that returns probabilities FAB linearises those (the
 * authors use logits). Each step asks for the outputs and the gradients of the output
 * differences it linearises in one request (engine/jacobian.ts): one backward pass for
 * FAB-T, where class gradients took two and a prediction.
 */
import type { ClassGradient, Labels, Predictor } from "../../engine/capabilities.js";
import { outputGradients, rivalClass } from "../../engine/jacobian.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { randomInBall, rowNorm } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams, LpNorm, Norm } from "../types.js";
import { bucketSize, gatherPadded, rankedOthers } from "./apgd.js";

export interface FabParams extends CommonParams {
  maxIter: number;
  restarts: number;
  alphaMax: number;
  eta: number;
  beta: number;
  /** FAB-T: how many of the likeliest other classes to try as targets; 0 runs plain FAB over all classes. */
  nTargetClasses: number;
  batchSize: number;
}

export interface FabOutput extends AttackOutput {
  /** Per sample, the smallest perturbation norm found: 0 when already misclassified, Infinity when none. */
  norms: Float64Array;
}

type FabModel = Predictor & ClassGradient;

const dual: Record<LpNorm, LpNorm> = { inf: "1", "2": "2", "1": "inf" };

/** Scratch space of the projection, one row long. */
interface PlaneScratch {
  index: Uint32Array;
  /** |w_i|, the room u_i to the box edge, and each coordinate's breakpoint, of the coordinates that can move. */
  weight: Float64Array;
  room: Float64Array;
  key: Float64Array;
  sorted: Float64Array;
}

export function planeScratch(row: number): PlaneScratch {
  const f = () => new Float64Array(row);
  return { index: new Uint32Array(row), weight: f(), room: f(), key: f(), sorted: f() };
}

/**
 * The smallest step δ (in the Lp norm) with ⟨w, δ⟩ = c that keeps p + δ inside [lo, hi]:
 * the projection onto a linearised boundary within the box. Each coordinate moves the way
 * that raises sign(c)·⟨w, δ⟩, by at most its room u_i to the box edge. By the KKT
 * conditions L∞ moves every coordinate by min(τ, u_i), L2 by min(λ|w_i|, u_i), and L1
 * fills the coordinates of largest |w_i| first; the gain reached is monotone in τ or λ
 * (or in how many coordinates are filled), so a binary search over the sorted
 * breakpoints finds it. When the whole box cannot reach the plane, δ goes as far as it can.
 */
export function planeStep(
  p: Float32Array,
  offset: number,
  w: Float32Array,
  c: number,
  lo: number,
  hi: number,
  norm: Norm,
  out: Float32Array,
  s: PlaneScratch,
): void {
  out.fill(0);
  if (c === 0) return;
  const sc = Math.sign(c);
  const need = Math.abs(c);
  let count = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i] * sc;
    if (wi === 0) continue;
    const room = wi > 0 ? hi - p[offset + i] : p[offset + i] - lo;
    if (room <= 0) continue;
    const weight = Math.abs(wi);
    s.index[count] = i;
    s.weight[count] = weight;
    s.room[count] = room;
    // Breakpoint where the coordinate reaches the box: τ = u_i, λ = u_i/|w_i|; L1 ranks by −|w_i|.
    s.key[count] = norm === "inf" ? room : norm === "2" ? room / weight : -weight;
    count++;
  }
  if (count === 0) return;
  const sorted = s.sorted.subarray(0, count);
  sorted.set(s.key.subarray(0, count));
  sorted.sort();
  // Gain Σ|w_i|·|δ_i| reached at breakpoint value t (L1: every coordinate ranked at or before t, filled).
  const gain = (t: number) => {
    let g = 0;
    for (let j = 0; j < count; j++) {
      const wj = s.weight[j];
      if (norm === "1") g += s.key[j] <= t ? wj * s.room[j] : 0;
      else g += wj * Math.min(t * (norm === "inf" ? 1 : wj), s.room[j]);
    }
    return g;
  };
  const move = (j: number, amount: number) => {
    const i = s.index[j];
    out[i] = Math.sign(w[i] * sc) * amount;
  };
  if (gain(sorted[count - 1]) < need) {
    for (let j = 0; j < count; j++) move(j, s.room[j]);
    return;
  }
  let a = 0;
  let b = count - 1;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (gain(sorted[mid]) >= need) b = mid;
    else a = mid + 1;
  }
  const before = a > 0 ? sorted[a - 1] : norm === "1" ? Number.NEGATIVE_INFINITY : 0;
  const reached = a > 0 || norm !== "1" ? gain(before) : 0;
  if (norm === "1") {
    // Coordinates ranked before the threshold move fully; those tied at it share the rest.
    let rest = need - reached;
    for (let j = 0; j < count; j++) {
      if (s.key[j] < sorted[a]) move(j, s.room[j]);
      else if (s.key[j] === sorted[a] && rest > 0) {
        const amount = Math.min(s.room[j], rest / s.weight[j]);
        move(j, amount);
        rest -= amount * s.weight[j];
      }
    }
    return;
  }
  // The gain is linear between two breakpoints: interpolate.
  const upper = gain(sorted[a]);
  const t = upper > reached ? before + ((need - reached) * (sorted[a] - before)) / (upper - reached) : sorted[a];
  for (let j = 0; j < count; j++) move(j, Math.min(t * (norm === "inf" ? 1 : s.weight[j]), s.room[j]));
}

interface Pass {
  /**
   * Per sample: the class to leave (targeted attacks leave the target's strongest rival,
   * found anew at each step) and the class whose boundary is linearised (none: every class).
   */
  source?: Labels;
  target?: Labels;
}

/** One FAB run over the samples `idx` (padded to `size` rows). */
async function fabRun(
  model: FabModel,
  x: Tensor<"float32">,
  idx: number[],
  size: number,
  pass: Pass,
  randomStart: boolean,
  p: FabParams,
  success: (output: Tensor<"float32">, r: number, sample: number) => boolean,
  norms: Float64Array,
  found: Float32Array,
  ctx: AttackContext,
): Promise<void> {
  const row = sizeOf(x.shape.slice(1));
  const shape = [size, ...x.shape.slice(1)];
  const m = idx.length;
  const k = model.numClasses;
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, p.constraints);
  const pad = (r: number) => idx[Math.min(r, m - 1)];
  const source = pass.source && Array.from({ length: size }, (_, r) => (pass.source as Labels)[pad(r)]);
  const target = pass.target && Array.from({ length: size }, (_, r) => (pass.target as Labels)[pad(r)]);
  const x0 = gatherPadded(x.data, row, idx, size);
  const x1 = Float32Array.from(x0);
  const settle = (r: number) => {
    for (let j = r * row; j < (r + 1) * row; j++) x1[j] = Math.min(hi, Math.max(lo, x1[j]));
    projectFeasible(x1, x0, r * row, row, p.constraints);
  };
  if (randomStart) {
    const noise = new Float32Array(row);
    for (let r = 0; r < m; r++) {
      const radius = Math.min(norms[idx[r]], p.eps) / 2;
      if (!Number.isFinite(radius)) continue;
      randomInBall(noise, 0, row, p.norm, 1, ctx.rng.next, ctx.rng.normal);
      const scale = radius / (rowNorm(noise, 0, row, p.norm) || 1);
      for (let j = 0; j < row; j++) if (movable[j]) x1[r * row + j] += scale * noise[j];
      settle(r);
    }
  }

  const scratch = planeScratch(row);
  const w = new Float32Array(row);
  const d1 = new Float32Array(row);
  const d0 = new Float32Array(row);
  for (let iter = 0; iter < p.maxIter; iter++) {
    if (ctx.signal?.aborted) break;
    const view = float32(shape, x1);
    // The outputs and the gradients of the output differences f_l − f_c at x1 in one request:
    // against the target's strongest rival (targeted), the one target (FAB-T), or every class.
    const request = !source
      ? { rivalOf: target as Labels }
      : target
        ? { weights: differences(size, k, (r) => [[target[r], source[r]]]) }
        : { weights: differences(size, k, (r) => [...Array(k).keys()].map((l) => [l, source[r]] as [number, number])) };
    const { output: out, gradients } = await outputGradients(model, view, request);
    const from = source ?? Array.from({ length: size }, (_, r) => rivalClass(out, r, (target as Labels)[r]));
    // Where ∇(f_l − f_c) of row r starts, and its sign (the rival request gives ∇(f_c − f_l)).
    const difference = (l: number, r: number) => ({ at: ((target ? 0 : l) * size + r) * row, sign: source ? 1 : -1 });
    for (let r = 0; r < m; r++) {
      const o = r * row;
      const c = from[r];
      const fc = out.data[r * k + c];
      const load = (l: number) => {
        const { at, sign } = difference(l, r);
        for (let j = 0; j < row; j++) w[j] = movable[j] ? sign * gradients.data[at + j] : 0;
      };
      // The closest linearised boundary: |f_l − f_c| / ‖∇f_l − ∇f_c‖ in the dual norm.
      let best = -1;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (const l of target ? [target[r]] : [...Array(k).keys()]) {
        if (l === c) continue;
        load(l);
        const distance = Math.abs(out.data[r * k + l] - fc) / (rowNorm(w, 0, row, dual[p.norm as LpNorm]) + 1e-12);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = l;
        }
      }
      if (best < 0) continue;
      load(best);
      const df = out.data[r * k + best] - fc;
      let shift = 0;
      for (let j = 0; j < row; j++) shift += w[j] * (x0[o + j] - x1[o + j]);
      planeStep(x1, o, w, -df, lo, hi, p.norm, d1, scratch);
      planeStep(x0, o, w, -df - shift, lo, hi, p.norm, d0, scratch);
      const a1 = Math.max(rowNorm(d1, 0, row, p.norm), 1e-8);
      const a0 = Math.max(rowNorm(d0, 0, row, p.norm), 1e-8);
      const alpha = Math.min(a1 / (a1 + a0), p.alphaMax);
      for (let j = 0; j < row; j++) x1[o + j] = (1 - alpha) * (x1[o + j] + p.eta * d1[j]) + alpha * (x0[o + j] + p.eta * d0[j]);
      settle(r);
    }
    // The stepped iterates' outputs decide success; the next request's outputs are at the (pulled back) iterate.
    const stepped = await model.predict(float32(shape, x1));
    for (let r = 0; r < m; r++) {
      if (!success(stepped, r, idx[r])) continue;
      const o = r * row;
      for (let j = 0; j < row; j++) d1[j] = x1[o + j] - x0[o + j];
      const length = rowNorm(d1, 0, row, p.norm);
      if (length < norms[idx[r]]) {
        norms[idx[r]] = length;
        found.set(x1.subarray(o, o + row), idx[r] * row);
      }
      for (let j = 0; j < row; j++) x1[o + j] = x0[o + j] + p.beta * d1[j];
      settle(r);
    }
  }
}

/** Weights [R, size, K] of the differences f_l − f_c that `pairs(r)` lists for each row r (pair j in row j). */
function differences(size: number, k: number, pairs: (r: number) => [number, number][]): Tensor<"float32"> {
  const first = pairs(0);
  const w = new Float32Array(first.length * size * k);
  for (let r = 0; r < size; r++) {
    pairs(r).forEach(([l, c], j) => {
      if (l === c) return;
      w[(j * size + r) * k + l] = 1;
      w[(j * size + r) * k + c] = -1;
    });
  }
  return float32([first.length, size, k], w);
}

export async function runFab(model: FabModel, x: Tensor<"float32">, y: Labels, p: FabParams, ctx: AttackContext): Promise<FabOutput> {
  if (!(p.maxIter >= 1 && p.restarts >= 1 && p.nTargetClasses >= 0)) {
    throw new AegisError("BAD_OPTION", "FAB needs maxIter and restarts of at least 1 and nTargetClasses of at least 0 (0: plain FAB)");
  }
  if (!(p.alphaMax >= 0 && p.alphaMax <= 1 && p.eta >= 1 && p.beta > 0 && p.beta < 1)) {
    throw new AegisError("BAD_OPTION", "FAB needs 0 ≤ alphaMax ≤ 1, eta ≥ 1 and 0 < beta < 1 (the paper: 0.1, 1.05, 0.9)");
  }
  const n = x.shape[0];
  const clean = await model.predict(x);
  const predicted = Array.from({ length: n }, (_, i) => argmaxRow(clean, i));
  // Targeted, y holds the targets; untargeted, the true classes.
  const success = (output: Tensor<"float32">, r: number, i: number) => isAdversarial(argmaxRow(output, r), y[i], p.targeted);
  const norms = Float64Array.from(predicted, (c, i) => (isAdversarial(c, y[i], p.targeted) ? 0 : Number.POSITIVE_INFINITY));
  const found = Float32Array.from(x.data);

  const passes: Pass[] = [];
  if (p.targeted) passes.push({ target: y });
  else if (p.nTargetClasses === 0) passes.push({ source: y });
  else {
    const ranked = y.map((c, i) => rankedOthers(clean, i, c));
    const count = Math.min(p.nTargetClasses, model.numClasses - 1);
    for (let j = 0; j < count; j++) passes.push({ source: y, target: ranked.map((r) => r[j]) });
  }

  const cap = Math.max(1, Math.min(p.batchSize, n));
  const total = passes.length * p.restarts;
  let run = 0;
  const pending = () => [...norms.keys()].filter((i) => !(norms[i] <= p.eps));
  for (const pass of passes) {
    for (let restart = 0; restart < p.restarts && !ctx.signal?.aborted; restart++) {
      run++;
      const todo = pending();
      for (let start = 0; start < todo.length && !ctx.signal?.aborted; start += cap) {
        const idx = todo.slice(start, start + cap);
        await fabRun(model, x, idx, bucketSize(idx.length, cap), pass, restart > 0, p, success, norms, found, ctx);
        // A sample is finished once it has a success within ε, or after its last run.
        ctx.onProgress?.(run === total ? n - todo.length + start + idx.length : n - pending().length, n);
      }
    }
  }
  const row = sizeOf(x.shape.slice(1));
  const result = Float32Array.from(x.data);
  for (let i = 0; i < n; i++) if (norms[i] > 0 && norms[i] <= p.eps) result.set(found.subarray(i * row, (i + 1) * row), i * row);
  return { x: float32(x.shape, result), norms };
}

export const fab: Attack<FabParams, FabModel> = {
  name: "fab",
  title: "Fast Adaptive Boundary attack (FAB-T by default)",
  paper: "Croce & Hein 2020, Minimally distorted adversarial examples with a fast adaptive boundary attack",
  needs: ["predict", "classGradient"],
  norms: ["inf", "2", "1"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, maxIter: 100, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9, nTargetClasses: 9, batchSize: 128 },
  help: {
    eps: "largest perturbation counted as a success (FAB minimises the norm; it does not need a budget)",
    norm: "inf, 2 or 1",
    targeted: "reach the given target classes, leaving the clean prediction",
    maxIter: "iterations per run",
    restarts: "runs per target; later ones start at a random point at distance min(‖best‖, eps)/2",
    alphaMax: "largest weight of the step from the original point",
    eta: "overshoot of each projection",
    beta: "backward step toward the original point after a success",
    nTargetClasses: "FAB-T: the likeliest other classes tried as targets in turn; 0 runs plain FAB over all classes",
    batchSize: "samples per model call",
  },
  run: runFab,
};
