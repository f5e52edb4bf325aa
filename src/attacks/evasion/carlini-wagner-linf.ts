/**
 * Carlini–Wagner L∞ — Carlini & Wagner, "Towards Evaluating the Robustness of Neural
 * Networks", IEEE S&P 2017, the paper's iterative variant (not ART's later fixed-ε one):
 * minimise c·max(max_{j≠t} Z_j − Z_t, −κ) + Σᵢ max(|δᵢ| − τ, 0) with Adam in tanh space;
 * each time an example is found with every |δᵢ| within τ, τ drops to 0.9 × the example's
 * actual L∞ and the search restarts from it; when an attempt fails for maxIter steps, c
 * doubles, and when c passes largestConst the last example found is the answer. Every
 * sample runs this search on its own schedule inside one fixed-size batch.
 * Deviations: the authors' code makes up to 1000 steps per attempt at learning rate 0.005
 * from c = 1e-5; the defaults here are 50 steps at 0.05 from c = 0.1 (the last τ always
 * fails and pays for every doubling of c up to largestConst, so the attempt length
 * dominates the cost). `eps` is not a budget but the largest L∞ counted as a success
 * (default ∞); a sample with no example within it stays at its input.
 */
import type { LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, sliceRows } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import type { Attack, CommonParams } from "../types.js";
import { checkMinNormParams, cwSuccess, cwTerm } from "./carlini-wagner-l2.js";

