/**
 * Knockoff Nets — Orekondy, Schiele & Fritz, "Knockoff Nets: Stealing Functionality of
 * Black-Box Models", CVPR 2019. The attacker queries natural images (of any distribution)
 * and trains a knockoff on the answers. Two ways of choosing the images:
 * - random: uniformly from the attacker's pool, without replacement;
 * - adaptive: a gradient-bandit policy (Sutton & Barto 2018, §2.8) over "actions", the
 *   categories of the attacker's own images, learns which categories pay: at step t it draws
 *   an action from π = softmax(H), an unused image of it, queries it, and receives a reward:
 *   certainty (top-1 minus top-2 probability of the answer), diversity (Σₖ max(0, yₖ − ȳₖ),
 *   ȳ the mean of the last Δ answers), loss (the cross-entropy of the current knockoff
 *   against the answer), or all three, each standardised by its running mean and
 *   deviation; then H(a) += α(r − r̄)(1 − π(a)) and H(b) −= α(r − r̄)π(b) for b ≠ a, r̄ the
 *   mean reward so far. The knockoff used by the loss reward takes one Adam step per batch
 *   of answers; the final knockoff is trained afresh on all of them.
 * Guards ART's implementation lacks: the softmax is shifted by its maximum (exp(H) there
 *   overflows once H grows), a reward whose variance is still 0 (every answer one-hot, as a
 *   label-only API gives) standardises to 0 instead of dividing by zero, and the loss
 *   reward reads the knockoff's log-probabilities from its logits instead of
 *   exponentiating probabilities twice and taking log 0.
 * Actions: the thief data's own labels when given; otherwise k-means clusters of the
 *   images (k = 10, Lloyd's algorithm from a k-means++ start), as an attacker with
 *   unlabelled data would make. An exhausted action is dropped from the policy.
 * Defaults: soft targets (the paper trains on the posteriors), α = 0.1 and Δ = 25 (the paper
 *   does not give them), 16 queries per policy batch, reward "all"; the knockoff trained as
 *   Copycat's copy is (the paper: SGD for 100 epochs on ImageNet-scale transfer sets).
 */
