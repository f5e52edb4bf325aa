/**
 * The projected-gradient loop that PGD, BIM and MIM share: step along the steepest-ascent
 * direction of the loss for the chosen norm, project back onto the ε-ball around the
 * original input and onto the valid input range, repeat. Samples are frozen at the first
 * iterate that fools the model (so a later step cannot undo a success), and restarts
 * only rerun the samples not yet broken. Batches keep a fixed size, so one gradient graph
 * serves the whole run.
 */
import type { Labels, LossGradient, LossName, ModelInfo } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { ascentDirection, projectBall, randomInBall, rowNorm } from "../norms.js";
import type { AttackContext, AttackOutput, FeatureConstraints, Norm } from "../types.js";

export interface IterativeParams {
  eps: number;
  epsStep: number;
  maxIter: number;
  norm: Norm;
  targeted: boolean;
  randomInit: boolean;
  restarts: number;
  loss: LossName;
  /** Momentum μ of MIM (Dong et al. 2018); 0 for plain PGD/BIM. */
  momentum: number;
  batchSize: number;
  constraints?: FeatureConstraints;
}

export async function iterativeAttack(
  model: LossGradient & ModelInfo,
  x: Tensor<"float32">,
  y: Labels,
  p: IterativeParams,
  ctx: AttackContext,
): Promise<AttackOutput> {
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const result = Float32Array.from(x.data);
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, p.constraints);
  let finished = 0;
  for (let start = 0; start < n; start += p.batchSize) {
    const end = Math.min(n, start + p.batchSize);
    const x0 = sliceRows(x, start, end);
    const labels = y.slice(start, end);
    const m = end - start;
    const done = new Array<boolean>(m).fill(false);
    const fooled = (output: Tensor<"float32">, i: number) => isAdversarial(argmaxRow(output, i), labels[i], p.targeted);
    for (let restart = 0; restart < Math.max(1, p.restarts) && !done.every(Boolean); restart++) {
      // The model sees the feasible point `adv`; steps accumulate on `relaxed`, which only
      // the continuous constraints touch (the same array when there are none).
      const adv = Float32Array.from(x0.data);
      const relaxed = p.constraints ? Float32Array.from(x0.data) : adv;
      const settle = (s: number) => {
        if (!p.constraints) return;
        projectFeasible(relaxed, x0.data, s, row, p.constraints, true);
        adv.set(relaxed.subarray(s, s + row), s);
        projectFeasible(adv, x0.data, s, row, p.constraints);
      };
      if (p.randomInit) {
        const delta = new Float32Array(adv.length);
        for (let i = 0; i < m; i++) {
          if (done[i]) continue;
          randomInBall(delta, i * row, (i + 1) * row, p.norm, p.eps, ctx.rng.next, ctx.rng.normal);
          for (let k = i * row; k < (i + 1) * row; k++) relaxed[k] = Math.min(hi, Math.max(lo, x0.data[k] + delta[k]));
          settle(i * row);
        }
      }
      const velocity = new Float32Array(adv.length);
      const direction = new Float32Array(adv.length);
      const objective = new Float32Array(adv.length);
      const delta = new Float32Array(adv.length);
      for (let iter = 0; iter < p.maxIter && !done.every(Boolean); iter++) {
        if (ctx.signal?.aborted) break;
        const { output, grad } = await model.valueAndGradient(float32(x0.shape, adv), labels, { loss: p.loss });
        const sign = p.targeted ? -1 : 1;
        for (let i = 0; i < m; i++) {
          if (done[i]) continue;
          if (fooled(output, i)) {
            done[i] = true;
            result.set(adv.subarray(i * row, (i + 1) * row), (start + i) * row);
            continue;
          }
          const s = i * row;
          const e = s + row;
          let g = grad.data;
          if (p.momentum > 0) {
            // MIM accumulates gradients normalised by their L1 norm.
            const l1 = rowNorm(grad.data, s, e, "1") || 1;
            for (let k = s; k < e; k++) velocity[k] = p.momentum * velocity[k] + grad.data[k] / l1;
            g = velocity;
          }
          // Ascent on the objective, ignoring coordinates pinned at the box edge they would
          // push against: L2 and sparse L1 steps then spend their budget where it can move.
          for (let k = s; k < e; k++) {
            const v = sign * g[k];
            objective[k] = !movable[k - s] || (v > 0 && relaxed[k] >= hi) || (v < 0 && relaxed[k] <= lo) ? 0 : v;
          }
          ascentDirection(objective, s, e, p.norm, direction);
          for (let k = s; k < e; k++) delta[k] = relaxed[k] + p.epsStep * direction[k] - x0.data[k];
          projectBall(delta, s, e, p.norm, p.eps);
          for (let k = s; k < e; k++) relaxed[k] = Math.min(hi, Math.max(lo, x0.data[k] + delta[k]));
          settle(s);
        }
      }
      // The last iterate has not been checked yet.
      const last = await model.valueAndGradient(float32(x0.shape, adv), labels, { loss: p.loss });
      for (let i = 0; i < m; i++) {
        if (done[i]) continue;
        if (fooled(last.output, i)) done[i] = true;
        // Unbroken samples keep the final iterate of the latest restart.
        result.set(adv.subarray(i * row, (i + 1) * row), (start + i) * row);
      }
      if (ctx.signal?.aborted) break;
    }
    finished = end;
    ctx.onProgress?.(finished, n);
    if (ctx.signal?.aborted) break;
  }
  return { x: float32(x.shape, result) };
}
