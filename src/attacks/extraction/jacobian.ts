/**
 * Jacobian-based dataset augmentation — Papernot, McDaniel, Goodfellow, Jha, Celik & Swami,
 * "Practical Black-Box Attacks against Machine Learning", AsiaCCS 2017 (Algorithm 1, with
 * §6's periodic step size and reservoir sampling). From a small seed set S₀ the attacker
 * trains a substitute F in rounds: label Sρ with the victim, train F on it, then grow
 * Sρ₊₁ = Sρ ∪ {x + λρ·sign(∇ₓ F(x)[O(x)]) : x ∈ Sρ}, stepping each point along the direction
 * in which the substitute's probability of the victim's label rises fastest — toward where
 * the substitute is least sure, near the victim's decision boundaries. λρ = λ·(−1)^⌊ρ/τ⌋
 * turns the steps around every τ rounds; from round σ on only κ points drawn from Sρ (the
 * reservoir) are stepped, so each round costs κ queries instead of doubling.
 * Defaults from the paper's MNIST setting: 150 seeds, λ = 0.1, τ = 3, σ = 3, κ = 400,
 * 10 epochs per round. Deviations: the rounds go on until the budget is spent (the paper
 * stops after ρ = 6), and the last round steps a random subset that fits the budget;
 * given probabilities, the substitute learns from them; `targets: "hard"` keeps the paper's
 * labels. F(x)[O(x)] is taken as the log-probability, whose gradient has the sign of the
 * probability's.
 */

import { argmaxRow } from "../../engine/trainer.js";
import { gatherRows, type Tensor } from "../../tensor.js";
import { createStolenModel, fitStolen } from "./stolen-model.js";
import { asTargets, queryRows, thiefData } from "./transfer-set.js";
import type { ExtractionAttack, TargetKind } from "./types.js";

export interface JacobianParams extends Record<string, unknown> {
  seeds: number;
  lambda: number;
  tau: number;
  sigma: number;
  kappa: number;
  targets: TargetKind;
  epochs: number;
  batchSize: number;
  learningRate: number;
}

export const jacobian: ExtractionAttack<JacobianParams> = {
  name: "jacobian",
  title: "Jacobian-based dataset augmentation",
  paper: "Papernot, McDaniel, Goodfellow, Jha, Celik & Swami 2017, Practical Black-Box Attacks against Machine Learning",
  data: "natural",
  outputs: ["probabilities", "top-k", "labels"],
  defaults: { seeds: 150, lambda: 0.1, tau: 3, sigma: 3, kappa: 400, targets: "soft", epochs: 10, batchSize: 64, learningRate: 1e-3 },
  help: {
    seeds: "size of the seed set S₀, the first rows of the thief data",
    lambda: "step λ of each augmentation",
    tau: "rounds after which the step turns around (periodic step size)",
    sigma: "round from which only a reservoir of κ points is stepped",
    kappa: "points stepped per round from round σ on",
    targets: "soft: learn from the answers as given; hard: from their top class only (the paper)",
    epochs: "substitute training epochs per round",
    batchSize: "samples per training step",
    learningRate: "Adam's learning rate",
  },
  async run(oracle, input, params, context) {
    const seedSet = thiefData(input, "jacobian");
    const [lo, hi] = oracle.clipRange;
    let x = gatherRows(
      seedSet,
      Array.from({ length: Math.min(params.seeds, seedSet.shape[0], oracle.remaining) }, (_, i) => i),
    );
    let answers = await queryRows(oracle, x);
    const substitute = await createStolenModel(oracle, input.stolen, params.batchSize);
    let round = 0;
    try {
      for (;;) {
        context.onStatus?.(`round ${round}: training the substitute on ${x.shape[0]} answers`);
        await fitStolen(substitute, x, asTargets(answers, params.targets), params, input.stolen.seed + round, context.signal);
        if (oracle.remaining === 0) break;
        await context.onCheckpoint?.(oracle.spent, substitute);
        const n = x.shape[0];
        const size = Math.min(round >= params.sigma ? params.kappa : n, n, oracle.remaining);
        const parents =
          round >= params.sigma || size < n
            ? context.rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, size)
            : Array.from({ length: n }, (_, i) => i);
        const base = gatherRows(x, parents);
        const labels = parents.map((r) => argmaxRow(answers, r));
        // −∇CE(x, y) = ∇ log p_y(x): the sign of the probability's Jacobian row.
        const grad = await substitute.lossGradient(base, labels);
        const step = params.lambda * (-1) ** Math.floor(round / params.tau);
        const children = Float32Array.from(base.data, (v, i) => Math.min(hi, Math.max(lo, v - step * Math.sign(grad.data[i]))));
        const childX: Tensor<"float32"> = { dtype: "float32", shape: base.shape, data: children };
        const childAnswers = await queryRows(oracle, childX);
        x = concatRows(x, childX);
        answers = concatRows(answers, childAnswers);
        round++;
      }
    } catch (e) {
      await substitute.release();
      throw e;
    }
    await context.onCheckpoint?.(oracle.spent, substitute);
    return { stolen: substitute, queries: oracle.spent, notes: [`${round} augmentation rounds from ${Math.min(params.seeds, seedSet.shape[0])} seeds`] };
  },
};

function concatRows(a: Tensor<"float32">, b: Tensor<"float32">): Tensor<"float32"> {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { dtype: "float32", shape: [a.shape[0] + b.shape[0], ...a.shape.slice(1)], data };
}
