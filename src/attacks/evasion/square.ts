/**
 * Square Attack — Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
 * black-box adversarial attack via random search", ECCV 2020. Score-based random search that
 * stays on the boundary of the ε-ball: each iteration redraws one random square window of
 * the perturbation and keeps the change only if it lowers the loss (the margin loss when
 * untargeted, cross-entropy toward the target when targeted, as the paper). L∞ starts from
 * vertical stripes of ±ε and gives a window one random sign per channel; L2 starts from a
 * grid of pseudo-Gaussian bumps and moves the mass of a second window into the first,
 * keeping ‖δ‖₂ = ε. The window covers a fraction p of the image, halved on the paper's
 * piecewise-constant schedule (after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of
 * 10 000 iterations, rescaled to maxQueries).
 * Defaults: maxQueries 5000 as AutoAttack; pInit 0.8 as AutoAttack and the authors' MNIST
 * runs (the paper uses 0.05 for L∞ and 0.1 for L2 on undefended ImageNet models).
 * Scores are logits, or log-probabilities for models that return probabilities: the margin
 * is the same. A label-only endpoint gives no score to search on and is refused (use
 * hopskipjump). Inputs are images laid out [C, H, W] (or [H, W]).
 * Deviations: the clean input is queried first (one counted query) so that an already
 * misclassified sample is left as it is; every sample draws its own window position.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { logSumExp } from "../../engine/probabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface SquareParams extends CommonParams {
  /** Query budget per sample, the clean query included. */
  maxQueries: number;
  /** Initial fraction of the image a square covers. */
  pInit: number;
  batchSize: number;
}

export const square: Attack<SquareParams, Predictor> = {
  name: "square",
  title: "Square Attack",
  paper: "Andriushchenko, Croce, Flammarion & Hein 2020, Square Attack: a query-efficient black-box adversarial attack via random search",
  needs: ["predict"],
  inputs: ["image"],
  norms: ["inf", "2"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, maxQueries: 5000, pInit: 0.8, batchSize: 128 },
  help: {
    eps: "radius of the perturbation ball",
    norm: "inf or 2",
    targeted: "reach the given target classes (cross-entropy loss) instead of leaving the labels (margin loss)",
    maxQueries: "queries per sample, the clean one included (AutoAttack: 5000)",
    pInit: "initial fraction of the image a square covers, halved on the paper's schedule (AutoAttack: 0.8)",
    batchSize: "samples attacked together; all still-unbroken ones of a batch share one query call per iteration",
  },
  run: squareAttack,
};