import type { Rng } from "../../data/random.js";
import { adam, crossEntropy, type Labels, trainingStep } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { kMeans } from "../../linalg.js";
import { gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import type { QueryOracle } from "./oracle.js";
import { checkSchedule, createStolenModel, type LearningRateDecay } from "./stolen-model.js";
import { asTargets, queryRows, thiefData, trainOnTransferSet } from "./transfer-set.js";
import type { ExtractionAttack, ExtractionContext, ExtractionInput, TargetKind } from "./types.js";

export type KnockoffReward = "certainty" | "diversity" | "loss" | "all";

export interface KnockoffParams extends Record<string, unknown> {
  sampling: "random" | "adaptive";
  reward: KnockoffReward;
  /** Gradient-bandit step α. */
  banditStep: number;
  /** Answers averaged for the diversity reward. */
  diversityWindow: number;
  /** Queries drawn per policy step (adaptive). */
  policyBatch: number;
  /** Clusters made when the thief data has no labels (adaptive). */
  clusters: number;
  targets: TargetKind;
  epochs: number;
  batchSize: number;
  learningRate: number;
  decay: LearningRateDecay;
  temperature: number;
  shift: number;
}

export const knockoff: ExtractionAttack<KnockoffParams> = {
  name: "knockoff",
  title: "Knockoff Nets",
  paper: "Orekondy, Schiele & Fritz 2019, Knockoff Nets: Stealing Functionality of Black-Box Models",
  data: "natural",
  outputs: ["probabilities", "top-k", "labels"],
  defaults: {
    sampling: "random",
    reward: "all",
    banditStep: 0.1,
    diversityWindow: 25,
    policyBatch: 16,
    clusters: 10,
    targets: "soft",
    epochs: 20,
    batchSize: 32,
    learningRate: 1e-3,
    decay: "cosine",
    temperature: 2,
    shift: 0,
  },
  help: {
    sampling: "random: uniform over the thief data; adaptive: a gradient-bandit policy over its categories",
    reward: "adaptive reward: certainty, diversity, loss or all",
    banditStep: "adaptive: the gradient bandit's step α",
    diversityWindow: "adaptive: answers averaged by the diversity reward",
    policyBatch: "adaptive: queries per policy step",
    clusters: "adaptive: k-means clusters used as actions when the thief data has no labels",
    targets: "soft: learn from the answers as given; hard: from their top class only",
    epochs: "training epochs over the transfer set",
    batchSize: "samples per training step",
    learningRate: "Adam's learning rate",
    decay: "cosine: the learning rate annealed towards 0 over the epochs (Loshchilov & Hutter 2017); none: constant",
    temperature: "distillation temperature: answers and copy softened to softmax(z/T) in training (Hinton et al. 2015); 1 learns the answers as given",
    shift: "share of each batch's images shifted by a pixel in training, with the answer for the unshifted image (no extra query)",
  },
  async run(oracle, input, params, context) {
    checkSchedule(params, oracle.inputShape);
    const thief = thiefData(input, "knockoff");
    if (params.sampling !== "random" && params.sampling !== "adaptive") {
      throw new AegisError("BAD_OPTION", `knockoff's sampling is random or adaptive, not "${params.sampling}"`);
    }
    const n = Math.min(oracle.remaining, thief.shape[0]);
    let rows: number[];
    let notes: string[];
    let answers: Tensor<"float32">;
    if (params.sampling === "random") {
      rows = context.rng.shuffle(Array.from({ length: thief.shape[0] }, (_, i) => i)).slice(0, n);
      context.onStatus?.(`labelling ${n} randomly drawn thief samples`);
      answers = await queryRows(oracle, gatherRows(thief, rows));
      notes = [];
    } else {
      ({ rows, answers, notes } = await adaptiveSampling(oracle, input, thief, n, params, context));
    }
    const x = gatherRows(thief, rows);
    const stolen = await trainOnTransferSet(oracle, input, params, { x, targets: asTargets(answers, params.targets) }, context);
    if (n < oracle.budget) notes.push(`the thief data held ${thief.shape[0]} samples, fewer than the budget of ${oracle.budget}`);
    return { stolen, queries: oracle.spent, notes };
  },
};

/** The gradient-bandit loop: which rows it queried, in order, and the answers. */
async function adaptiveSampling(
  oracle: QueryOracle,
  input: ExtractionInput,
  thief: Tensor<"float32">,
  n: number,
  params: KnockoffParams,
  context: ExtractionContext,
): Promise<{ rows: number[]; answers: Tensor<"float32">; notes: string[] }> {
  const { rng } = context;
  if (!input.thiefLabels) context.onStatus?.(`clustering the thief data into ${params.clusters} actions`);
  const actionOf = input.thiefLabels ?? thiefClusters(thief, params.clusters, rng);
  if (actionOf.length !== thief.shape[0]) {
    throw new AegisError("SHAPE_MISMATCH", `the thief data has ${thief.shape[0]} samples but ${actionOf.length} labels; give one label per sample`);
  }
  const actions = Math.max(...actionOf) + 1;
  const pools: number[][] = Array.from({ length: actions }, () => []);
  actionOf.forEach((a, i) => {
    pools[a].push(i);
  });
  for (const pool of pools) rng.shuffle(pool);

  const k = oracle.numClasses;
  const policy = new GradientBandit(actions, params.banditStep);
  for (let a = 0; a < actions; a++) if (pools[a].length === 0) policy.drop(a);
  const rewards = new RewardScale(params.reward);
  const recent: Float32Array[] = [];
  const online = await createStolenModel(oracle, input.stolen, params.policyBatch);
  const optimizer = adam({ lr: params.learningRate });
  const rows: number[] = [];
  const answers = new Float32Array(n * k);
  try {
    context.onStatus?.(`adaptive sampling over ${actions} actions`);
    while (rows.length < n) {
      const m = Math.min(params.policyBatch, n - rows.length);
      const chosen: number[] = [];
      const batch: number[] = [];
      for (let i = 0; i < m; i++) {
        const a = policy.sample(rng);
        chosen.push(a);
        batch.push(pools[a].pop() as number);
        if (pools[a].length === 0) policy.drop(a);
      }
      const x = gatherRows(thief, batch);
      const y = await oracle.query(x);
      const logits = (await online.predict(x)).data;
      for (let i = 0; i < m; i++) {
        const answer = y.data.subarray(i * k, (i + 1) * k);
        const diversity = diversityOf(answer, recent, params.diversityWindow);
        const raw = { certainty: certaintyOf(answer), diversity, loss: softCrossEntropy(answer, logits.subarray(i * k, (i + 1) * k)) };
        policy.update(chosen[i], rewards.combine(raw));
      }
      answers.set(y.data, rows.length * k);
      rows.push(...batch);
      // One step of the online knockoff, so the loss reward follows what it already knows.
      await trainingStep(online, { x, targets: asTargets(y, params.targets), weights: new Float32Array(m).fill(1 / m) }, optimizer, crossEntropy, 0);
    }
  } finally {
    await online.release();
  }
  const favourite = policy.probabilities().reduce((best, p, a, all) => (p > all[best] ? a : best), 0);
  return {
    rows,
    answers: { dtype: "float32", shape: [n, k], data: answers },
    notes: [`adaptive policy over ${actions} actions ended favouring action ${favourite} (π ${policy.probabilities()[favourite].toFixed(2)})`],
  };
}

/** The gradient bandit's preferences H, with a softmax policy over the actions still available. */
class GradientBandit {
  private readonly h: Float64Array;
  private readonly live: boolean[];
  private meanReward = 0;
  private steps = 0;

  constructor(
    actions: number,
    private readonly step: number,
  ) {
    this.h = new Float64Array(actions);
    this.live = new Array<boolean>(actions).fill(true);
  }

  drop(action: number): void {
    this.live[action] = false;
  }

  /** softmax(H) over live actions, shifted by the largest H so that exp never overflows. */
  probabilities(): number[] {
    let max = Number.NEGATIVE_INFINITY;
    this.h.forEach((v, a) => {
      if (this.live[a]) max = Math.max(max, v);
    });
    const e = Array.from(this.h, (v, a) => (this.live[a] ? Math.exp(v - max) : 0));
    const sum = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / sum);
  }

  sample(rng: Rng): number {
    const p = this.probabilities();
    let u = rng.next();
    let last = 0;
    for (let a = 0; a < p.length; a++) {
      if (p[a] === 0) continue;
      last = a;
      u -= p[a];
      if (u < 0) return a;
    }
    return last;
  }

  update(action: number, reward: number): void {
    const p = this.probabilities();
    this.steps++;
    this.meanReward += (reward - this.meanReward) / this.steps;
    const advantage = reward - this.meanReward;
    for (let a = 0; a < p.length; a++) {
      if (this.live[a]) this.h[a] += this.step * advantage * ((a === action ? 1 : 0) - p[a]);
    }
  }
}

