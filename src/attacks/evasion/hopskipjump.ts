/**
 * HopSkipJumpAttack — Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient
 * Decision-Based Attack", IEEE S&P 2020. Uses only the model's decision (the argmax), so it
 * works on label-only endpoints. From an adversarial starting point it repeats: binary
 * search to the decision boundary, estimate the boundary's normal from the decisions at
 * random points around it (Monte-Carlo with a baseline), step along the estimate (its sign
 * for L∞) with a geometrically shrinking step size until the point is adversarial again.
 * The result is a minimum-norm adversarial example, not bounded by eps.
 * Defaults from the paper and its reference code: 100 gradient-estimation queries at
 * iteration 1, growing as 100·√t up to 10 000; step size ‖δ‖/√t halved until adversarial;
 * binary-search tolerance θ = γ/d^{3/2} (L2) or γ/d² (L∞) with γ = 1; probe radius
 * 0.1·(clip range) first, then √d·θ·‖δ‖ (L2) or d·θ·‖δ‖ (L∞); 40 iterations as the reference
 * code, and a 20 000-query budget that lets those 40 iterations finish on MNIST-sized inputs
 * (Σ 100·√t for t ≤ 40 is about 17 000, plus the searches). Untargeted samples start from
 * uniform noise that the model misclassifies (initSize draws at most, as ART); a targeted
 * sample starts from the nearest input of the batch the model assigns to its target class,
 * else from such noise.
 * Deviations: the clean input is queried first (one counted query; already-fooled samples
 * are left as they are); the start is binary-searched with θ directly (the reference first
 * runs a coarser search); the best iterate is returned rather than the last; eps > 0 stops a
 * sample early once its perturbation is that small.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { rowNorm } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface HopSkipJumpParams extends CommonParams {
  maxIter: number;
  /** Query budget per sample, the clean query included. */
  maxQueries: number;
  /** Gradient-estimation queries at the first iteration; t-th iteration uses initEval·√t. */
  initEval: number;
  /** Cap on gradient-estimation queries per iteration. */
  maxEval: number;
  /** Random noise draws tried to find an adversarial start. */
  initSize: number;
  /** Scales the binary-search tolerance θ. */
  gamma: number;
  batchSize: number;
}

export const hopskipjump: Attack<HopSkipJumpParams, Predictor> = {
  name: "hopskipjump",
  title: "HopSkipJumpAttack",
  paper: "Chen, Jordan & Wainwright 2020, HopSkipJumpAttack: A Query-Efficient Decision-Based Attack",
  needs: ["predict"],
  norms: ["2", "inf"],
  defaults: { eps: 0, norm: "2", targeted: false, maxIter: 40, maxQueries: 20000, initEval: 100, maxEval: 10000, initSize: 100, gamma: 1, batchSize: 32 },
  help: {
    eps: "stop refining a sample once its perturbation is this small (0: spend the whole budget); results are not clipped to eps",
    norm: "2 or inf",
    targeted: "reach the given target classes (starting from an input of that class when the batch has one)",
    maxIter: "iterations of estimate–step–binary search (the reference code: 40)",
    maxQueries: "queries per sample, the clean one included",
    initEval: "gradient-estimation queries at the first iteration, growing as √t (the paper: 100)",
    maxEval: "cap on gradient-estimation queries per iteration (the paper: 10000)",
    initSize: "random noise draws tried to find an adversarial start",
    gamma: "binary-search tolerance θ = γ/d^(3/2) for L2, γ/d² for L∞ (the paper: 1)",
    batchSize: "samples attacked together; their queries share model calls",
  },
  run: hopSkipJumpAttack,
};

/** Rows per model call: bounds memory when many samples each ask for thousands of probes. */
const MAX_ROWS = 4096;

