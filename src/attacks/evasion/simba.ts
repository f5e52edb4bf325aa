/**
 * SimBA — Guo, Gardner, You, Wilson & Weinberger, "Simple Black-box Adversarial Attacks",
 * ICML 2019. Walks an orthonormal basis in random order: for each direction q it tries
 * δ − εq, then δ + εq, and keeps the first that lowers the model's probability of the true
 * class (or raises the target's), so every accepted step adds exactly ε to ‖δ‖₂ along a new
 * orthogonal direction. Two bases, as the paper: the pixel basis (SimBA) and the 2-D DCT
 * basis walked low frequencies first (SimBA-DCT): a random order inside the lowest
 * freqDims×freqDims block, then in bands of width `stride` outwards.
 * Defaults from the paper and its reference code: ε = 0.2, DCT basis, 10 000 iterations
 * (the reference runs targeted attacks with 30 000); freqDims = side/8 and stride = side/32
 * (28 and 7 for 224-pixel ImageNet, as the reference; 4 and 1 for MNIST).
 * Probabilities are the model's, or the softmax of its logits.
 * Deviations: the clean input is queried first (one counted query, the baseline probability);
 * when maxIter exceeds the number of basis directions the walk starts over in the same order
 * (the reference stops after one pass), which small inputs such as MNIST need.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { logSumExp } from "../../engine/probabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";
import { imageDims, refuseLabelOnly } from "./square.js";

export interface SimbaParams extends CommonParams {
  basis: "dct" | "pixel";
  /** Basis directions tried per sample (each costs one or two queries). */
  maxIter: number;
  /** Side of the low-frequency block walked first (DCT); default side/8. */
  freqDims?: number;
  /** Width of each following frequency band (DCT); default side/32. */
  stride?: number;
  batchSize: number;
}

export const simba: Attack<SimbaParams, Predictor> = {
  name: "simba",
  title: "Simple Black-box Attack (SimBA / SimBA-DCT)",
  paper: "Guo, Gardner, You, Wilson & Weinberger 2019, Simple Black-box Adversarial Attacks",
  needs: ["predict"],
  norms: ["2"],
  defaults: { eps: 0.2, norm: "2", targeted: false, basis: "dct", maxIter: 10000, batchSize: 128 },
  help: {
    eps: "step ε along each basis direction (the paper: 0.2); ‖δ‖₂ grows as ε·√(accepted steps)",
    norm: "2 only",
    targeted: "raise the probability of the given target classes instead of lowering the labels'",
    basis: "dct (low frequencies first, SimBA-DCT) or pixel (SimBA)",
    maxIter: "basis directions tried per sample, 1–2 queries each (the paper's code: 10000; 30000 for targeted runs)",
    freqDims: "DCT: side of the low-frequency block tried first (default side/8)",
    stride: "DCT: width of each following frequency band (default side/32)",
    batchSize: "samples attacked together; all still-unbroken ones share each query call",
  },
  run: simbaAttack,
};

function checkParams(p: SimbaParams): void {
  if (p.norm !== "2") throw new AegisError("BAD_OPTION", `SimBA takes L2 steps only; set norm to "2" (got "${p.norm}")`);
  if (!(p.eps > 0)) throw new AegisError("BAD_OPTION", `eps (the step size) must be positive, got ${p.eps}`);
  if (p.basis !== "dct" && p.basis !== "pixel") throw new AegisError("BAD_OPTION", `basis must be "dct" or "pixel", got "${p.basis}"`);
  for (const [name, v] of [
    ["maxIter", p.maxIter],
    ["batchSize", p.batchSize],
    ["freqDims", p.freqDims ?? 1],
    ["stride", p.stride ?? 1],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `${name} must be a positive integer, got ${v}`);
  }
}