/** The rewards standardised by their running mean and deviation (Welford), summed for "all". */
class RewardScale {
  private readonly stats = new Map<string, { n: number; mean: number; m2: number }>();
  constructor(private readonly kind: KnockoffReward) {}

  combine(raw: Record<Exclude<KnockoffReward, "all">, number>): number {
    if (this.kind !== "all") return raw[this.kind];
    let sum = 0;
    for (const [name, value] of Object.entries(raw)) sum += this.standardise(name, value);
    return sum;
  }

  private standardise(name: string, value: number): number {
    const s = this.stats.get(name) ?? { n: 0, mean: 0, m2: 0 };
    this.stats.set(name, s);
    s.n++;
    const delta = value - s.mean;
    s.mean += delta / s.n;
    s.m2 += delta * (value - s.mean);
    const std = Math.sqrt(s.m2 / s.n);
    // A reward that has not varied yet says nothing about which action is better.
    return std > 1e-12 ? (value - s.mean) / std : 0;
  }
}

function certaintyOf(answer: Float32Array): number {
  let first = 0;
  let second = 0;
  for (const v of answer) {
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) second = v;
  }
  return first - second;
}

/** Σₖ max(0, yₖ − ȳₖ) against the mean of the last `window` answers; the answer then joins them. */
function diversityOf(answer: Float32Array, recent: Float32Array[], window: number): number {
  let reward = 0;
  if (recent.length > 0) {
    for (let j = 0; j < answer.length; j++) {
      let mean = 0;
      for (const r of recent) mean += r[j];
      reward += Math.max(0, answer[j] - mean / recent.length);
    }
  }
  recent.push(Float32Array.from(answer));
  if (recent.length > window) recent.shift();
  return reward;
}

/** −Σ yₖ log softmax(z)ₖ, the log-softmax shifted by the largest logit. */
function softCrossEntropy(answer: Float32Array, logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const z of logits) max = Math.max(max, z);
  let sum = 0;
  for (const z of logits) sum += Math.exp(z - max);
  const logNormaliser = max + Math.log(sum);
  let loss = 0;
  for (let j = 0; j < answer.length; j++) if (answer[j] > 0) loss -= answer[j] * (logits[j] - logNormaliser);
  return loss;
}

/** Knockoff's actions for unlabelled thief data: 10 Lloyd steps of k-means from a k-means++ start, a cluster per sample. */
export function thiefClusters(x: Tensor<"float32">, k: number, rng: Rng): Labels {
  if (!Number.isInteger(k) || k < 1) throw new AegisError("BAD_OPTION", `the number of clusters must be a positive integer, got ${k}`);
  const n = x.shape[0];
  const { assignment } = kMeans(Float64Array.from(x.data), n, sizeOf(x.shape.slice(1)), Math.min(k, n), rng, { restarts: 1, iterations: 10 });
  return Array.from(assignment);
}