export interface CarliniWagnerLinfParams extends CommonParams {
  /** κ: how far past the decision boundary (in logits) an example must be. */
  confidence: number;
  learningRate: number;
  /** Adam steps per attempt (one τ, one c) before c is raised. */
  maxIter: number;
  /** τ ← decreaseFactor · τ after each success. */
  decreaseFactor: number;
  initialConst: number;
  /** Give up on a τ once c exceeds this. */
  largestConst: number;
  /** c ← constFactor · c after a failed attempt. */
  constFactor: number;
  batchSize: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;

export const carliniWagnerLinf: Attack<CarliniWagnerLinfParams, LossGradient & ModelInfo> = {
  name: "cw-linf",
  title: "Carlini–Wagner L∞",
  paper: "Carlini & Wagner 2017, Towards Evaluating the Robustness of Neural Networks",
  needs: ["predict", "lossGradient"],
  norms: ["inf"],
  defaults: {
    eps: Number.POSITIVE_INFINITY,
    norm: "inf",
    targeted: false,
    confidence: 0,
    learningRate: 0.05,
    maxIter: 50,
    decreaseFactor: 0.9,
    initialConst: 0.1,
    largestConst: 20,
    constFactor: 2,
    batchSize: 128,
  },
  help: {
    eps: "largest L∞ counted as a success (default ∞: the attack finds the smallest it can)",
    norm: "inf only",
    targeted: "reach the given target classes instead of leaving the labels",
    confidence: "κ, the logit margin past the boundary an example must reach (paper: 0)",
    learningRate: "Adam learning rate (authors' code: 0.005)",
    maxIter: "Adam steps per attempt before c is doubled (authors' code: 1000)",
    decreaseFactor: "τ shrinks by this factor after each success (paper: 0.9)",
    initialConst: "first c (authors' code: 1e-5)",
    largestConst: "give up on a τ once c passes this (authors' code: 20)",
    constFactor: "c grows by this factor after a failed attempt (authors' code: 2)",
    batchSize: "samples optimised together",
  },
  async run(model, x, y, p, ctx) {
    checkMinNormParams("cw-linf", p);
    if (!(p.decreaseFactor > 0 && p.decreaseFactor < 1)) throw new AegisError("BAD_OPTION", "cw-linf: decreaseFactor must lie strictly between 0 and 1");
    if (!(p.constFactor > 1)) throw new AegisError("BAD_OPTION", "cw-linf: constFactor must be greater than 1");
    if (!(p.initialConst > 0)) throw new AegisError("BAD_OPTION", "cw-linf: initialConst must be positive");
    const n = x.shape[0];
    const row = sizeOf(x.shape.slice(1));
    const result = Float32Array.from(x.data);
    const [lo, hi] = model.clipRange;
    const half = (hi - lo) / 2;
    const movable = mutableMask(row, p.constraints);
    const toW = (v: number) => Math.atanh(((v - lo) / half - 1) * 0.999999);
    for (let start = 0; start < n && !ctx.signal?.aborted; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      const m = end - start;
      const x0 = sliceRows(x, start, end);
      const labels = y.slice(start, end);
      const w = x0.data.map(toW);
      const adv = new Float32Array(w.length);
      const mom = new Float32Array(w.length);
      const vel = new Float32Array(w.length);
      const tau = new Float64Array(m).fill(hi - lo);
      const c = new Float64Array(m).fill(p.initialConst);
      // Adam steps since the last reset (bias correction) and since the last change of c.
      const adamStep = new Int32Array(m);
      const attempt = new Int32Array(m);
      const finished = new Array<boolean>(m).fill(false);
      const bestLinf = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
      while (!finished.every(Boolean) && !ctx.signal?.aborted) {
        for (let k = 0; k < adv.length; k++) adv[k] = lo + half * (Math.tanh(w[k]) + 1);
        if (p.constraints) for (let i = 0; i < m; i++) projectFeasible(adv, x0.data, i * row, row, p.constraints);
        const { f, grad, output } = await cwTerm(model, float32(x0.shape, adv), labels, p.targeted);
        for (let i = 0; i < m; i++) {
          if (finished[i]) continue;
          const s = i * row;
          let excess = 0;
          let linf = 0;
          for (let k = s; k < s + row; k++) {
            const d = Math.abs(adv[k] - x0.data[k]);
            excess += Math.max(0, d - tau[i]);
            linf = Math.max(linf, d);
          }
          const active = f[i] > -p.confidence;
          // The authors' test: the whole objective is (nearly) zero and the label is right.
          if (!active && excess < 1e-4 * c[i] && cwSuccess(output, i, labels[i], f[i], p.targeted, p.confidence)) {
            if (linf < bestLinf[i] && linf <= p.eps) {
              bestLinf[i] = linf;
              result.set(adv.subarray(s, s + row), (start + i) * row);
            }
            tau[i] = Math.min(tau[i], linf) * p.decreaseFactor;
            if (tau[i] <= (hi - lo) / 256) finished[i] = true;
            // Restart from this example with a fresh optimiser.
            for (let k = s; k < s + row; k++) w[k] = toW(adv[k]);
            mom.fill(0, s, s + row);
            vel.fill(0, s, s + row);
            adamStep[i] = 0;
            attempt[i] = 0;
            continue;
          }
          adamStep[i]++;
          const bc1 = 1 - BETA1 ** adamStep[i];
          const bc2 = 1 - BETA2 ** adamStep[i];
          for (let k = s; k < s + row; k++) {
            if (!movable[k - s]) continue;
            const d = adv[k] - x0.data[k];
            const t = Math.tanh(w[k]);
            const g = ((active ? c[i] * grad[k] : 0) + (Math.abs(d) > tau[i] ? Math.sign(d) : 0)) * half * (1 - t * t);
            mom[k] = BETA1 * mom[k] + (1 - BETA1) * g;
            vel[k] = BETA2 * vel[k] + (1 - BETA2) * g * g;
            w[k] -= (p.learningRate * mom[k]) / bc1 / (Math.sqrt(vel[k] / bc2) + ADAM_EPS);
          }
          if (++attempt[i] >= p.maxIter) {
            attempt[i] = 0;
            c[i] *= p.constFactor;
            if (c[i] >= p.largestConst) finished[i] = true;
          }
        }
      }
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};