/** The paper's schedule of p: halved after 10, 50, 200, … of 10 000 iterations, rescaled to the budget. */
function squareFraction(pInit: number, iteration: number, iterations: number): number {
  const it = Math.floor((iteration / iterations) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = 0;
  for (const c of cuts) if (it > c) halvings++;
  return pInit / 2 ** halvings;
}

/** [C, H, W] of image inputs; other layouts have no squares. */
export function imageDims(shape: readonly number[], attack: string): [number, number, number] {
  const dims = shape.length === 2 ? [1, shape[0], shape[1]] : shape.length === 3 ? [...shape] : undefined;
  if (!dims || dims[1] < 2 || dims[2] < 2) {
    throw new AegisError(
      "UNSUPPORTED",
      `${attack} works on images shaped [C, H, W] or [H, W], but the input has shape [${shape.join(", ")}]; use hopskipjump (or simba with basis "pixel") for other data`,
    );
  }
  return dims as [number, number, number];
}

/**
 * Refuses outputs that are one-hot in every row: that is a label-only endpoint (HttpPredictor
 * turns bare labels into one-hot rows), which gives a score-based attack nothing to climb.
 */
export function refuseLabelOnly(output: Tensor<"float32">, kind: "logits" | "probs", attack: string): void {
  if (kind !== "probs") return;
  const k = output.shape[1];
  for (let i = 0; i < output.shape[0]; i++) {
    for (let j = 0; j < k; j++) {
      const v = output.data[i * k + j];
      if (v !== 0 && v !== 1) return;
    }
  }
  throw new AegisError(
    "UNSUPPORTED",
    `the model answers with labels only (one-hot outputs), so ${attack} has no score to search on; use hopskipjump, which needs only the decision`,
  );
}

function checkParams(p: SquareParams): void {
  if (p.norm !== "inf" && p.norm !== "2") throw new AegisError("BAD_OPTION", `Square Attack supports norm "inf" or "2", not "${p.norm}"`);
  if (!(p.eps > 0)) throw new AegisError("BAD_OPTION", `eps must be positive, got ${p.eps}`);
  if (!Number.isInteger(p.maxQueries) || p.maxQueries < 2) {
    throw new AegisError("BAD_OPTION", `maxQueries must be an integer of at least 2 (the clean query and the initial perturbation), got ${p.maxQueries}`);
  }
  if (!(p.pInit > 0 && p.pInit <= 1)) throw new AegisError("BAD_OPTION", `pInit must lie in (0, 1], got ${p.pInit}`);
  if (!Number.isInteger(p.batchSize) || p.batchSize < 1) throw new AegisError("BAD_OPTION", `batchSize must be a positive integer, got ${p.batchSize}`);
}

async function squareAttack(model: Predictor, x: Tensor<"float32">, y: Labels, p: SquareParams, ctx: AttackContext): Promise<AttackOutput> {
  checkParams(p);
  const shape = x.shape.slice(1);
  const [c, h, w] = imageDims(shape, "Square Attack");
  const n = x.shape[0];
  const row = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const rng = ctx.rng;
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  let finished = 0;

  // Loss to minimise on one output row: margin of the true class, or cross-entropy of the target.
  const lossOf = (out: Tensor<"float32">, i: number, label: number): number => {
    const k = out.shape[1];
    const score = (j: number) => (model.outputKind === "probs" ? Math.log(Math.max(out.data[i * k + j], Number.MIN_VALUE)) : out.data[i * k + j]);
    if (p.targeted) return logSumExp(Array.from({ length: k }, (_, j) => score(j))) - score(label);
    let other = -Infinity;
    for (let j = 0; j < k; j++) if (j !== label) other = Math.max(other, score(j));
    return score(label) - other;
  };
  const fooled = (out: Tensor<"float32">, i: number, label: number) => isAdversarial(argmaxRow(out, i), label, p.targeted);

  const plane = h * w;
  const pattern = new Float32Array(plane);
  const delta = new Float32Array(row);

  /** L∞ start: one ±ε per column of each channel (vertical stripes). */
  const stripes = (x0: Float32Array, at: number, out: Float32Array, to: number) => {
    for (let ch = 0; ch < c; ch++) {
      for (let col = 0; col < w; col++) {
        const v = rng.next() < 0.5 ? -p.eps : p.eps;
        for (let r = 0; r < h; r++) {
          const k = ch * plane + r * w + col;
          out[to + k] = Math.min(hi, Math.max(lo, x0[at + k] + v));
        }
      }
    }
  };

  /** L2 start: a grid of pseudo-Gaussian bumps of side H/5 with random signs, scaled to norm ε. */
  const bumps = (x0: Float32Array, at: number, out: Float32Array, to: number) => {
    delta.fill(0);
    const s = Math.max(1, Math.floor(h / 5));
    const offset = Math.floor((h - 5 * s) / 2);
    for (let top = offset; top + s <= h; top += s) {
      for (let left = offset; left + s <= w; left += s) {
        bump(s, pattern, rng.next);
        for (let ch = 0; ch < c; ch++) {
          const sign = rng.next() < 0.5 ? -1 : 1;
          for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) delta[ch * plane + (top + r) * w + left + q] += sign * pattern[r * s + q];
        }
      }
    }
    const scale = p.eps / (l2(delta, 0, row) || 1);
    for (let k = 0; k < row; k++) out[to + k] = Math.min(hi, Math.max(lo, x0[at + k] + scale * delta[k]));
  };

  /** L∞ proposal: the best iterate with one window set to x ± ε (a sign per channel), redrawn until it changes something. */
  const linfStep = (x0: Float32Array, at: number, best: Float32Array, out: Float32Array, to: number, frac: number) => {
    const s = Math.min(Math.max(Math.round(Math.sqrt((frac * row) / c)), 1), Math.min(h, w) - 1);
    const top = rng.int(h - s + 1);
    const left = rng.int(w - s + 1);
    out.set(best.subarray(at, at + row), to);
    for (;;) {
      let changed = false;
      for (let ch = 0; ch < c; ch++) {
        const v = rng.next() < 0.5 ? -p.eps : p.eps;
        for (let r = top; r < top + s; r++) {
          for (let q = left; q < left + s; q++) {
            const k = ch * plane + r * w + q;
            out[to + k] = Math.min(hi, Math.max(lo, x0[at + k] + v));
            if (Math.abs(out[to + k] - best[at + k]) >= 1e-7) changed = true;
          }
        }
      }
      // Both signs give different pixels whenever ε > 0, so this ends.
      if (changed) return;
    }
  };

  /**
   * L2 proposal: window 1 gets a fresh bump plus its old content, window 2 is emptied, and the
   * freed norm (plus what is left of ε²) goes to window 1; the whole δ is then rescaled to ε.
   */
  const l2Step = (x0: Float32Array, at: number, best: Float32Array, out: Float32Array, to: number, frac: number) => {
    let s = Math.max(Math.round(Math.sqrt((frac * row) / c)), 3);
    if (s % 2 === 0) s++;
    s = Math.min(s, h, w);
    const top1 = rng.int(h - s + 1);
    const left1 = rng.int(w - s + 1);
    const top2 = rng.int(h - s + 1);
    const left2 = rng.int(w - s + 1);
    for (let k = 0; k < row; k++) delta[k] = best[at + k] - x0[at + k];
    const imageNorm = l2(delta, 0, row);
    const inWindow = (r: number, q: number, top: number, left: number) => r >= top && r < top + s && q >= left && q < left + s;
    bump(s, pattern, rng.next);
    const fresh = new Float32Array(s * s);
    for (let ch = 0; ch < c; ch++) {
      const base = ch * plane;
      let window1 = 0;
      let windows = 0;
      for (let r = 0; r < h; r++) {
        for (let q = 0; q < w; q++) {
          const in1 = inWindow(r, q, top1, left1);
          if (!in1 && !inWindow(r, q, top2, left2)) continue;
          const d = delta[base + r * w + q];
          windows += d * d;
          if (in1) window1 += d * d;
        }
      }
      const sign = rng.next() < 0.5 ? -1 : 1;
      const old = 1 / (1e-10 + Math.sqrt(window1));
      for (let r = 0; r < s; r++) {
        for (let q = 0; q < s; q++) fresh[r * s + q] = sign * pattern[r * s + q] + delta[base + (top1 + r) * w + left1 + q] * old;
      }
      const target = Math.sqrt(Math.max(p.eps * p.eps - imageNorm * imageNorm, 0) / c + windows);
      const scale = target / (l2(fresh, 0, s * s) || 1);
      for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) delta[base + (top2 + r) * w + left2 + q] = 0;
      for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) delta[base + (top1 + r) * w + left1 + q] = scale * fresh[r * s + q];
    }
    const scale = p.eps / (l2(delta, 0, row) || 1);
    for (let k = 0; k < row; k++) out[to + k] = Math.min(hi, Math.max(lo, x0[at + k] + scale * delta[k]));
  };

  for (let start = 0; start < n; start += p.batchSize) {
    if (ctx.signal?.aborted) break;
    const end = Math.min(n, start + p.batchSize);
    const m = end - start;
    const x0 = x.data.subarray(start * row, end * row);
    const labels = y.slice(start, end);
    const best = Float32Array.from(x0);
    const bestLoss = new Float64Array(m);

    const clean = await model.predict(float32([m, ...shape], x0));
    refuseLabelOnly(clean, model.outputKind, "Square Attack");
    let active: number[] = [];
    for (let i = 0; i < m; i++) {
      queries[start + i]++;
      if (fooled(clean, i, labels[i])) finished++;
      else active.push(i);
    }
    ctx.onProgress?.(finished, n);

    // Query the proposals of the active samples; keep improvements, retire the fooled.
    const buffer = new Float32Array(m * row);
    const evaluate = async (first: boolean) => {
      const out = await model.predict(float32([active.length, ...shape], buffer.subarray(0, active.length * row)));
      const still: number[] = [];
      active.forEach((i, a) => {
        queries[start + i]++;
        const loss = lossOf(out, a, labels[i]);
        const hit = fooled(out, a, labels[i]);
        if (first || hit || loss < bestLoss[i]) {
          bestLoss[i] = loss;
          best.set(buffer.subarray(a * row, (a + 1) * row), i * row);
        }
        if (hit) finished++;
        else still.push(i);
      });
      active = still;
      ctx.onProgress?.(finished, n);
    };

    if (active.length > 0 && !ctx.signal?.aborted) {
      active.forEach((i, a) => {
        (p.norm === "inf" ? stripes : bumps)(x0, i * row, buffer, a * row);
        projectFeasible(buffer.subarray(a * row, (a + 1) * row), x0.subarray(i * row, (i + 1) * row), 0, row, p.constraints);
      });
      await evaluate(true);
    }
    // maxQueries − 2 iterations follow the clean query and the initialisation.
    for (let it = 0; it < p.maxQueries - 2 && active.length > 0; it++) {
      if (ctx.signal?.aborted) break;
      const frac = squareFraction(p.pInit, it, p.maxQueries);
      active.forEach((i, a) => {
        (p.norm === "inf" ? linfStep : l2Step)(x0, i * row, best, buffer, a * row, frac);
        projectFeasible(buffer.subarray(a * row, (a + 1) * row), x0.subarray(i * row, (i + 1) * row), 0, row, p.constraints);
      });
      await evaluate(false);
    }
    result.set(best, start * row);
    finished += active.length;
    ctx.onProgress?.(finished, n);
  }
  return { x: float32(x.shape, result), queries };
}

