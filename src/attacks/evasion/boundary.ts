/**
 * Boundary Attack — Brendel, Rauber & Bethge, "Decision-Based Adversarial Attacks: Reliable
 * Attacks Against Black-Box Machine Learning Models", ICLR 2018. Needs only the model's
 * decision. It starts from an input that is already adversarial (uniform noise when
 * untargeted; a sample of the batch that the model puts in the target class when
 * targeted) and walks along the decision boundary toward the original: each step draws
 * a Gaussian perturbation orthogonal to the direction to the original, of relative size
 * δ, puts it back on the sphere around the original, then moves a fraction ε toward it.
 * Both the orthogonal candidate and the full step cost a query; δ is tuned so that about
 * half the orthogonal candidates stay adversarial and ε so that about a quarter of the
 * full steps do (factor 1.5 every 10 steps over the last 30, as the paper suggests).
 * Defaults from the paper: δ = ε = 0.01. Deviations: the starting point is first pulled
 * toward the original by a binary search on the blend between the two (10 queries), as
 * Foolbox initialises it; a sample stops once ε falls below 1e-7 (converged). `eps` > 0
 * stops a sample as soon as its perturbation is that small, and keeps only adversarial
 * examples within eps (L2) so that ε-curves count what fits the budget.
 */
import type { Labels, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import { rowNorm } from "../norms.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";

export interface BoundaryParams extends CommonParams {
  /** Initial relative size δ of the orthogonal step. */
  delta: number;
  /** Initial fraction ε of the distance stepped toward the original. */
  epsilon: number;
  /** Factor by which δ and ε are raised or lowered. */
  stepAdapt: number;
  /** Random noise draws tried to find an untargeted starting point. */
  initSize: number;
  maxQueries: number;
  batchSize: number;
}

const ADAPT_EVERY = 10;
const WINDOW = 30;
const BLEND_STEPS = 10;
const CONVERGED = 1e-7;

const rate = (hits: number[]) => hits.reduce((a, b) => a + b, 0) / hits.length;

function check(p: BoundaryParams): void {
  if (p.norm !== "2") throw new AegisError("BAD_OPTION", `boundary minimises the L2 distance; use norm 2, not ${p.norm}`);
  if (!(p.eps >= 0)) throw new AegisError("BAD_OPTION", `boundary needs eps ≥ 0 (0: no bound), got ${p.eps}`);
  if (!(p.delta > 0) || !(p.epsilon > 0 && p.epsilon < 1)) throw new AegisError("BAD_OPTION", "boundary needs delta > 0 and epsilon in (0, 1)");
  if (!(p.stepAdapt > 1)) throw new AegisError("BAD_OPTION", `boundary needs stepAdapt > 1, got ${p.stepAdapt}`);
  if (!Number.isInteger(p.initSize) || p.initSize < 1) throw new AegisError("BAD_OPTION", "boundary needs initSize to be a whole number ≥ 1");
  if (!Number.isInteger(p.maxQueries) || p.maxQueries < 1) throw new AegisError("BAD_OPTION", "boundary needs maxQueries to be a whole number ≥ 1");
}

async function run(model: Predictor, x: Tensor<"float32">, y: Labels, p: BoundaryParams, ctx: AttackContext): Promise<AttackOutput> {
  check(p);
  const n = x.shape[0];
  const shape = x.shape.slice(1);
  const row = sizeOf(shape);
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, p.constraints);
  const result = Float32Array.from(x.data);
  const queries = new Int32Array(n);
  const batch = Math.max(1, p.batchSize);
  const isAdv = (out: Tensor<"float32">, r: number, label: number) => isAdversarial(argmaxRow(out, r), label, p.targeted);
  // Every query is a valid input: inside the box, immutable features untouched, constraints met.
  const clip = (buf: Float32Array, s: number, x0: Float32Array, s0: number) => {
    for (let k = 0; k < row; k++) buf[s + k] = movable[k] ? Math.min(hi, Math.max(lo, buf[s + k])) : x0[s0 + k];
    projectFeasible(buf.subarray(s, s + row), x0.subarray(s0, s0 + row), 0, row, p.constraints);
  };
  let finished = 0;

  for (let start = 0; start < n && !ctx.signal?.aborted; start += batch) {
    const end = Math.min(n, start + batch);
    const m = end - start;
    const x0 = x.data.subarray(start * row, end * row);
    const labels = y.slice(start, end);
    const adv = new Float32Array(m * row);
    const found = new Array<boolean>(m).fill(false);
    const ask = async (rows: Float32Array, owners: number[]) => {
      for (const i of owners) queries[start + i]++;
      return model.predict(float32([owners.length, ...shape], rows));
    };
    const left = (i: number) => p.maxQueries - queries[start + i];

    // Starting points. The batch's own samples are candidates when their decision fits.
    const own = await ask(
      Float32Array.from(x0),
      labels.map((_, i) => i),
    );
    const decided = labels.map((_, i) => argmaxRow(own, i));
    const fromBatch = (i: number) => decided.findIndex((d, j) => j !== i && isAdversarial(d, labels[i], p.targeted));
    // A sample the model already gets "wrong" is its own answer, at distance 0.
    const already = labels.map((label, i) => isAdversarial(decided[i], label, p.targeted));
    if (p.targeted) {
      for (let i = 0; i < m; i++) {
        const j = already[i] ? -1 : fromBatch(i);
        if (j < 0) continue;
        adv.set(x0.subarray(j * row, (j + 1) * row), i * row);
        found[i] = true;
      }
    }
    for (let tries = 0; tries < p.initSize && !ctx.signal?.aborted; tries++) {
      const need = labels.map((_, i) => i).filter((i) => !found[i] && !already[i] && left(i) > 0);
      if (need.length === 0) break;
      const noise = new Float32Array(need.length * row);
      need.forEach((i, a) => {
        for (let k = 0; k < row; k++) noise[a * row + k] = lo + (hi - lo) * ctx.rng.next();
        clip(noise, a * row, x0, i * row);
      });
      const out = await ask(noise, need);
      need.forEach((i, a) => {
        if (!isAdv(out, a, labels[i])) return;
        adv.set(noise.subarray(a * row, (a + 1) * row), i * row);
        found[i] = true;
      });
    }
    if (!p.targeted) {
      for (let i = 0; i < m; i++) {
        const j = found[i] || already[i] ? -1 : fromBatch(i);
        if (j < 0) continue;
        adv.set(x0.subarray(j * row, (j + 1) * row), i * row);
        found[i] = true;
      }
    }

    // Binary search on the blend x0 + t·(start − x0): t_hi stays adversarial.
    const tLo = new Float64Array(m);
    const tHi = new Float64Array(m).fill(1);
    const startPoint = Float32Array.from(adv);
    const blend = (i: number, t: number, out: Float32Array, o: number) => {
      for (let k = 0; k < row; k++) out[o + k] = x0[i * row + k] + t * (startPoint[i * row + k] - x0[i * row + k]);
      clip(out, o, x0, i * row);
    };
    for (let step = 0; step < BLEND_STEPS && !ctx.signal?.aborted; step++) {
      const who = labels.map((_, i) => i).filter((i) => found[i] && left(i) > 0);
      if (who.length === 0) break;
      const probes = new Float32Array(who.length * row);
      who.forEach((i, a) => {
        blend(i, (tLo[i] + tHi[i]) / 2, probes, a * row);
      });
      const out = await ask(probes, who);
      who.forEach((i, a) => {
        const mid = (tLo[i] + tHi[i]) / 2;
        if (isAdv(out, a, labels[i])) tHi[i] = mid;
        else tLo[i] = mid;
      });
    }
    for (let i = 0; i < m; i++) if (found[i]) blend(i, tHi[i], adv, i * row);

    // The walk along the boundary.
    const dist = (buf: Float32Array, s: number, i: number) => {
      let sq = 0;
      for (let k = 0; k < row; k++) sq += (buf[s + k] - x0[i * row + k]) ** 2;
      return Math.sqrt(sq);
    };
    const delta = new Float64Array(m).fill(p.delta);
    const epsilon = new Float64Array(m).fill(p.epsilon);
    const sphericalHits: number[][] = labels.map(() => []);
    const stepHits: number[][] = labels.map(() => []);
    const distance = Float64Array.from(labels, (_, i) => (found[i] ? dist(adv, i * row, i) : 0));
    const stopped = labels.map((_, i) => !found[i] || (p.eps > 0 && distance[i] <= p.eps));
    const doneBefore = finished;
    const report = () => ctx.onProgress?.(doneBefore + stopped.filter(Boolean).length, n);
    report();
    const eta = new Float32Array(row);
    for (let steps = 1; !ctx.signal?.aborted; steps++) {
      for (let i = 0; i < m; i++) if (left(i) < 2) stopped[i] = true;
      const who = labels.map((_, i) => i).filter((i) => !stopped[i]);
      if (who.length === 0) break;
      const probes = new Float32Array(2 * who.length * row);
      who.forEach((i, a) => {
        const s = i * row;
        const d = distance[i];
        // Gaussian direction orthogonal to adv − x0, scaled to δ·d.
        let dot = 0;
        for (let k = 0; k < row; k++) {
          eta[k] = movable[k] ? ctx.rng.normal() : 0;
          dot += eta[k] * (adv[s + k] - x0[s + k]);
        }
        for (let k = 0; k < row; k++) eta[k] -= (dot / (d * d)) * (adv[s + k] - x0[s + k]);
        const scale = (delta[i] * d) / (rowNorm(eta, 0, row, "2") || 1);
        // Back onto the sphere of radius d around x0, then a fraction ε toward x0.
        const shrink = 1 / Math.sqrt(1 + delta[i] * delta[i]);
        const sph = 2 * a * row;
        const full = sph + row;
        for (let k = 0; k < row; k++) {
          const onSphere = shrink * (adv[s + k] - x0[s + k] + scale * eta[k]);
          probes[sph + k] = x0[s + k] + onSphere;
          probes[full + k] = x0[s + k] + (1 - epsilon[i]) * onSphere;
        }
        clip(probes, sph, x0, s);
        clip(probes, full, x0, s);
      });
      const out = await ask(
        probes,
        who.flatMap((i) => [i, i]),
      );
      who.forEach((i, a) => {
        const sphOk = isAdv(out, 2 * a, labels[i]);
        const fullOk = isAdv(out, 2 * a + 1, labels[i]);
        const full = (2 * a + 1) * row;
        const d = dist(probes, full, i);
        if (fullOk && d < distance[i]) {
          adv.set(probes.subarray(full, full + row), i * row);
          distance[i] = d;
        }
        sphericalHits[i].push(sphOk ? 1 : 0);
        if (sphOk) stepHits[i].push(fullOk ? 1 : 0);
        if (sphericalHits[i].length > WINDOW) sphericalHits[i].shift();
        if (stepHits[i].length > WINDOW) stepHits[i].shift();
        if (steps % ADAPT_EVERY === 0) {
          if (sphericalHits[i].length === WINDOW) delta[i] *= rate(sphericalHits[i]) > 0.5 ? p.stepAdapt : 1 / p.stepAdapt;
          if (stepHits[i].length >= ADAPT_EVERY) epsilon[i] = Math.min(0.5, epsilon[i] * (rate(stepHits[i]) > 0.25 ? p.stepAdapt : 1 / p.stepAdapt));
        }
        if (epsilon[i] < CONVERGED || (p.eps > 0 && distance[i] <= p.eps)) stopped[i] = true;
      });
      report();
    }
    finished = doneBefore + m;
    for (let i = 0; i < m; i++) {
      if (found[i] && (p.eps === 0 || distance[i] <= p.eps)) result.set(adv.subarray(i * row, (i + 1) * row), (start + i) * row);
    }
  }
  return { x: float32(x.shape, result), queries };
}

export const boundary: Attack<BoundaryParams, Predictor> = {
  name: "boundary",
  title: "Boundary Attack",
  paper: "Brendel, Rauber & Bethge 2018, Decision-Based Adversarial Attacks: Reliable Attacks Against Black-Box Machine Learning Models",
  needs: ["predict"],
  norms: ["2"],
  defaults: { eps: 0, norm: "2", targeted: false, delta: 0.01, epsilon: 0.01, stepAdapt: 1.5, initSize: 100, maxQueries: 10_000, batchSize: 128 },
  help: {
    eps: "stop a sample once its L2 perturbation is this small, and keep only adversarials within it (0: minimise with no bound)",
    norm: "2 only",
    targeted: "end in the given target classes (starts from a batch sample of that class)",
    delta: "initial size of the orthogonal step, relative to the current distance",
    epsilon: "initial fraction of the distance stepped toward the original",
    stepAdapt: "factor by which delta and epsilon adapt toward 50% and 25% success",
    initSize: "uniform-noise draws tried for a starting point",
    maxQueries: "model queries allowed per sample (10,000 by default; the paper runs until convergence)",
    batchSize: "samples attacked together (their queries share model calls)",
  },
  run,
};
