/**
 * NES gradient estimation — Ilyas, Engstrom, Athalye & Lin, "Black-box Adversarial Attacks
 * with Limited Queries and Information", ICML 2018 (query-limited setting). The gradient
 * of the loss is estimated from the model's scores alone by natural evolution strategies:
 * n antithetic Gaussian pairs x ± σu (2n queries), then projected steps as PGD takes them
 * (sign of the estimate for L∞). Loss: −log p(target) for a targeted attack, log p(label)
 * for an untargeted one. Defaults from the paper: σ = 0.001 of the input range, n = 50
 * pairs, η = 0.01, 10,000 queries; momentum 0.9 on the estimate as in the authors' code.
 * Deviations: noisy queries are clipped to the valid input range; the learning-rate
 * decay on plateaus of the authors' code is left out; each step also spends one query on
 * the current iterate, to stop a sample at its first success.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { logSumExp } from "../../engine/probabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { ascentDirection, projectBall } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface NesParams extends CommonParams {
  /** PGD step size η. */
  epsStep: number;
  /** Antithetic pairs per gradient estimate (2 queries each). */
  samplesPerDraw: number;
  /** Width of the Gaussian search distribution, as a fraction of the input range. */
  sigma: number;
  momentum: number;
  maxQueries: number;
  batchSize: number;
}

/** Log-probability of class c for one output row, whether the model returns logits or probabilities. */
export function logProb(out: Tensor<"float32">, i: number, c: number, kind: "logits" | "probs"): number {
  const k = out.shape[1];
  const row = out.data.subarray(i * k, (i + 1) * k);
  if (kind === "probs") return Math.log(Math.max(row[c], 1e-30));
  return row[c] - logSumExp(row);
}

function check(p: NesParams): void {
  if (p.norm !== "inf" && p.norm !== "2") throw new AegisError("BAD_OPTION", `nes supports norm inf or 2, not ${p.norm}`);
  for (const [key, v] of [
    ["eps", p.eps],
    ["epsStep", p.epsStep],
    ["sigma", p.sigma],
  ] as const)
    if (!(v > 0)) throw new AegisError("BAD_OPTION", `nes needs ${key} > 0, got ${v}`);
  if (!Number.isInteger(p.samplesPerDraw) || p.samplesPerDraw < 1) throw new AegisError("BAD_OPTION", "nes needs samplesPerDraw to be a whole number ≥ 1");
  if (!(p.momentum >= 0 && p.momentum < 1)) throw new AegisError("BAD_OPTION", `nes needs momentum in [0, 1), got ${p.momentum}`);
  if (!(p.maxQueries >= 2 * p.samplesPerDraw + 1))
    throw new AegisError("BAD_OPTION", `nes needs maxQueries ≥ ${2 * p.samplesPerDraw + 1} (one gradient estimate and one check); raise it`);
}

