/**
 * Embedding-space PGD projected to tokens — the perturbation in the input embedding space
 * of Miyato, Dai & Goodfellow, "Adversarial Training Methods for Semi-Supervised Text
 * Classification", ICLR 2017, turned into real token substitutions by mapping each perturbed
 * embedding to its nearest token, as Papernot, McDaniel, Swami & Harang ("Crafting
 * Adversarial Input Sequences for Recurrent Neural Networks", MILCOM 2016) do.
 * Each step moves every token's embedding along its L2-normalised loss gradient by
 * `stepSize` times the mean norm of the embedding table's rows; then the ε positions whose
 * embedding moved furthest are projected to their nearest token (other than a frozen one),
 * and the sample keeps that token sequence if it fools the model.
 * Deviations: Miyato et al. bound the perturbation's L2 norm and never leave the
 * continuous space; here the budget is ε substituted tokens, and the continuous iterate is
 * left unbounded because only its projection is ever fed to the model.
 */
import type { EmbeddingGradient } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sliceRows } from "../../tensor.js";
import { isAdversarial } from "../metrics.js";
import { frozenSet, nearestToken, TOKEN_HELP, type TokenParams, tokenBudget } from "../tokens.js";
import type { Attack, CommonParams } from "../types.js";

export interface EmbeddingPgdParams extends CommonParams, TokenParams {
  /** Step length, as a fraction of the mean norm of the embedding table's rows. */
  stepSize: number;
  maxIter: number;
  batchSize: number;
}

export const embeddingPgd: Attack<EmbeddingPgdParams, EmbeddingGradient> = {
  name: "embedding-pgd",
  title: "Embedding-space PGD projected to the nearest tokens",
  paper: "Miyato, Dai & Goodfellow 2017, Adversarial Training Methods for Semi-Supervised Text Classification",
  needs: ["predictTokens", "embeddingGradient"],
  norms: ["0"],
  defaults: { eps: 3, norm: "0", targeted: false, stepSize: 0.25, maxIter: 20, frozenTokens: [0], batchSize: 32 },
  help: {
    ...TOKEN_HELP,
    stepSize: "step length per iteration, as a fraction of the mean norm of the embedding rows",
    maxIter: "gradient steps",
  },
  async run(model, x, y, p, ctx) {
    const budget = tokenBudget("embedding-pgd", p.eps);
    if (!(p.stepSize > 0)) throw new AegisError("BAD_OPTION", "embedding-pgd: stepSize must be positive");
    if (!Number.isInteger(p.maxIter) || p.maxIter < 1) throw new AegisError("BAD_OPTION", "embedding-pgd: maxIter must be a positive integer");
    const frozen = frozenSet(p.frozenTokens, model.vocabulary);
    const [n, t] = x.shape;
    const d = model.dimension;
    const step = p.stepSize * meanRowNorm(model.table, d);
    const sign = p.targeted ? -1 : 1;
    const result = Float32Array.from(x.data);
    for (let start = 0; start < n && !ctx.signal?.aborted; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      const m = end - start;
      const labels = y.slice(start, end);
      const ids = sliceRows(x, start, end);
      const embedding = model.embed(ids);
      const moved = Float32Array.from(embedding.data);
      const done = new Array<boolean>(m).fill(false);
      for (let iter = 0; iter < p.maxIter && !done.every(Boolean) && !ctx.signal?.aborted; iter++) {
        const { grad } = await model.embeddingGradient(ids, float32(embedding.shape, moved), labels);
        for (let k = 0; k < m * t; k++) {
          if (done[Math.floor(k / t)]) continue;
          let norm = 0;
          for (let j = k * d; j < (k + 1) * d; j++) norm += grad.data[j] * grad.data[j];
          const scale = norm > 0 ? (sign * step) / Math.sqrt(norm) : 0;
          for (let j = k * d; j < (k + 1) * d; j++) moved[j] += scale * grad.data[j];
        }
        const projected = project(model, ids.data, embedding.data, moved, m, t, budget, frozen);
        const output = await model.predict(float32([m, t], projected));
        for (let i = 0; i < m; i++) {
          if (done[i] || !isAdversarial(argmaxRow(output, i), labels[i], p.targeted)) continue;
          done[i] = true;
          result.set(projected.subarray(i * t, (i + 1) * t), (start + i) * t);
        }
      }
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};

/** Per sample, the `budget` unfrozen positions that moved furthest, each set to the token nearest its moved embedding. */
function project(
  model: EmbeddingGradient,
  ids: Float32Array,
  embedding: Float32Array,
  moved: Float32Array,
  m: number,
  t: number,
  budget: number,
  frozen: ReadonlySet<number>,
): Float32Array {
  const d = model.dimension;
  const out = Float32Array.from(ids);
  for (let i = 0; i < m; i++) {
    const distance = (pos: number) => {
      let s = 0;
      for (let j = (i * t + pos) * d; j < (i * t + pos + 1) * d; j++) s += (moved[j] - embedding[j]) ** 2;
      return s;
    };
    const positions = Array.from({ length: t }, (_, pos) => pos)
      .filter((pos) => !frozen.has(ids[i * t + pos]))
      .map((pos) => ({ pos, distance: distance(pos) }))
      .sort((a, b) => b.distance - a.distance);
    let changed = 0;
    for (const { pos } of positions) {
      if (changed >= budget) break;
      const k = i * t + pos;
      const token = nearestToken(model.table, d, moved.subarray(k * d, (k + 1) * d), frozen);
      if (token < 0 || token === ids[k]) continue;
      out[k] = token;
      changed++;
    }
  }
  return out;
}

function meanRowNorm(table: Float32Array, d: number): number {
  const rows = table.length / d;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = r * d; j < (r + 1) * d; j++) s += table[j] * table[j];
    total += Math.sqrt(s);
  }
  return total / rows;
}
