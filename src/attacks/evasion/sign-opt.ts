/**
 * Sign-OPT — Cheng, Singh, Chen, Chen, Liu & Hsieh, "Sign-OPT: A Query-Efficient Hard-label
 * Adversarial Attack", ICLR 2020. Needs only the model's decision. The attack searches a
 * direction θ that minimises g(θ), the distance from the original to the decision
 * boundary along θ (found by binary search). The gradient of g is estimated from signs
 * alone, one query each: x₀ + g(θ)·(θ + βu)/‖θ + βu‖ is adversarial exactly when g
 * decreases toward u, so ∇g ≈ −mean of sign·u over K Gaussian u. Steps along that estimate
 * are line-searched (α doubled while g improves, quartered when it does not, β cut tenfold
 * when α gets tiny), and a candidate's g is only searched when one query shows it beats the
 * current best. Starts: the best of 100 random Gaussian directions, or, when targeted, the
 * directions to batch samples that the model puts in the target class (the paper draws
 * them from the training set). Defaults from the paper: K = 200, α = 0.2, β = 0.001.
 * Deviation: query points are clipped to the valid input range, so a returned
 * perturbation can be shorter than g(θ).
 * `eps` > 0 stops a sample once its perturbation is that small (L2) and returns only
 * adversarial examples within eps.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { rowNorm } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface SignOptParams extends CommonParams {
  /** Random directions per sign-gradient estimate (1 query each). */
  k: number;
  /** Initial step size α of the line search. */
  alpha: number;
  /** Smoothing β of the directional probes. */
  beta: number;
  /** Random directions tried for an untargeted start. */
  numDirections: number;
  maxQueries: number;
  batchSize: number;
}

const LINE_SEARCH_TRIES = 15;
const MIN_ALPHA = 1e-4;
const MIN_BETA = 1e-8;

