/**
 * DeepFool — Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method
 * to fool deep neural networks", CVPR 2016. Linearises the classifier around the current
 * point and steps onto the nearest linearised decision boundary (L2, or L∞ with the dual
 * L1 norm as the paper's ℓp extension), repeating until the label changes; the total
 * perturbation is scaled by 1 + overshoot. Only the `nbCandidate` classes that score
 * highest on the clean input are considered, as the paper suggests for many classes.
 * Defaults from the paper: overshoot 0.02, 50 iterations at most, 10 candidates.
 * Deviations: iterates are clipped to the model's input range (the paper has no box), and
 * each linearised step adds 1e-4 to the distance (as the authors' code) so that it
 * crosses the boundary instead of landing on it. `eps` is not a budget but the largest
 * perturbation counted as a success (default ∞); a sample not fooled within it, or within
 * `maxIter` steps, stays at its input.
 * Each step takes the gradients of the candidates' output differences in one request
 * (engine/jacobian.ts), for the samples not yet fooled only.
 */
import type { ClassGradient, Predictor } from "../../engine/capabilities.js";
import { outputGradients } from "../../engine/jacobian.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, sliceRows } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { rowNorm } from "../norms.js";
import type { Attack, CommonParams } from "../types.js";
import { gatherPadded } from "./apgd.js";
import { checkMinNormParams } from "./carlini-wagner-l2.js";

export interface DeepFoolParams extends CommonParams {
  /** Classes whose boundaries are linearised: the true one and the next highest scores. */
  nbCandidate: number;
  overshoot: number;
  maxIter: number;
  batchSize: number;
}

export const deepFool: Attack<DeepFoolParams, Predictor & ClassGradient> = {
  name: "deepfool",
  title: "DeepFool",
  paper: "Moosavi-Dezfooli, Fawzi & Frossard 2016, DeepFool: a simple and accurate method to fool deep neural networks",
  needs: ["predict", "classGradient"],
  norms: ["2", "inf"],
  defaults: { eps: Number.POSITIVE_INFINITY, norm: "2", targeted: false, nbCandidate: 10, overshoot: 0.02, maxIter: 50, batchSize: 128 },
  help: {
    eps: "largest perturbation (in the chosen norm) counted as a success (default ∞)",
    norm: "2 or inf",
    targeted: "not supported: DeepFool only leaves the true class",
    nbCandidate: "classes linearised per step: the true class and the highest-scoring others (paper: 10)",
    overshoot: "factor past the boundary, the total perturbation is scaled by 1 + overshoot (paper: 0.02)",
    maxIter: "linearisation steps at most (paper: 50)",
    batchSize: "samples per gradient call",
  },
  async run(model, x, y, p, ctx) {
    checkMinNormParams("deepfool", p);
    if (p.targeted) throw new AegisError("BAD_OPTION", "deepfool is untargeted only; drop --targeted, or use cw-l2 or pgd for a targeted attack");
    if (p.norm !== "2" && p.norm !== "inf") throw new AegisError("BAD_OPTION", `deepfool supports --norm 2 or inf, not ${p.norm}`);
    if (!Number.isInteger(p.nbCandidate) || p.nbCandidate < 2) throw new AegisError("BAD_OPTION", "deepfool: nbCandidate must be an integer ≥ 2");
    const n = x.shape[0];
    const row = sizeOf(x.shape.slice(1));
    const result = Float32Array.from(x.data);
    const [lo, hi] = model.clipRange;
    const movable = mutableMask(row, p.constraints);
    const nb = Math.min(p.nbCandidate, model.numClasses);
    const k = model.numClasses;
    const w = new Float32Array(row);
    const best = new Float32Array(row);
    for (let start = 0; start < n && !ctx.signal?.aborted; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      const m = end - start;
      const x0 = sliceRows(x, start, end);
      const labels = y.slice(start, end);
      // Candidate classes per sample, fixed from the clean scores: the label, then the highest others.
      const clean = await model.predict(x0);
      const candidates = labels.map((label, i) => {
        const scores = clean.data.subarray(i * k, (i + 1) * k);
        const others = [...Array(k).keys()].filter((c) => c !== label).sort((a, b) => scores[b] - scores[a]);
        return [label, ...others.slice(0, nb - 1)];
      });
      const adv = Float32Array.from(x0.data);
      const total = new Float32Array(adv.length);
      const done = new Array<boolean>(m).fill(false);
      for (let iter = 0; iter <= p.maxIter && !ctx.signal?.aborted; iter++) {
        // Only the samples still running are predicted and differentiated.
        const active = [...done.keys()].filter((i) => !done[i]);
        const out = iter === 0 ? clean : await model.predict(float32([active.length, ...x0.shape.slice(1)], gatherPadded(adv, row, active, active.length)));
        const at = (r: number) => (iter === 0 ? active[r] : r);
        const running: number[] = [];
        for (const [r, i] of active.entries()) {
          if (argmaxRow(out, at(r)) === labels[i]) {
            running.push(r);
            continue;
          }
          done[i] = true;
          const s = i * row;
          if (rowNorm(diff(adv, x0.data, s, row), 0, row, p.norm) <= p.eps) result.set(adv.subarray(s, s + row), (start + i) * row);
        }
        if (iter === p.maxIter || running.length === 0) break;
        // The gradients of f_c − f_label for every other candidate c, in one request.
        const size = running.length;
        const weights = new Float32Array((nb - 1) * size * k);
        running.forEach((r, j) => {
          const cs = candidates[active[r]];
          for (let c = 1; c < nb; c++) {
            weights[((c - 1) * size + j) * k + cs[c]] = 1;
            weights[((c - 1) * size + j) * k + cs[0]] = -1;
          }
        });
        const rows = running.map((r) => active[r]);
        const { gradients } = await outputGradients(model, float32([size, ...x0.shape.slice(1)], gatherPadded(adv, row, rows, size)), {
          weights: float32([nb - 1, size, k], weights),
        });
        running.forEach((r, j) => {
          const i = active[r];
          const s = i * row;
          const own = out.data[at(r) * k + labels[i]];
          let bestDistance = Number.POSITIVE_INFINITY;
          let bestGap = 0;
          let bestNorm = 0;
          for (let c = 1; c < nb; c++) {
            const g = ((c - 1) * size + j) * row;
            for (let q = 0; q < row; q++) w[q] = movable[q] ? gradients.data[g + q] : 0;
            const gap = Math.abs(out.data[at(r) * k + candidates[i][c]] - own);
            // Distance to the linearised boundary: |f| / ‖w‖ in the dual norm.
            const dual = rowNorm(w, 0, row, p.norm === "2" ? "2" : "1");
            const distance = gap / (dual || 1e-12);
            if (distance < bestDistance) {
              bestDistance = distance;
              bestGap = gap;
              bestNorm = dual;
              best.set(w);
            }
          }
          if (bestNorm === 0) return;
          const scale = (bestGap + 1e-4) / (p.norm === "2" ? bestNorm * bestNorm : bestNorm);
          for (let q = 0; q < row; q++) {
            total[s + q] += scale * (p.norm === "2" ? best[q] : Math.sign(best[q]));
            adv[s + q] = Math.min(hi, Math.max(lo, x0.data[s + q] + (1 + p.overshoot) * total[s + q]));
          }
          projectFeasible(adv, x0.data, s, row, p.constraints);
        });
      }
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};

function diff(adv: Float32Array, x0: Float32Array, start: number, row: number): Float32Array {
  const d = new Float32Array(row);
  for (let j = 0; j < row; j++) d[j] = adv[start + j] - x0[start + j];
  return d;
}
