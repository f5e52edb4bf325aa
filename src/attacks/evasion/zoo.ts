/**
 * ZOO — Chen, Zhang, Sharma, Yi & Hsieh, "ZOO: Zeroth Order Optimization Based Black-box
 * Attacks to Deep Neural Networks without Training Substitute Models", AISec 2017.
 * Carlini & Wagner's L2 objective ‖x − x₀‖² + c·f(x) on log-probabilities
 * (f = max(log p_label − max_{j≠label} log p_j, −κ) untargeted, the mirror image for a
 * target), minimised by stochastic coordinate descent: each iteration picks nbParallel
 * random coordinates, estimates their partial derivatives by symmetric finite differences
 * (2 queries per coordinate, all of a batch's coordinates in one model call) and takes a
 * coordinate-wise Adam step (ZOO-ADAM), projected onto the valid input range. The smallest
 * adversarial iterate is kept; an optional binary search on c (Carlini & Wagner's) trades
 * success against size. Defaults from the paper's MNIST setting: η = 0.01, h = 1e-4, 128
 * coordinates per iteration, 3000 iterations, no tanh change of variables (the authors turn
 * it off for MNIST, where it makes gradients vanish). But one step at c = 0.5, the
 * authors' code default without binary search: the paper's 9 steps from c = 0.01 spend
 * their first ~150,000 queries on a c too small to succeed (measured on MNIST: 0 of 10
 * digits broken within 20,000 queries; c = 0.5 breaks 3 of 4 within 50,000, mean L2 1.37).
 * Deviations: the distance term's gradient is exact (it needs no query) and only f is
 * estimated; a difference at the box edge is one-sided; a step ends early when the loss
 * has not improved over a tenth of maxIter (C&W's abort); each iteration spends one more
 * query on the current point, to learn whether it is adversarial. ZOO-Newton, importance
 * sampling and the hierarchical attack (dimension reduction for large images) are not
 * implemented; MNIST-sized inputs need none of them. `eps` > 0 stops a sample once it has
 * an adversarial example that close (L2) and returns only adversarial examples within eps.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";
import { logProb } from "./nes.js";

export interface ZooParams extends CommonParams {
  /** Margin κ by which the adversarial class must win. */
  confidence: number;
  learningRate: number;
  binarySearchSteps: number;
  initialConst: number;
  /** Iterations per binary-search step. */
  maxIter: number;
  /** Coordinates estimated per iteration (2 queries each). */
  nbParallel: number;
  /** Finite-difference step h, as a fraction of the input range. */
  variableH: number;
  maxQueries: number;
  batchSize: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;