function checkParams(p: HopSkipJumpParams): void {
  if (p.norm !== "2" && p.norm !== "inf") throw new AegisError("BAD_OPTION", `HopSkipJump supports norm "2" or "inf", not "${p.norm}"`);
  if (!(p.eps >= 0)) throw new AegisError("BAD_OPTION", `eps must be 0 (no early stop) or positive, got ${p.eps}`);
  if (!(p.gamma > 0)) throw new AegisError("BAD_OPTION", `gamma must be positive, got ${p.gamma}`);
  for (const [name, v] of [
    ["maxIter", p.maxIter],
    ["maxQueries", p.maxQueries],
    ["initEval", p.initEval],
    ["maxEval", p.maxEval],
    ["initSize", p.initSize],
    ["batchSize", p.batchSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `${name} must be a positive integer, got ${v}`);
  }
}

async function hopSkipJumpAttack(model: Predictor, x: Tensor<"float32">, y: Labels, p: HopSkipJumpParams, ctx: AttackContext): Promise<AttackOutput> {
  checkParams(p);
  const shape = x.shape.slice(1);
  const n = x.shape[0];
  const d = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const rng = ctx.rng;
  const xs = x.data;
  const result = Float32Array.from(xs);
  const queries = new Int32Array(n);
  const theta = p.norm === "2" ? p.gamma / (d * Math.sqrt(d)) : p.gamma / (d * d);
  // Binary-search queries to reach θ (the search interval over θ, halved each query), plus one step.
  const reserve = Math.ceil(Math.log2(1 / theta)) + 1;
  const clip = (v: number) => Math.min(hi, Math.max(lo, v));
  const distance = (a: Float32Array, at: number, i: number): number => {
    let s = 0;
    for (let k = 0; k < d; k++) {
      const v = Math.abs(a[at + k] - xs[i * d + k]);
      s = p.norm === "2" ? s + v * v : Math.max(s, v);
    }
    return p.norm === "2" ? Math.sqrt(s) : s;
  };
  const adversarial = (out: Tensor<"float32">, r: number, i: number) => isAdversarial(argmaxRow(out, r), y[i], p.targeted);

  /** Projects the row of `points` at `at` onto the constraints around sample i. */
  const feasible = (points: Float32Array, at: number, i: number) =>
    projectFeasible(points.subarray(at, at + d), xs.subarray(i * d, (i + 1) * d), 0, d, p.constraints);
  /** The decision on the rows of `points`, row r charged to sample owners[r] (each projected onto the constraints first). */
  const decide = async (points: Float32Array, owners: readonly number[]): Promise<boolean[]> => {
    const verdicts: boolean[] = [];
    for (let from = 0; from < owners.length; from += MAX_ROWS) {
      const to = Math.min(owners.length, from + MAX_ROWS);
      for (let r = from; r < to; r++) feasible(points, r * d, owners[r]);
      const out = await model.predict(float32([to - from, ...shape], points.subarray(from * d, to * d)));
      for (let r = from; r < to; r++) {
        queries[owners[r]]++;
        verdicts.push(adversarial(out, r - from, owners[r]));
      }
    }
    return verdicts;
  };
  const hasBudget = (i: number) => queries[i] < p.maxQueries;

  const cleanOut = await model.predict(x);
  const cleanLabel: number[] = [];
  for (let i = 0; i < n; i++) {
    queries[i]++;
    cleanLabel.push(argmaxRow(cleanOut, i));
  }
  let finished = 0;

  for (let start = 0; start < n; start += p.batchSize) {
    if (ctx.signal?.aborted) break;
    const end = Math.min(n, start + p.batchSize);
    const m = end - start;
    const local = (i: number) => (i - start) * d;
    /** Current boundary point and best adversarial example of each sample, with their distances. */
    const current = new Float32Array(m * d);
    const best = new Float32Array(m * d);
    const currentDist = new Float64Array(m).fill(Infinity);
    const bestDist = new Float64Array(m).fill(Infinity);
    /** Adversarial points the binary search starts from. */
    const endpoint = new Float32Array(m * d);

    let active: number[] = [];
    for (let i = start; i < end; i++) {
      if (adversarial(cleanOut, i, i)) finished++;
      else active.push(i);
    }
    ctx.onProgress?.(finished, n);

    /** Binary search between each sample's endpoint and its input; the adversarial side becomes `current`. */
    const toBoundary = async (ids: readonly number[]) => {
      const low = new Float64Array(ids.length);
      const high = new Float64Array(ids.length);
      const tolerance = new Float64Array(ids.length);
      ids.forEach((i, s) => {
        high[s] = p.norm === "2" ? 1 : distance(endpoint, local(i), i);
        tolerance[s] = p.norm === "2" ? theta : Math.min(high[s] * theta, theta);
      });
      const blend = (i: number, alpha: number, out: Float32Array, at: number) => {
        const e = local(i);
        for (let k = 0; k < d; k++) {
          const o = xs[i * d + k];
          out[at + k] = p.norm === "2" ? (1 - alpha) * o + alpha * endpoint[e + k] : Math.min(o + alpha, Math.max(o - alpha, endpoint[e + k]));
        }
      };
      for (;;) {
        const pending = ids.map((_, s) => s).filter((s) => high[s] - low[s] > tolerance[s] && hasBudget(ids[s]));
        if (pending.length === 0) break;
        const points = new Float32Array(pending.length * d);
        const mid = pending.map((s) => (low[s] + high[s]) / 2);
        pending.forEach((s, r) => {
          blend(ids[s], mid[r], points, r * d);
        });
        const verdicts = await decide(
          points,
          pending.map((s) => ids[s]),
        );
        pending.forEach((s, r) => {
          if (verdicts[r]) high[s] = mid[r];
          else low[s] = mid[r];
        });
      }
      ids.forEach((i, s) => {
        blend(i, high[s], current, local(i));
        feasible(current, local(i), i);
        currentDist[i - start] = distance(current, local(i), i);
        if (currentDist[i - start] < bestDist[i - start]) {
          bestDist[i - start] = currentDist[i - start];
          best.set(current.subarray(local(i), local(i) + d), local(i));
        }
      });
    };

    // Starting points: an input of the target class, else random noise the model gets wrong.
    const needNoise: number[] = [];
    const started: number[] = [];
    for (const i of active) {
      let nearest = -1;
      let nearestDist = Infinity;
      if (p.targeted) {
        for (let j = 0; j < n; j++) {
          if (j === i || cleanLabel[j] !== y[i]) continue;
          const dj = distance(xs, j * d, i);
          if (dj < nearestDist) {
            nearest = j;
            nearestDist = dj;
          }
        }
      }
      if (nearest >= 0) {
        endpoint.set(xs.subarray(nearest * d, (nearest + 1) * d), local(i));
        started.push(i);
      } else needNoise.push(i);
    }
    let searching = needNoise;
    for (let draw = 0; draw < p.initSize && searching.length > 0 && !ctx.signal?.aborted; draw++) {
      searching = searching.filter((i) => hasBudget(i));
      const points = new Float32Array(searching.length * d);
      for (let k = 0; k < points.length; k++) points[k] = lo + (hi - lo) * rng.next();
      const verdicts = await decide(points, searching);
      const still: number[] = [];
      searching.forEach((i, r) => {
        if (verdicts[r]) {
          endpoint.set(points.subarray(r * d, (r + 1) * d), local(i));
          started.push(i);
        } else still.push(i);
      });
      searching = still;
    }
    // Samples with no adversarial start stay at their input.
    finished += active.length - started.length;
    active = started.sort((a, b) => a - b);
    if (!ctx.signal?.aborted) await toBoundary(active);

    const grad = new Float64Array(d);
    const update = new Float32Array(m * d);
    const probe = new Float32Array(MAX_ROWS * d);
    for (let t = 1; t <= p.maxIter && active.length > 0; t++) {
      if (ctx.signal?.aborted) break;
      const evals = Math.min(Math.floor(p.initEval * Math.sqrt(t)), p.maxEval);
      const still: number[] = [];
      const plan: { i: number; evals: number; radius: number }[] = [];
      for (const i of active) {
        const left = p.maxQueries - queries[i] - reserve;
        const done = (p.eps > 0 && currentDist[i - start] <= p.eps) || left < 1;
        if (done) {
          finished++;
          continue;
        }
        still.push(i);
        // The first probe radius is relative to the input range; later ones shrink with the distance.
        const radius = t === 1 ? 0.1 * (hi - lo) : (p.norm === "2" ? Math.sqrt(d) : d) * theta * currentDist[i - start];
        plan.push({ i, evals: Math.min(evals, left), radius });
      }
      active = still;
      ctx.onProgress?.(finished, n);
      if (active.length === 0) break;

      // Monte-Carlo estimate of the boundary normal. Probes of all samples share model calls
      // through one fixed-size buffer; Σ u and Σ f·u suffice for the baseline-corrected mean
      // of (f − mean f)·u, so the probes need not be kept.
      const sumU = new Float64Array(plan.length * d);
      const sumFU = new Float64Array(plan.length * d);
      const positives = new Int32Array(plan.length);
      const owners: number[] = [];
      const slots: number[] = [];
      const flush = async () => {
        const verdicts = await decide(probe.subarray(0, owners.length * d), owners);
        slots.forEach((s, r) => {
          const { i, radius } = plan[s];
          const c = local(i);
          const f = verdicts[r] ? 1 : -1;
          if (verdicts[r]) positives[s]++;
          for (let k = 0; k < d; k++) {
            const u = (probe[r * d + k] - current[c + k]) / radius;
            sumU[s * d + k] += u;
            sumFU[s * d + k] += f * u;
          }
        });
        owners.length = 0;
        slots.length = 0;
      };
      for (let s = 0; s < plan.length; s++) {
        const { i, evals: count, radius } = plan[s];
        const c = local(i);
        for (let e = 0; e < count; e++) {
          const at = owners.length * d;
          for (let k = 0; k < d; k++) probe[at + k] = p.norm === "2" ? rng.normal() : 2 * rng.next() - 1;
          const norm = rowNorm(probe, at, at + d, "2") || 1;
          for (let k = 0; k < d; k++) probe[at + k] = clip(current[c + k] + (radius * probe[at + k]) / norm);
          owners.push(i);
          slots.push(s);
          if (owners.length === MAX_ROWS) await flush();
        }
      }
      if (owners.length > 0) await flush();
      plan.forEach(({ i, evals: count }, s) => {
        const c = local(i);
        // All probes on one side: the mean direction alone (toward it if adversarial, away if not).
        const meanF = (2 * positives[s] - count) / count;
        let norm = 0;
        for (let k = 0; k < d; k++) {
          const u = sumU[s * d + k];
          const g = positives[s] === count ? u : positives[s] === 0 ? -u : sumFU[s * d + k] - meanF * u;
          grad[k] = g;
          norm += g * g;
        }
        norm = Math.sqrt(norm) || 1;
        for (let k = 0; k < d; k++) update[c + k] = p.norm === "2" ? grad[k] / norm : Math.sign(grad[k]);
      });

      // Geometric step search: ‖δ‖/√t, halved until the step lands on the adversarial side.
      const stepSize = new Map(active.map((i) => [i, currentDist[i - start] / Math.sqrt(t)]));
      let searching = [...active];
      const moved: number[] = [];
      while (searching.length > 0) {
        searching = searching.filter((i) => hasBudget(i));
        const points = new Float32Array(searching.length * d);
        searching.forEach((i, r) => {
          const c = local(i);
          const eps = stepSize.get(i) as number;
          for (let k = 0; k < d; k++) points[r * d + k] = clip(current[c + k] + eps * update[c + k]);
        });
        const verdicts = await decide(points, searching);
        const again: number[] = [];
        searching.forEach((i, r) => {
          if (verdicts[r]) {
            endpoint.set(points.subarray(r * d, (r + 1) * d), local(i));
            moved.push(i);
          } else {
            stepSize.set(i, (stepSize.get(i) as number) / 2);
            again.push(i);
          }
        });
        searching = again;
      }
      await toBoundary(moved.sort((a, b) => a - b));
    }
    for (let i = start; i < end; i++) if (bestDist[i - start] < Infinity) result.set(best.subarray(local(i), local(i) + d), i * d);
    finished += active.length;
    ctx.onProgress?.(finished, n);
  }
  return { x: float32(x.shape, result), queries };
}