function check(p: SignOptParams): void {
  if (p.norm !== "2") throw new AegisError("BAD_OPTION", `sign-opt minimises the L2 distance; use norm 2, not ${p.norm}`);
  if (!(p.eps >= 0)) throw new AegisError("BAD_OPTION", `sign-opt needs eps ≥ 0 (0: no bound), got ${p.eps}`);
  if (!(p.alpha > 0) || !(p.beta > 0)) throw new AegisError("BAD_OPTION", "sign-opt needs alpha > 0 and beta > 0");
  for (const [key, v] of [
    ["k", p.k],
    ["numDirections", p.numDirections],
    ["maxQueries", p.maxQueries],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `sign-opt needs ${key} to be a whole number ≥ 1, got ${v}`);
}

/** Thrown inside a sample's search when its budget is spent or the run is interrupted. */
class Stop extends Error {}

/**
 * Gathers the queries of all samples' searches and answers them in one model call once
 * every search still running is waiting, so per-sample control flow stays sequential.
 */
class Oracle {
  private pending: { owner: number; rows: Float32Array; resolve: (adv: boolean[]) => void; reject: (e: unknown) => void }[] = [];
  private running: number;

  constructor(
    private readonly model: Predictor,
    private readonly shape: readonly number[],
    private readonly isAdv: (out: Tensor<"float32">, r: number, owner: number) => boolean,
    readonly queries: Int32Array,
    private readonly maxQueries: number,
    private readonly signal: AbortSignal | undefined,
    searches: number,
  ) {
    this.running = searches;
  }

  /** Whether each of `count` rows is adversarial for sample `owner`. */
  ask(owner: number, rows: Float32Array, count: number): Promise<boolean[]> {
    if (this.signal?.aborted || this.queries[owner] + count > this.maxQueries) return Promise.reject(new Stop());
    this.queries[owner] += count;
    const answer = new Promise<boolean[]>((resolve, reject) =>
      this.pending.push({ owner, rows: rows.subarray(0, count * sizeOf(this.shape)), resolve, reject }),
    );
    this.flushWhenAllWait();
    return answer;
  }

  leave(): void {
    this.running--;
    this.flushWhenAllWait();
  }

  private flushWhenAllWait(): void {
    if (this.pending.length === 0 || this.pending.length < this.running) return;
    const batch = this.pending;
    this.pending = [];
    const row = sizeOf(this.shape);
    const total = batch.reduce((s, b) => s + b.rows.length / row, 0);
    const all = new Float32Array(total * row);
    let offset = 0;
    for (const b of batch) {
      all.set(b.rows, offset);
      offset += b.rows.length;
    }
    this.model.predict(float32([total, ...this.shape], all)).then(
      (out) => {
        let r = 0;
        for (const b of batch) {
          const count = b.rows.length / row;
          b.resolve(Array.from({ length: count }, (_, j) => this.isAdv(out, r + j, b.owner)));
          r += count;
        }
      },
      (e) => {
        for (const b of batch) b.reject(e);
      },
    );
  }
}

async function run(model: Predictor, x: Tensor<"float32">, y: Labels, p: SignOptParams, ctx: AttackContext): Promise<AttackOutput> {
  check(p);
  const n = x.shape[0];
  const shape = x.shape.slice(1);
  const row = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, p.constraints);
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  const batch = Math.max(1, p.batchSize);
  let finished = 0;

  for (let start = 0; start < n && !ctx.signal?.aborted; start += batch) {
    const end = Math.min(n, start + batch);
    const m = end - start;
    const x0 = x.data.subarray(start * row, end * row);
    const labels = y.slice(start, end);
    // The batch's own decisions (one query each) give starting directions toward other classes.
    const own = await model.predict(float32([m, ...shape], Float32Array.from(x0)));
    for (let i = 0; i < m; i++) queries[start + i]++;
    const decided = labels.map((_, i) => argmaxRow(own, i));
    const oracle = new Oracle(
      model,
      shape,
      (out, r, owner) => isAdversarial(argmaxRow(out, r), labels[owner - start], p.targeted),
      queries,
      p.maxQueries,
      ctx.signal,
      m,
    );

    const attackOne = async (i: number): Promise<void> => {
      const origin = x0.subarray(i * row, (i + 1) * row);
      const owner = start + i;
      const best = { g: Infinity, theta: new Float32Array(row), point: new Float32Array(row) };
      const buffer = new Float32Array(Math.max(p.k, p.numDirections, 1) * row);
      // The query point x₀ + λ·θ̂ (θ̂ of unit norm), made valid.
      const place = (theta: Float32Array, lambda: number, out: Float32Array, o: number) => {
        for (let k = 0; k < row; k++) out[o + k] = movable[k] ? Math.min(hi, Math.max(lo, origin[k] + lambda * theta[k])) : origin[k];
        projectFeasible(out.subarray(o, o + row), origin, 0, row, p.constraints);
      };
      const probe = new Float32Array(row);
      const isAdvAt = async (theta: Float32Array, lambda: number) => {
        place(theta, lambda, probe, 0);
        return (await oracle.ask(owner, probe, 1))[0];
      };
      let beta = p.beta;
      // g(θ̂) by binary search on [lower, upper] (upper adversarial, lower not), to a relative
      // width of β/500 (far below the β-sized probes, whose signs it must not drown); records a new best.
      const search = async (theta: Float32Array, upper: number, lower = 0): Promise<number> => {
        let low = lower;
        let high = upper;
        while (high - low > (beta / 500) * high) {
          const mid = (low + high) / 2;
          if (await isAdvAt(theta, mid)) high = mid;
          else low = mid;
        }
        if (high < best.g) {
          best.g = high;
          best.theta.set(theta);
          place(theta, high, best.point, 0);
        }
        return high;
      };
      // g(θ̂) if it beats the best so far (one query tells), else Infinity. The boundary is
      // bracketed by steps below the best that double until one is no longer adversarial.
      const searchIfBetter = async (theta: Float32Array) => {
        if (!(await isAdvAt(theta, best.g))) return Infinity;
        let high = best.g;
        let gap = 0.01;
        let low = high * (1 - gap);
        while (low > 0 && (await isAdvAt(theta, low))) {
          high = low;
          gap = Math.min(0.5, 2 * gap);
          low = high * (1 - gap);
        }
        return search(theta, high, Math.max(0, low));
      };
      const unit = (v: Float32Array) => {
        for (let k = 0; k < row; k++) if (!movable[k]) v[k] = 0;
        const norm = rowNorm(v, 0, row, "2");
        if (norm > 0) for (let k = 0; k < row; k++) v[k] /= norm;
        return norm;
      };
      const done = () => p.eps > 0 && best.g < Infinity && distance(best.point, origin) <= p.eps;

      try {
        // A sample the model already gets "wrong" is its own answer, at distance 0.
        if (isAdversarial(decided[i], labels[i], p.targeted)) return;
        // Starting direction: batch samples of a fitting class, and random directions.
        const others = decided.flatMap((d, j) => (j !== i && isAdversarial(d, labels[i], p.targeted) ? [j] : []));
        const fromBatch = others.map((j) => {
          const theta = new Float32Array(row);
          for (let k = 0; k < row; k++) theta[k] = x0[j * row + k] - origin[k];
          return theta;
        });
        const random = Array.from({ length: p.numDirections }, () => Float32Array.from({ length: row }, () => ctx.rng.normal()));
        const candidates = p.targeted ? [...fromBatch, ...random] : [...random, ...fromBatch];
        const lengths = candidates.map(unit);
        for (let c0 = 0; c0 < candidates.length && best.g === Infinity; c0 += p.numDirections) {
          const group = candidates.slice(c0, c0 + p.numDirections);
          group.forEach((theta, a) => {
            place(theta, lengths[c0 + a], buffer, a * row);
          });
          const adv = await oracle.ask(owner, buffer, group.length);
          for (let a = 0; a < group.length; a++) {
            if (!adv[a]) continue;
            if (best.g === Infinity) await search(group[a], lengths[c0 + a]);
            else if (lengths[c0 + a] > 0) await searchIfBetter(group[a]);
          }
        }
        if (best.g === Infinity) return;

        let alpha = p.alpha;
        const theta = Float32Array.from(best.theta);
        const gradient = new Float32Array(row);
        const directions = new Float32Array(p.k * row);
        const candidate = new Float32Array(row);
        while (!done()) {
          // Sign of the directional derivative of g along each u, one query each.
          for (let q = 0; q < p.k; q++) {
            const u = directions.subarray(q * row, (q + 1) * row);
            for (let k = 0; k < row; k++) u[k] = ctx.rng.normal();
            unit(u);
            for (let k = 0; k < row; k++) candidate[k] = theta[k] + beta * u[k];
            unit(candidate);
            place(candidate, best.g, buffer, q * row);
          }
          const decreases = await oracle.ask(owner, buffer, p.k);
          gradient.fill(0);
          for (let q = 0; q < p.k; q++) {
            const sign = decreases[q] ? -1 : 1;
            for (let k = 0; k < row; k++) gradient[k] += (sign * directions[q * row + k]) / p.k;
          }
          const stepTo = (a: number) => {
            for (let k = 0; k < row; k++) candidate[k] = theta[k] - a * gradient[k];
            unit(candidate);
            return candidate;
          };
          const before = best.g;
          // Grow α while g improves; if the first step does not, shrink it until one does.
          for (let t = 0; t < LINE_SEARCH_TRIES; t++) {
            const g = await searchIfBetter(stepTo(alpha));
            if (g === Infinity) break;
            alpha *= 2;
          }
          for (let t = 0; t < LINE_SEARCH_TRIES && best.g === before; t++) {
            alpha *= 0.25;
            await searchIfBetter(stepTo(alpha));
          }
          theta.set(best.theta);
          if (alpha < MIN_ALPHA) {
            alpha = 1;
            beta *= 0.1;
            if (beta < MIN_BETA) break;
          }
        }
      } catch (e) {
        if (!(e instanceof Stop)) throw e;
      } finally {
        oracle.leave();
        if (best.g < Infinity && (p.eps === 0 || distance(best.point, origin) <= p.eps)) result.set(best.point, owner * row);
        ctx.onProgress?.(++finished, n);
      }
    };
    await Promise.all(labels.map((_, i) => attackOne(i)));
  }
  return { x: float32(x.shape, result), queries };
}