function check(p: ZooParams): void {
  if (p.norm !== "2") throw new AegisError("BAD_OPTION", `zoo minimises the L2 distance; use norm 2, not ${p.norm}`);
  if (!(p.eps >= 0)) throw new AegisError("BAD_OPTION", `zoo needs eps ≥ 0 (0: no bound), got ${p.eps}`);
  for (const [key, v] of [
    ["learningRate", p.learningRate],
    ["initialConst", p.initialConst],
    ["variableH", p.variableH],
  ] as const)
    if (!(v > 0)) throw new AegisError("BAD_OPTION", `zoo needs ${key} > 0, got ${v}`);
  if (!(p.confidence >= 0)) throw new AegisError("BAD_OPTION", `zoo needs confidence ≥ 0, got ${p.confidence}`);
  for (const [key, v] of [
    ["binarySearchSteps", p.binarySearchSteps],
    ["maxIter", p.maxIter],
    ["nbParallel", p.nbParallel],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `zoo needs ${key} to be a whole number ≥ 1, got ${v}`);
  if (!(p.maxQueries >= 2 * p.nbParallel + 1))
    throw new AegisError("BAD_OPTION", `zoo needs maxQueries ≥ ${2 * p.nbParallel + 1} (one iteration of nbParallel coordinates); raise it`);
}

interface SampleState {
  c: number;
  lower: number;
  upper: number;
  step: number;
  iter: number;
  succeededThisStep: boolean;
  checkpointLoss: number;
  bestL2: number;
  done: boolean;
}

async function run(model: Predictor, x: Tensor<"float32">, y: Labels, p: ZooParams, ctx: AttackContext): Promise<AttackOutput> {
  check(p);
  const n = x.shape[0];
  const shape = x.shape.slice(1);
  const row = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const h = p.variableH * (hi - lo);
  const movable = mutableMask(row, p.constraints);
  const coordinates = Array.from({ length: row }, (_, k) => k).filter((k) => movable[k]);
  const picks = Math.min(p.nbParallel, coordinates.length);
  const perIteration = 2 * picks + 1;
  const abortEvery = Math.max(1, Math.floor(p.maxIter / 10));
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  const batch = Math.max(1, p.batchSize);
  let finished = 0;

  // f of C&W on log-probabilities: ≤ 0 once the decision is the one wanted (by κ).
  const objective = (out: Tensor<"float32">, r: number, label: number) => {
    const own = logProb(out, r, label, model.outputKind);
    let other = -Infinity;
    for (let j = 0; j < model.numClasses; j++) if (j !== label) other = Math.max(other, logProb(out, r, j, model.outputKind));
    return Math.max(p.targeted ? other - own : own - other, -p.confidence);
  };
  const isAdv = (out: Tensor<"float32">, r: number, label: number) => isAdversarial(argmaxRow(out, r), label, p.targeted);

  for (let start = 0; start < n && !ctx.signal?.aborted; start += batch) {
    const end = Math.min(n, start + batch);
    const m = end - start;
    const x0 = x.data.subarray(start * row, end * row);
    const labels = y.slice(start, end);
    const adv = Float32Array.from(x0);
    const best = Float32Array.from(x0);
    const mt = new Float32Array(m * row);
    const vt = new Float32Array(m * row);
    const epoch = new Int32Array(m * row);
    const states: SampleState[] = labels.map(() => ({
      c: p.initialConst,
      lower: 0,
      upper: Infinity,
      step: 0,
      iter: 0,
      succeededThisStep: false,
      checkpointLoss: Infinity,
      bestL2: Infinity,
      done: false,
    }));
    const chosen = new Int32Array(m * picks);
    const order = labels.map(() => [...coordinates]);
    const doneBefore = finished;

    while (!ctx.signal?.aborted) {
      for (let i = 0; i < m; i++) if (p.maxQueries - queries[start + i] < perIteration) states[i].done = true;
      const who = states.flatMap((s, i) => (s.done ? [] : [i]));
      ctx.onProgress?.(doneBefore + m - who.length, n);
      if (who.length === 0) break;
      // Per sample: the current point, then x ± h·e_j for each chosen coordinate j.
      const probes = new Float32Array(who.length * perIteration * row);
      who.forEach((i, a) => {
        const s = i * row;
        const base = a * perIteration * row;
        probes.set(adv.subarray(s, s + row), base);
        const pool = order[i];
        for (let t = 0; t < picks; t++) {
          const r = t + ctx.rng.int(pool.length - t);
          [pool[t], pool[r]] = [pool[r], pool[t]];
          const k = pool[t];
          chosen[i * picks + t] = k;
          const plus = base + (1 + 2 * t) * row;
          const minus = plus + row;
          probes.set(adv.subarray(s, s + row), plus);
          probes.set(adv.subarray(s, s + row), minus);
          probes[plus + k] = Math.min(hi, adv[s + k] + h);
          probes[minus + k] = Math.max(lo, adv[s + k] - h);
        }
      });
      const out = await model.predict(float32([who.length * perIteration, ...shape], probes));
      who.forEach((i, a) => {
        queries[start + i] += perIteration;
        const st = states[i];
        const s = i * row;
        const r0 = a * perIteration;
        const label = labels[i];
        let sq = 0;
        for (let k = s; k < s + row; k++) sq += (adv[k] - x0[k]) ** 2;
        if (isAdv(out, r0, label)) {
          st.succeededThisStep = true;
          if (Math.sqrt(sq) < st.bestL2) {
            st.bestL2 = Math.sqrt(sq);
            best.set(adv.subarray(s, s + row), s);
          }
        }
        const loss = sq + st.c * objective(out, r0, label);
        for (let t = 0; t < picks; t++) {
          const k = chosen[i * picks + t];
          const j = s + k;
          const span = Math.min(hi, adv[j] + h) - Math.max(lo, adv[j] - h);
          if (span <= 0) continue;
          const g = 2 * (adv[j] - x0[j]) + (st.c * (objective(out, r0 + 1 + 2 * t, label) - objective(out, r0 + 2 + 2 * t, label))) / span;
          mt[j] = BETA1 * mt[j] + (1 - BETA1) * g;
          vt[j] = BETA2 * vt[j] + (1 - BETA2) * g * g;
          epoch[j]++;
          const mHat = mt[j] / (1 - BETA1 ** epoch[j]);
          const vHat = vt[j] / (1 - BETA2 ** epoch[j]);
          adv[j] = Math.min(hi, Math.max(lo, adv[j] - (p.learningRate * mHat) / (Math.sqrt(vHat) + 1e-8)));
        }
        projectFeasible(adv, x0, s, row, p.constraints);
        st.iter++;
        // Nothing beats distance 0 (a sample the model already gets "wrong").
        if (st.bestL2 === 0 || (p.eps > 0 && st.bestL2 <= p.eps)) {
          st.done = true;
          return;
        }
        let endStep = st.iter >= p.maxIter;
        if (st.iter % abortEvery === 0) {
          if (loss > st.checkpointLoss * 0.9999) endStep = true;
          st.checkpointLoss = loss;
        }
        if (!endStep) return;
        // Binary search on c (Carlini & Wagner): smaller after a success, larger (×10 until bracketed) after a failure.
        if (st.succeededThisStep) {
          st.upper = Math.min(st.upper, st.c);
          st.c = (st.lower + st.upper) / 2;
        } else {
          st.lower = Math.max(st.lower, st.c);
          st.c = Number.isFinite(st.upper) ? (st.lower + st.upper) / 2 : st.c * 10;
        }
        st.step++;
        st.iter = 0;
        st.succeededThisStep = false;
        st.checkpointLoss = Infinity;
        adv.set(x0.subarray(s, s + row), s);
        mt.fill(0, s, s + row);
        vt.fill(0, s, s + row);
        epoch.fill(0, s, s + row);
        if (st.step >= p.binarySearchSteps) st.done = true;
      });
    }
    states.forEach((st, i) => {
      if (st.bestL2 < Infinity && (p.eps === 0 || st.bestL2 <= p.eps)) result.set(best.subarray(i * row, (i + 1) * row), (start + i) * row);
    });
    finished = doneBefore + m;
  }
  return { x: float32(x.shape, result), queries };
}

export const zoo: Attack<ZooParams, Predictor> = {
  name: "zoo",
  title: "ZOO (zeroth-order optimisation, ZOO-ADAM)",
  paper:
    "Chen, Zhang, Sharma, Yi & Hsieh 2017, ZOO: Zeroth Order Optimization Based Black-box Attacks to Deep Neural Networks without Training Substitute Models",
  needs: ["predict"],
  norms: ["2"],
  defaults: {
    eps: 0,
    norm: "2",
    targeted: false,
    confidence: 0,
    learningRate: 0.01,
    binarySearchSteps: 1,
    initialConst: 0.5,
    maxIter: 3000,
    nbParallel: 128,
    variableH: 1e-4,
    maxQueries: 100_000,
    batchSize: 128,
  },
  help: {
    eps: "stop a sample once it has an adversarial example this close (L2), and keep only those (0: minimise with no bound)",
    norm: "2 only",
    targeted: "reach the given target classes",
    confidence: "margin κ of log-probability by which the adversarial class must win",
    learningRate: "ZOO-ADAM step size η",
    binarySearchSteps: "binary-search steps on the constant c (the paper's MNIST runs use 9 from c = 0.01)",
    initialConst: "first value of c, the weight of the misclassification term",
    maxIter: "iterations per binary-search step",
    nbParallel: "coordinates estimated per iteration (2 queries each, plus 1 for the current point)",
    variableH: "finite-difference step h as a fraction of the input range",
    maxQueries: "model queries allowed per sample (not in the paper, whose MNIST runs take millions)",
    batchSize: "samples attacked together (their queries share model calls)",
  },
  run,
};
