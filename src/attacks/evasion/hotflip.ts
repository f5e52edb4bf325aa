/**
 * HotFlip — Ebrahimi, Rao, Lowd & Dou, "HotFlip: White-Box Adversarial Examples for Text
 * Classification", ACL 2018. Token substitution guided by the gradient with respect to the
 * embedding: replacing token a by token b at position i changes the loss by about
 * (e_b − e_a)·∂L/∂e_i, so one gradient scores every (position, token) flip at once. As the
 * paper's word-level attack, flips are applied one at a time, each position at most once,
 * until the model is fooled or ε tokens have changed.
 * Deviation: instead of the paper's beam search, each step takes the `candidates` best
 * flips by that estimate and keeps the one whose real loss (one batched forward pass) is
 * highest, a one-step look-ahead that corrects the estimate where it is poor. Token ids in
 * `frozenTokens` (default 0, padding in most vocabularies) are neither replaced nor put in.
 */
import type { EmbeddingGradient, Labels } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sliceRows } from "../../tensor.js";
import { isAdversarial } from "../metrics.js";
import { frozenSet, TOKEN_HELP, type TokenParams, tokenBudget } from "../tokens.js";
import type { Attack, CommonParams } from "../types.js";

export interface HotflipParams extends CommonParams, TokenParams {
  /** Flips per step whose real loss is measured. */
  candidates: number;
  batchSize: number;
}

export const hotflip: Attack<HotflipParams, EmbeddingGradient> = {
  name: "hotflip",
  title: "HotFlip token substitution",
  paper: "Ebrahimi, Rao, Lowd & Dou 2018, HotFlip: White-Box Adversarial Examples for Text Classification",
  needs: ["predictTokens", "embeddingGradient"],
  norms: ["0"],
  defaults: { eps: 3, norm: "0", targeted: false, candidates: 10, frozenTokens: [0], batchSize: 32 },
  help: {
    ...TOKEN_HELP,
    candidates: "best flips by the gradient estimate whose real loss is measured per step (1: the estimate alone)",
  },
  async run(model, x, y, p, ctx) {
    const budget = tokenBudget("hotflip", p.eps);
    if (!Number.isInteger(p.candidates) || p.candidates < 1) throw new AegisError("BAD_OPTION", "hotflip: candidates must be a positive integer");
    const frozen = frozenSet(p.frozenTokens, model.vocabulary);
    const [n, t] = x.shape;
    const result = Float32Array.from(x.data);
    for (let start = 0; start < n && !ctx.signal?.aborted; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      const labels = y.slice(start, end);
      const ids = Float32Array.from(sliceRows(x, start, end).data);
      await flipBatch(model, ids, t, labels, { ...p, budget, frozen }, ctx.signal);
      result.set(ids, start * t);
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};

interface Flip {
  position: number;
  token: number;
  estimate: number;
}

/** Greedy flips on a batch of id rows (changed in place) until each is fooled or out of budget. */
async function flipBatch(
  model: EmbeddingGradient,
  ids: Float32Array,
  t: number,
  labels: Labels,
  p: { targeted: boolean; candidates: number; budget: number; frozen: Set<number> },
  signal: AbortSignal | undefined,
): Promise<void> {
  const m = labels.length;
  const d = model.dimension;
  const original = Float32Array.from(ids);
  const done = new Array<boolean>(m).fill(false);
  const sign = p.targeted ? -1 : 1;
  for (let step = 0; step < p.budget && !signal?.aborted; step++) {
    const current = float32([m, t], ids);
    const { output, grad } = await model.embeddingGradient(current, model.embed(current), labels);
    // Candidate rows: for each active sample, its best flips by the first-order estimate.
    const trials: { sample: number; flip: Flip }[] = [];
    for (let i = 0; i < m; i++) {
      if (done[i] || isAdversarial(argmaxRow(output, i), labels[i], p.targeted)) {
        done[i] = true;
        continue;
      }
      for (const flip of bestFlips(model, ids, original, grad.data, i, t, d, sign, p)) trials.push({ sample: i, flip });
    }
    if (trials.length === 0) break;
    const rows = new Float32Array(trials.length * t);
    trials.forEach(({ sample, flip }, r) => {
      rows.set(ids.subarray(sample * t, (sample + 1) * t), r * t);
      rows[r * t + flip.position] = flip.token;
    });
    const scored = await model.embeddingGradient(
      float32([trials.length, t], rows),
      model.embed(float32([trials.length, t], rows)),
      trials.map((c) => labels[c.sample]),
    );
    // Per sample, the trial with the highest real objective (a fooling one first).
    const chosen = new Map<number, { row: number; value: number }>();
    trials.forEach(({ sample }, r) => {
      const fools = isAdversarial(argmaxRow(scored.output, r), labels[sample], p.targeted);
      const value = (fools ? 1e30 : 0) + sign * scored.loss[r];
      const best = chosen.get(sample);
      if (!best || value > best.value) chosen.set(sample, { row: r, value });
    });
    for (const [sample, { row }] of chosen) {
      const { position, token } = trials[row].flip;
      ids[sample * t + position] = token;
    }
  }
}

/** The `candidates` flips of row i with the largest estimated objective gain, over unchanged, unfrozen positions. */
function bestFlips(
  model: EmbeddingGradient,
  ids: Float32Array,
  original: Float32Array,
  grad: Float32Array,
  i: number,
  t: number,
  d: number,
  sign: number,
  p: { candidates: number; frozen: Set<number> },
): Flip[] {
  const table = model.table;
  const best: Flip[] = [];
  for (let pos = 0; pos < t; pos++) {
    const current = ids[i * t + pos];
    if (current !== original[i * t + pos] || p.frozen.has(current)) continue;
    const g = grad.subarray((i * t + pos) * d, (i * t + pos + 1) * d);
    let base = 0;
    for (let j = 0; j < d; j++) base += g[j] * table[current * d + j];
    for (let token = 0; token < model.vocabulary; token++) {
      if (token === current || p.frozen.has(token)) continue;
      let dot = 0;
      for (let j = 0, o = token * d; j < d; j++, o++) dot += g[j] * table[o];
      const estimate = sign * (dot - base);
      if (best.length < p.candidates || estimate > best[best.length - 1].estimate) {
        best.push({ position: pos, token, estimate });
        best.sort((a, b) => b.estimate - a.estimate);
        if (best.length > p.candidates) best.pop();
      }
    }
  }
  return best;
}