function distance(a: Float32Array, b: Float32Array): number {
  let sq = 0;
  for (let k = 0; k < a.length; k++) sq += (a[k] - b[k]) ** 2;
  return Math.sqrt(sq);
}

export const signOpt: Attack<SignOptParams, Predictor> = {
  name: "sign-opt",
  title: "Sign-OPT hard-label attack",
  paper: "Cheng, Singh, Chen, Chen, Liu & Hsieh 2020, Sign-OPT: A Query-Efficient Hard-label Adversarial Attack",
  needs: ["predict"],
  norms: ["2"],
  defaults: { eps: 0, norm: "2", targeted: false, k: 200, alpha: 0.2, beta: 0.001, numDirections: 100, maxQueries: 10_000, batchSize: 128 },
  help: {
    eps: "stop a sample once its L2 perturbation is this small, and keep only adversarials within it (0: minimise with no bound)",
    norm: "2 only",
    targeted: "end in the given target classes (starts toward batch samples of that class)",
    k: "random directions per sign-gradient estimate (1 query each)",
    alpha: "initial step size of the line search on the direction",
    beta: "smoothing of the directional probes",
    numDirections: "random directions tried for a starting point",
    maxQueries: "model queries allowed per sample (not from the paper)",
    batchSize: "samples attacked together (their queries share model calls)",
  },
  run,
};