function l2(v: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let k = from; k < to; k++) s += v[k] * v[k];
  return Math.sqrt(s);
}

/**
 * The paper's L2 update shape in an s×s square, into out[0, s²): two halves of opposite sign,
 * each a pyramid of nested rectangles around its centre with weights 1/(k+1)² (a cheap
 * stand-in for a Gaussian bump), unit L2 norm, transposed half of the time.
 */
function bump(s: number, out: Float32Array, next: () => number): void {
  const half = Math.floor(s / 2);
  const pyramid = (rows: number, rowOffset: number, sign: number) => {
    const rc = Math.floor(rows / 2);
    const qc = Math.floor(s / 2);
    const levels = Math.max(rc, qc) + 1;
    for (let r = 0; r < rows; r++) {
      for (let q = 0; q < s; q++) {
        let v = 0;
        for (let k = Math.max(Math.abs(r - rc), Math.abs(q - qc)); k < levels; k++) v += 1 / ((k + 1) * (k + 1));
        out[(rowOffset + r) * s + q] = sign * v;
      }
    }
  };
  pyramid(half, 0, 1);
  pyramid(s - half, half, -1);
  // Each half carries equal weight, as if normalised separately before the whole.
  normaliseRows(out, s, 0, half);
  normaliseRows(out, s, half, s);
  const norm = l2(out, 0, s * s) || 1;
  for (let k = 0; k < s * s; k++) out[k] /= norm;
  if (next() < 0.5) {
    for (let r = 0; r < s; r++) {
      for (let q = r + 1; q < s; q++) {
        const t = out[r * s + q];
        out[r * s + q] = out[q * s + r];
        out[q * s + r] = t;
      }
    }
  }
}

function normaliseRows(out: Float32Array, s: number, from: number, to: number): void {
  const norm = l2(out, from * s, to * s);
  if (norm > 0) for (let k = from * s; k < to * s; k++) out[k] /= norm;
}