async function run(model: Predictor, x: Tensor<"float32">, y: Labels, p: NesParams, ctx: AttackContext): Promise<AttackOutput> {
  check(p);
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const [lo, hi] = model.clipRange;
  const sigma = p.sigma * (hi - lo);
  const pairs = p.samplesPerDraw;
  const movable = mutableMask(row, p.constraints);
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  const batch = Math.max(1, p.batchSize);
  const fooled = (out: Tensor<"float32">, r: number, label: number) => isAdversarial(argmaxRow(out, r), label, p.targeted);
  // Descending this loss attacks: the target's −log p, or the true class's log p.
  const loss = (out: Tensor<"float32">, r: number, label: number) => (p.targeted ? -1 : 1) * logProb(out, r, label, model.outputKind);
  let finished = 0;

  for (let start = 0; start < n && !ctx.signal?.aborted; start += batch) {
    const end = Math.min(n, start + batch);
    const m = end - start;
    const adv = result.subarray(start * row, end * row);
    const x0 = x.data.subarray(start * row, end * row);
    const grad = new Float32Array(m * row);
    const estimate = new Float32Array(m * row);
    const direction = new Float32Array(m * row);
    const delta = new Float32Array(m * row);
    const active = Array.from({ length: m }, (_, i) => i);
    const budgetLeft = (i: number) => p.maxQueries - queries[start + i];

    while (active.length > 0 && !ctx.signal?.aborted) {
      // Check the current iterates (one query each); successes and spent budgets stop.
      const current = new Float32Array(active.length * row);
      active.forEach((i, a) => {
        current.set(adv.subarray(i * row, (i + 1) * row), a * row);
      });
      const out = await model.predict(float32([active.length, ...x.shape.slice(1)], current));
      const still: number[] = [];
      active.forEach((i, a) => {
        queries[start + i]++;
        if (!fooled(out, a, y[start + i]) && budgetLeft(i) >= 2 * pairs + 1) still.push(i);
      });
      finished += active.length - still.length;
      if (still.length < active.length) ctx.onProgress?.(finished, n);
      active.splice(0, active.length, ...still);
      if (active.length === 0) break;

      // 2n antithetic queries around each iterate.
      const noise = new Float32Array(active.length * pairs * row);
      const probes = new Float32Array(2 * noise.length);
      for (let a = 0; a < active.length; a++) {
        const s = active[a] * row;
        for (let j = 0; j < pairs; j++) {
          const u = (a * pairs + j) * row;
          const plus = 2 * u;
          const minus = plus + row;
          for (let k = 0; k < row; k++) {
            const z = movable[k] ? ctx.rng.normal() : 0;
            noise[u + k] = z;
            probes[plus + k] = Math.min(hi, Math.max(lo, adv[s + k] + sigma * z));
            probes[minus + k] = Math.min(hi, Math.max(lo, adv[s + k] - sigma * z));
          }
        }
      }
      const scores = await model.predict(float32([2 * active.length * pairs, ...x.shape.slice(1)], probes));
      for (let a = 0; a < active.length; a++) {
        const i = active[a];
        const label = y[start + i];
        queries[start + i] += 2 * pairs;
        const s = i * row;
        estimate.fill(0, s, s + row);
        for (let j = 0; j < pairs; j++) {
          const r = 2 * (a * pairs + j);
          const w = (loss(scores, r, label) - loss(scores, r + 1, label)) / (2 * pairs * sigma);
          const u = (a * pairs + j) * row;
          for (let k = 0; k < row; k++) estimate[s + k] += w * noise[u + k];
        }
        for (let k = s; k < s + row; k++) grad[k] = p.momentum * grad[k] + (1 - p.momentum) * estimate[k];
        // Descend the loss: the steepest-ascent direction of −grad, projected onto the ball and the box.
        for (let k = s; k < s + row; k++) estimate[k] = -grad[k];
        ascentDirection(estimate, s, s + row, p.norm, direction);
        for (let k = s; k < s + row; k++) delta[k] = adv[k] + p.epsStep * direction[k] - x0[k];
        projectBall(delta, s, s + row, p.norm, p.eps);
        for (let k = s; k < s + row; k++) adv[k] = Math.min(hi, Math.max(lo, x0[k] + delta[k]));
        projectFeasible(adv, x0, s, row, p.constraints);
      }
    }
  }
  return { x: float32(x.shape, result), queries };
}

export const nes: Attack<NesParams, Predictor> = {
  name: "nes",
  title: "NES gradient-estimation attack (query-limited)",
  paper: "Ilyas, Engstrom, Athalye & Lin 2018, Black-box Adversarial Attacks with Limited Queries and Information",
  needs: ["predict"],
  norms: ["inf", "2"],
  defaults: { eps: 0.05, norm: "inf", targeted: false, epsStep: 0.01, samplesPerDraw: 50, sigma: 0.001, momentum: 0.9, maxQueries: 10_000, batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball (the paper's 0.05 is for ImageNet; MNIST is usually attacked at 0.3)",
    norm: "inf (signed steps, as the paper) or 2",
    targeted: "raise the given target classes' probability instead of lowering the labels'",
    epsStep: "step size η of each projected step",
    samplesPerDraw: "antithetic Gaussian pairs per gradient estimate (2 queries each)",
    sigma: "search width σ as a fraction of the input range",
    momentum: "weight of the previous estimate in the running gradient",
    maxQueries: "model queries allowed per sample",
    batchSize: "samples attacked together (their queries share model calls)",
  },
  run,
};