async function simbaAttack(model: Predictor, x: Tensor<"float32">, y: Labels, p: SimbaParams, ctx: AttackContext): Promise<AttackOutput> {
  checkParams(p);
  const shape = x.shape.slice(1);
  const n = x.shape[0];
  const row = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  const basis = p.basis === "dct" ? dctBasis(imageDims(shape, "SimBA-DCT"), p) : undefined;
  let finished = 0;

  /** Probability of class `label` in row i of an output. */
  const probability = (out: Tensor<"float32">, i: number, label: number): number => {
    const k = out.shape[1];
    if (model.outputKind === "probs") return out.data[i * k + label];
    return Math.exp(out.data[i * k + label] - logSumExp(out.data.subarray(i * k, (i + 1) * k)));
  };
  const fooled = (out: Tensor<"float32">, i: number, label: number) => isAdversarial(argmaxRow(out, i), label, p.targeted);
  const better = (candidate: number, current: number) => (p.targeted ? candidate > current : candidate < current);

  for (let start = 0; start < n; start += p.batchSize) {
    if (ctx.signal?.aborted) break;
    const end = Math.min(n, start + p.batchSize);
    const m = end - start;
    const x0 = x.data.subarray(start * row, end * row);
    const labels = y.slice(start, end);
    // The perturbation accumulates unclipped; each query clips x + δ to the valid range.
    const delta = new Float32Array(m * row);
    const last = new Float64Array(m);
    const order = basis ? basis.order(ctx.rng.shuffle) : ctx.rng.shuffle(Array.from({ length: row }, (_, k) => k));

    const clean = await model.predict(float32([m, ...shape], x0));
    refuseLabelOnly(clean, model.outputKind, "SimBA");
    const active: number[] = [];
    for (let i = 0; i < m; i++) {
      queries[start + i]++;
      last[i] = probability(clean, i, labels[i]);
      if (fooled(clean, i, labels[i])) finished++;
      else active.push(i);
    }
    ctx.onProgress?.(finished, n);

    const direction = new Float32Array(row);
    const buffer = new Float32Array(m * row);
    /** Queries x + δ + sign·ε·q for the listed samples; accepts improvements; returns those not improved. */
    const attempt = async (samples: number[], sign: number): Promise<number[]> => {
      samples.forEach((i, a) => {
        for (let k = 0; k < row; k++) buffer[a * row + k] = Math.min(hi, Math.max(lo, x0[i * row + k] + delta[i * row + k] + sign * p.eps * direction[k]));
        projectFeasible(buffer.subarray(a * row, (a + 1) * row), x0.subarray(i * row, (i + 1) * row), 0, row, p.constraints);
      });
      const out = await model.predict(float32([samples.length, ...shape], buffer.subarray(0, samples.length * row)));
      const rejected: number[] = [];
      samples.forEach((i, a) => {
        queries[start + i]++;
        const prob = probability(out, a, labels[i]);
        if (!better(prob, last[i])) {
          rejected.push(i);
          return;
        }
        last[i] = prob;
        for (let k = 0; k < row; k++) delta[i * row + k] += sign * p.eps * direction[k];
        if (fooled(out, a, labels[i])) {
          active.splice(active.indexOf(i), 1);
          finished++;
        }
      });
      return rejected;
    };

    for (let it = 0; it < p.maxIter && active.length > 0; it++) {
      if (ctx.signal?.aborted) break;
      const index = order[it % order.length];
      if (basis) basis.direction(index, direction);
      else {
        direction.fill(0);
        direction[index] = 1;
      }
      const rejected = await attempt([...active], -1);
      if (rejected.length > 0) await attempt(rejected, 1);
      ctx.onProgress?.(finished, n);
    }
    for (let i = 0; i < m; i++) {
      for (let k = 0; k < row; k++) result[(start + i) * row + k] = Math.min(hi, Math.max(lo, x0[i * row + k] + delta[i * row + k]));
      projectFeasible(result.subarray((start + i) * row, (start + i + 1) * row), x0.subarray(i * row, (i + 1) * row), 0, row, p.constraints);
    }
    finished += active.length;
    ctx.onProgress?.(finished, n);
  }
  return { x: float32(x.shape, result), queries };
}

/**
 * The orthonormal 2-D DCT-II basis of [C, H, W] images: direction (ch, a, b) is the outer
 * product of the a-th and b-th 1-D cosines in channel ch, so every step has L2 norm 1.
 */
function dctBasis([c, h, w]: [number, number, number], p: SimbaParams) {
  const cosines = (size: number) => {
    const t = new Float64Array(size * size);
    for (let f = 0; f < size; f++) {
      const scale = Math.sqrt((f === 0 ? 1 : 2) / size);
      for (let i = 0; i < size; i++) t[f * size + i] = scale * Math.cos((Math.PI * (2 * i + 1) * f) / (2 * size));
    }
    return t;
  };
  const cosH = cosines(h);
  const cosW = cosines(w);
  const side = Math.min(h, w);
  const first = Math.min(p.freqDims ?? Math.max(1, Math.round(side / 8)), Math.max(h, w));
  const stride = p.stride ?? Math.max(1, Math.round(side / 32));
  const plane = h * w;
  return {
    /** Coefficient indices, band by band from the lowest frequencies, random inside each band. */
    order(shuffle: <T>(a: T[]) => T[]): number[] {
      const bands: number[][] = [];
      for (let ch = 0; ch < c; ch++) {
        for (let a = 0; a < h; a++) {
          for (let b = 0; b < w; b++) {
            const level = Math.max(a, b);
            const band = level < first ? 0 : 1 + Math.floor((level - first) / stride);
            if (!bands[band]) bands[band] = [];
            bands[band].push(ch * plane + a * w + b);
          }
        }
      }
      return bands.filter(Boolean).flatMap((band) => shuffle(band));
    },
    direction(index: number, out: Float32Array): void {
      out.fill(0);
      const ch = Math.floor(index / plane);
      const a = Math.floor((index % plane) / w);
      const b = index % w;
      for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) out[ch * plane + r * w + q] = cosH[a * h + r] * cosW[b * w + q];
    },
  };
}
