/**
 * Functionally equivalent extraction of a one-hidden-layer ReLU network — Jagielski,
 * Carlini, Berthelot, Kurakin & Papernot, "High Accuracy and High Fidelity Extraction of
 * Neural Networks", USENIX Security 2020 (§6), with the critical-point search of Carlini,
 * Jagielski & Mironov, "Cryptanalytic Extraction of Neural Network Models", CRYPTO 2020.
 * The victim is f(x) = A₂·ReLU(A₁x + b₁) + b₂. Its centred log-probabilities
 * F(x) = log p(x) − mean(log p(x)) equal its centred logits, a piecewise-linear function
 * whose pieces change exactly where a hidden unit switches, on the hyperplane A₁ᵢx + b₁ᵢ = 0.
 * 1. Critical points: along random lines through the input box, g = r·F (r a random
 *    direction over the outputs) is evaluated on a grid and bisected where a segment's
 *    midpoint leaves its chord; once a bent segment is short, the two linear pieces around
 *    it are extended and intersected, which places the critical point far more precisely
 *    than float32 outputs allow bisection to.
 * 2. Each critical point's unit is told by the jump of the Jacobian of F across it (forward
 *    differences on both sides), a rank-one matrix a·wᵀ; points with the same hyperplane
 *    are grouped, and each group's hyperplane is refitted to all its points (total least
 *    squares), which recovers A₁ᵢ up to scale and sign.
 * 3. Signs and the output layer: F is fitted by least squares on the features ReLU(wᵢx + bᵢ)
 *    plus a linear part. A unit with the wrong sign leaves −aᵢ(wᵢx + bᵢ) in the linear part
 *    (ReLU(−u) = ReLU(u) − u), so the linear part is decomposed over the aᵢwᵢᵀ and the
 *    units with coefficient −1 are flipped; the output layer is then refitted.
 * The result is A₁, b₁ up to a positive scale per unit and a permutation, and A₂, b₂ up to
 * the matching inverse scales and a shift of every logit (which softmax ignores).
 * Needs every class's score (a label-only or top-k API hides F). Units that never switch
 * inside the input box act linearly there; what they add is kept as an exact linear map on
 * the box (one always-active unit per input), and the report says so.
 * Defaults: 32-segment grid, bent segments intersected below 1/256 of the line, Jacobian
 * steps of 1e-3 of the input range, up to 400 lines, stopping after 60 lines in a row find
 * no new unit; 4 fitting points per unknown.
 */

import type { Rng } from "../../data/random.js";
import { OnnxClassifier } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { GraphBuilder } from "../../onnx/builder.js";
import { attr, DataType, emptyModel } from "../../onnx/ir.js";
import { float32, sizeOf } from "../../tensor.js";
import { centredLogits } from "./dfme.js";
import type { QueryOracle } from "./oracle.js";
import type { ExtractionAttack } from "./types.js";

export interface FunctionallyEquivalentParams extends Record<string, unknown> {
  maxLines: number;
  patience: number;
  gridSegments: number;
  jacobianStep: number;
  fitPointsPerUnknown: number;
}

/** Critical points a unit needs before it is believed (two misread Jacobians rarely agree three times). */
const MIN_POINTS = 3;

interface CriticalPoint {
  x: Float64Array;
  /** Unit direction of the line it was found on. */
  direction: Float64Array;
  /** Distance along the line to the next critical point or the line's end, whichever is nearer. */
  gap: number;
}

interface Unit {
  /** Unit normal of the hyperplane, sign fixed so that its largest component is positive. */
  w: Float64Array;
  b: number;
  /** Critical points found on it. */
  points: Float64Array[];
}

export const functionallyEquivalent: ExtractionAttack<FunctionallyEquivalentParams> = {
  name: "functionally-equivalent",
  title: "Functionally equivalent extraction (one-hidden-layer ReLU)",
  paper: "Jagielski, Carlini, Berthelot, Kurakin & Papernot 2020, High Accuracy and High Fidelity Extraction of Neural Networks",
  data: "none",
  outputs: ["probabilities"],
  defaults: { maxLines: 400, patience: 60, gridSegments: 32, jacobianStep: 1e-3, fitPointsPerUnknown: 4 },
  help: {
    maxLines: "most random lines searched for critical points",
    patience: "lines in a row that find no new unit before the search stops",
    gridSegments: "segments each line is first cut into",
    jacobianStep: "forward-difference step, as a fraction of the input range",
    fitPointsPerUnknown: "random queries per unknown of the least-squares fit of the output layer",
  },
  async run(oracle, _input, p, context) {
    const [lo, hi] = oracle.clipRange;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      throw new AegisError("BAD_OPTION", "functionally equivalent extraction searches a bounded input box; give the input range with --clip lo,hi");
    }
    const d = sizeOf(oracle.inputShape);
    const probe = new Probe(oracle, context.rng);
    await probe.check();
    const units: Unit[] = [];
    const reserve = () => p.fitPointsPerUnknown * (units.length + d + 1 + d) + 2 * (d + 1) * 4;
    let quiet = 0;
    let lines = 0;
    // A unit seen once or twice may be a misread Jacobian; it counts once it has the points to be kept.
    const established = () => units.filter((u) => u.points.length >= MIN_POINTS).length;
    while (lines < p.maxLines && quiet < p.patience && oracle.remaining > reserve() + 200) {
      lines++;
      context.onStatus?.(`line ${lines}: ${established()} units so far, ${oracle.spent} queries`);
      const before = established();
      for (const point of await probe.criticalPoints(p.gridSegments, lo, hi, () => oracle.remaining > reserve() + 2 * (d + 1))) {
        const normal = await probe.jumpNormal(point, p.jacobianStep * (hi - lo), lo, hi);
        if (normal) assign(units, point.x, normal, hi - lo);
      }
      quiet = established() > before ? 0 : quiet + 1;
    }
    const kept = units.filter((u) => u.points.length >= MIN_POINTS);
    for (const u of kept) refitHyperplane(u);
    if (kept.length === 0)
      throw new AegisError("UNSUPPORTED", `no hidden unit switches inside the input box [${lo}, ${hi}] along ${lines} lines; the victim looks linear there`);
    context.onStatus?.(`fitting the output layer of ${kept.length} units`);
    const net = await fitOutputLayer(oracle, kept, p.fitPointsPerUnknown, context.rng, lo, hi);
    const stolen = await OnnxClassifier.create(mlpModel(oracle.inputShape, net), { clipRange: [lo, hi] });
    await context.onCheckpoint?.(oracle.spent, stolen);
    const notes = [
      `${kept.length} hidden units recovered from ${lines} lines (${units.length - kept.length} candidates with fewer than ${MIN_POINTS} critical points dropped)`,
    ];
    if (net.flipped > 0) notes.push(`${net.flipped} units' signs recovered from the linear part of the fit`);
    if (net.linear) notes.push("part of the function is linear on the input box (units that never switch there); kept as an exact linear map");
    return { stolen, queries: oracle.spent, notes };
  },
};

/** Segment [t0, t1] of a line with F at its ends. */
interface Segment {
  t0: number;
  t1: number;
  f0: Float64Array;
  f1: Float64Array;
}

/** The victim's F along lines, and its Jacobian by forward differences. */
export class Probe {
  private readonly d: number;
  private readonly k: number;
  constructor(
    private readonly oracle: QueryOracle,
    private readonly rng: Rng,
  ) {
    this.d = sizeOf(oracle.inputShape);
    this.k = oracle.numClasses;
  }

  centred(xs: Float64Array[]): Promise<Float64Array[]> {
    return centredAt(this.oracle, xs);
  }

  /** An API that hides scores cannot be extracted this way: say so before spending the budget. */
  async check(): Promise<void> {
    const [lo, hi] = this.oracle.clipRange;
    await this.centred([Float64Array.from({ length: this.d }, () => lo + this.rng.next() * (hi - lo))]);
    if (this.oracle.observed !== "probabilities") {
      throw new AegisError(
        "BAD_OPTION",
        `functionally equivalent extraction needs every class's score, but the victim answers with ${this.oracle.observed}; use copycat or knockoff against it`,
      );
    }
  }

  private along(a: Float64Array, dir: Float64Array, ts: number[]): Promise<Float64Array[]> {
    return this.centred(ts.map((t) => a.map((v, j) => v + t * dir[j])));
  }

  /** The critical points on one random line through the box. */
  async criticalPoints(segments: number, lo: number, hi: number, affordable: () => boolean): Promise<CriticalPoint[]> {
    const a = Float64Array.from({ length: this.d }, () => lo + this.rng.next() * (hi - lo));
    const b = Float64Array.from({ length: this.d }, () => lo + this.rng.next() * (hi - lo));
    const dir = b.map((v, j) => v - a[j]);
    const grid = Array.from({ length: segments + 1 }, (_, i) => i / segments);
    const values = await this.along(a, dir, grid);
    // float32 scores: what is below this far from a chord is rounding, not a bend.
    const tolerance = 1e-5 * (1 + Math.max(...values.flatMap((f) => Array.from(f, Math.abs))));
    let pending: Segment[] = grid.slice(0, -1).map((t, i) => ({ t0: t, t1: grid[i + 1], f0: values[i], f1: values[i + 1] }));
    const found: number[] = [];
    const fine = 1 / 256;
    while (pending.length > 0 && affordable()) {
      const mids = await this.along(
        a,
        dir,
        pending.map((s) => (s.t0 + s.t1) / 2),
      );
      const next: Segment[] = [];
      for (const [i, s] of pending.entries()) {
        const bend = bendOf(s, mids[i]);
        if (bend.size <= tolerance) continue;
        const t = s.t1 - s.t0 <= fine ? await this.intersect(a, dir, s, bend.output, tolerance) : undefined;
        if (t !== undefined) found.push(t);
        else if (s.t1 - s.t0 > fine / 64) next.push({ ...s, t1: (s.t0 + s.t1) / 2, f1: mids[i] }, { ...s, t0: (s.t0 + s.t1) / 2, f0: mids[i] });
      }
      pending = next;
    }
    found.sort((x, y) => x - y);
    const length = Math.hypot(...dir);
    return found.map((t, i) => ({
      x: a.map((v, j) => v + t * dir[j]),
      direction: dir.map((v) => v / length),
      // Room on either side before the next critical point, in units of the input.
      gap: Math.min(t - (found[i - 1] ?? 0), (found[i + 1] ?? 1) - t) * length,
    }));
  }

  /** Where the linear pieces left and right of a short bent segment meet, if one bend explains it. */
  private async intersect(a: Float64Array, dir: Float64Array, s: Segment, c: number, tolerance: number): Promise<number | undefined> {
    const w = s.t1 - s.t0;
    const [fl, fr] = await this.along(a, dir, [s.t0 - w, s.t1 + w]);
    const left = (s.f0[c] - fl[c]) / w;
    const right = (fr[c] - s.f1[c]) / w;
    if (Math.abs(left - right) < 1e-9) return undefined;
    const t = (s.f1[c] - s.f0[c] + left * s.t0 - right * s.t1) / (left - right);
    if (!(t > s.t0 && t < s.t1)) return undefined;
    const [ft] = await this.along(a, dir, [t]);
    return Math.abs(ft[c] - (s.f0[c] + left * (t - s.t0))) <= 4 * tolerance ? t : undefined;
  }

  /** The unit normal of the hyperplane at a critical point, from the jump of F's Jacobian across it. */
  async jumpNormal(point: CriticalPoint, h: number, lo: number, hi: number): Promise<Float64Array | undefined> {
    const offset = Math.min(point.gap / 3, 20 * h);
    if (offset <= 2 * h) return undefined;
    const jacobianAt = async (x: Float64Array) => {
      const steps = Array.from({ length: this.d }, (_, j) => (x[j] + h <= hi ? h : -h));
      const rows = await this.centred([x, ...steps.map((st, j) => x.map((v, i) => (i === j ? v + st : v)))]);
      return steps.map((st, j) => rows[j + 1].map((v, c) => (v - rows[0][c]) / st));
    };
    // Back along the line on either side: the line crosses the hyperplane there, and no other before `gap`.
    const side = (sign: number) => point.x.map((v, j) => Math.min(hi, Math.max(lo, v + sign * offset * point.direction[j])));
    const [plus, minus] = [await jacobianAt(side(1)), await jacobianAt(side(-1))];
    // The jump is a·wᵀ (column j holds ∂F/∂xⱼ): its top right singular vector is w.
    const jump = plus.map((col, j) => col.map((v, c) => v - minus[j][c]));
    return topSingularVector(jump, this.k);
  }
}

/** F at each row of xs. */
async function centredAt(oracle: QueryOracle, xs: Float64Array[]): Promise<Float64Array[]> {
  const d = sizeOf(oracle.inputShape);
  const k = oracle.numClasses;
  const batch = float32([xs.length, ...oracle.inputShape], new Float32Array(xs.length * d));
  xs.forEach((x, i) => {
    batch.data.set(x, i * d);
  });
  const logits = centredLogits(await oracle.query(batch));
  return xs.map((_, i) => Float64Array.from(logits.data.subarray(i * k, (i + 1) * k)));
}

/** How far F's midpoint leaves the chord of a segment, at the output where it leaves it most. */
function bendOf(s: Segment, mid: Float64Array): { size: number; output: number } {
  let size = 0;
  let output = 0;
  mid.forEach((v, c) => {
    const off = Math.abs(v - (s.f0[c] + s.f1[c]) / 2);
    if (off > size) {
      size = off;
      output = c;
    }
  });
  return { size, output };
}

/** The right singular vector of a K×d matrix given as d columns, by power iteration on MᵀM. */
function topSingularVector(columns: Float64Array[], k: number): Float64Array | undefined {
  const d = columns.length;
  let v = Float64Array.from({ length: d }, (_, j) => Math.hypot(...columns[j]));
  for (let it = 0; it < 50; it++) {
    const mv = new Float64Array(k);
    for (let j = 0; j < d; j++) for (let c = 0; c < k; c++) mv[c] += columns[j][c] * v[j];
    const next = Float64Array.from(columns, (col) => col.reduce((s, x, c) => s + x * mv[c], 0));
    const norm = Math.hypot(...next);
    if (!(norm > 1e-12)) return undefined;
    v = next.map((x) => x / norm);
  }
  return canonical(v);
}

/** The same direction with its largest component positive, so that ±w compare equal. */
function canonical(w: Float64Array): Float64Array {
  let big = 0;
  for (let j = 1; j < w.length; j++) if (Math.abs(w[j]) > Math.abs(w[big])) big = j;
  return w[big] < 0 ? w.map((v) => -v) : w;
}

/**
 * Adds the critical point to the unit whose hyperplane it lies on, or starts a new unit. A
 * unit's hyperplane is refitted to its points once it has d + 1 of them and each time
 * their number doubles, so later points are matched against a sharper hyperplane.
 */
export function assign(units: Unit[], x: Float64Array, normal: Float64Array, range: number): void {
  const dot = (u: Float64Array, v: Float64Array) => u.reduce((s, a, j) => s + a * v[j], 0);
  const d = x.length;
  for (const unit of units) {
    if (Math.abs(dot(unit.w, normal)) > 0.99 && Math.abs(dot(unit.w, x) + unit.b) < 0.01 * range * Math.sqrt(d)) {
      unit.points.push(x);
      const n = unit.points.length;
      if (n >= d + 1 && (n === d + 1 || (n & (n - 1)) === 0)) refitHyperplane(unit);
      return;
    }
  }
  units.push({ w: normal, b: -dot(normal, x), points: [x] });
}

/** The hyperplane through a unit's critical points: the normal is the least-variance direction of the points. */
export function refitHyperplane(unit: Unit): void {
  const d = unit.w.length;
  const n = unit.points.length;
  const mean = new Float64Array(d);
  for (const p of unit.points) for (let j = 0; j < d; j++) mean[j] += p[j] / n;
  if (n <= d) {
    // Too few points to span the hyperplane: keep the Jacobian's normal, through their mean.
    unit.b = -unit.w.reduce((s, a, j) => s + a * mean[j], 0);
    return;
  }
  const cov = new Float64Array(d * d);
  for (const p of unit.points) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += (p[i] - mean[i]) * (p[j] - mean[j]);
  // Inverse iteration from the jump's normal: converges to the smallest eigenvector of the scatter.
  let v = Float64Array.from(unit.w);
  const shifted = Float64Array.from(cov, (c, idx) => (idx % (d + 1) === 0 ? c + 1e-12 : c));
  for (let it = 0; it < 20; it++) {
    const next = solve(shifted, v, d);
    const norm = Math.hypot(...next);
    if (!(norm > 0) || !Number.isFinite(norm)) break;
    v = next.map((x) => x / norm);
  }
  unit.w = canonical(v);
  unit.b = -unit.w.reduce((s, a, j) => s + a * mean[j], 0);
}

interface Recovered {
  /** Hidden layer: rows of A₁ and b₁. */
  w1: Float64Array[];
  b1: number[];
  /** Output layer: A₂ as K rows over the hidden units, and b₂. */
  w2: Float64Array[];
  b2: Float64Array;
  flipped: number;
  linear: boolean;
}

/** Least-squares output layer, with the units' signs recovered from the linear part. */
async function fitOutputLayer(oracle: QueryOracle, units: Unit[], perUnknown: number, rng: Rng, lo: number, hi: number): Promise<Recovered> {
  const d = units[0].w.length;
  const h = units.length;
  const k = oracle.numClasses;
  const n = Math.min(oracle.remaining, perUnknown * (h + 2 * d + 1));
  const xs = Array.from({ length: n }, () => Float64Array.from({ length: d }, () => lo + rng.next() * (hi - lo)));
  const ys: Float64Array[] = [];
  for (let start = 0; start < n; start += 256) ys.push(...(await centredAt(oracle, xs.slice(start, start + 256))));
  const pre = (u: Unit, x: Float64Array) => u.w.reduce((s, a, j) => s + a * x[j], u.b);

  // First fit: every unit as found, plus a free linear part.
  const first = leastSquares(
    xs.map((x) => [...units.map((u) => Math.max(0, pre(u, x))), ...x, 1]),
    ys,
  );
  const alpha = first.slice(0, h);
  const linearPart = Array.from({ length: d }, (_, j) => first[h + j]);
  // Decompose the linear part V (K×d) over the unit terms aᵢwᵢᵀ: a coefficient near −1 is a flipped unit.
  const terms = units.map((u, i) => Array.from({ length: d }, (_, j) => alpha[i].map((a) => a * u.w[j])));
  const gamma = leastSquaresFlat(terms, linearPart);
  const signs = gamma.map((g) => (g < -0.5 ? -1 : 1));
  const flipped = signs.filter((s) => s < 0).length;

  // Second fit: the units with their signs and a bias; if a linear part remains, always-active units carry it.
  const w1 = units.map((u, i) => u.w.map((v) => v * signs[i]));
  const b1 = units.map((u, i) => u.b * signs[i]);
  const hidden = (x: Float64Array) =>
    w1.map((w, i) =>
      Math.max(
        0,
        w.reduce((s, a, j) => s + a * x[j], b1[i]),
      ),
    );
  let coefficients = leastSquares(
    xs.map((x) => [...hidden(x), 1]),
    ys,
  );
  const residual =
    rms(
      xs.map((x) => predict(coefficients, [...hidden(x), 1])),
      ys,
    ) /
    Math.max(
      1e-12,
      rms(
        ys.map(() => new Float64Array(k)),
        ys,
      ),
    );
  let linear = false;
  if (residual > 1e-3) {
    linear = true;
    for (let j = 0; j < d; j++) {
      w1.push(Float64Array.from({ length: d }, (_, i) => (i === j ? 1 : 0)));
      b1.push(-lo);
    }
    coefficients = leastSquares(
      xs.map((x) => [...hidden(x), 1]),
      ys,
    );
  }
  const units2 = w1.length;
  return {
    w1,
    b1,
    w2: Array.from({ length: k }, (_, c) => Float64Array.from({ length: units2 }, (_, i) => coefficients[i][c])),
    b2: coefficients[units2],
    flipped,
    linear,
  };
}

function predict(coefficients: Float64Array[], features: number[]): Float64Array {
  const k = coefficients[0].length;
  const out = new Float64Array(k);
  features.forEach((f, i) => {
    for (let c = 0; c < k; c++) out[c] += f * coefficients[i][c];
  });
  return out;
}

function rms(a: Float64Array[], b: Float64Array[]): number {
  let s = 0;
  let n = 0;
  a.forEach((row, i) => {
    for (let c = 0; c < row.length; c++) {
      s += (row[c] - b[i][c]) ** 2;
      n++;
    }
  });
  return Math.sqrt(s / n);
}

/** Coefficients C (one K-vector per feature) minimising Σ‖Φ(x)·C − y‖², by the normal equations with a tiny ridge. */
function leastSquares(features: number[][], ys: Float64Array[]): Float64Array[] {
  const p = features[0].length;
  const k = ys[0].length;
  const gram = new Float64Array(p * p);
  const rhs = Array.from({ length: k }, () => new Float64Array(p));
  features.forEach((f, n) => {
    for (let i = 0; i < p; i++) {
      if (f[i] === 0) continue;
      for (let j = 0; j < p; j++) gram[i * p + j] += f[i] * f[j];
      for (let c = 0; c < k; c++) rhs[c][i] += f[i] * ys[n][c];
    }
  });
  let trace = 0;
  for (let i = 0; i < p; i++) trace += gram[i * p + i];
  for (let i = 0; i < p; i++) gram[i * p + i] += 1e-12 * trace;
  const solutions = rhs.map((r) => solve(gram, r, p));
  return Array.from({ length: p }, (_, i) => Float64Array.from(solutions, (s) => s[i]));
}

/** Scalars γ minimising ‖Σᵢ γᵢ·Tᵢ − V‖ over matrices given as d columns of K values. */
function leastSquaresFlat(terms: Float64Array[][], target: Float64Array[]): number[] {
  const flat = (m: Float64Array[]) => m.flatMap((col) => Array.from(col));
  const t = terms.map(flat);
  const v = flat(target);
  const p = t.length;
  const gram = new Float64Array(p * p);
  const rhs = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) gram[i * p + j] = t[i].reduce((s, a, e) => s + a * t[j][e], 0);
    rhs[i] = t[i].reduce((s, a, e) => s + a * v[e], 0);
    gram[i * p + i] += 1e-12;
  }
  return Array.from(solve(gram, rhs, p));
}

/** Solves A·x = b (A p×p, row-major) by Gaussian elimination with partial pivoting. */
function solve(matrix: Float64Array, rhs: Float64Array, p: number): Float64Array {
  const a = Float64Array.from(matrix);
  const x = Float64Array.from(rhs);
  for (let col = 0; col < p; col++) {
    let pivot = col;
    for (let r = col + 1; r < p; r++) if (Math.abs(a[r * p + col]) > Math.abs(a[pivot * p + col])) pivot = r;
    if (pivot !== col) {
      for (let c = 0; c < p; c++) [a[col * p + c], a[pivot * p + c]] = [a[pivot * p + c], a[col * p + c]];
      [x[col], x[pivot]] = [x[pivot], x[col]];
    }
    const diag = a[col * p + col] || 1e-300;
    for (let r = col + 1; r < p; r++) {
      const f = a[r * p + col] / diag;
      if (f === 0) continue;
      for (let c = col; c < p; c++) a[r * p + c] -= f * a[col * p + c];
      x[r] -= f * x[col];
    }
  }
  for (let r = p - 1; r >= 0; r--) {
    let s = x[r];
    for (let c = r + 1; c < p; c++) s -= a[r * p + c] * x[c];
    x[r] = s / (a[r * p + r] || 1e-300);
  }
  return x;
}

/** The recovered network as ONNX: (Flatten) · Gemm · Relu · Gemm, logits out. */
function mlpModel(inputShape: readonly number[], net: Recovered): ReturnType<typeof emptyModel> {
  const model = emptyModel(17, "functionally-equivalent");
  const b = new GraphBuilder(model.graph, 17, "fe");
  const d = sizeOf(inputShape);
  const h = net.w1.length;
  const k = net.w2.length;
  b.addInput("input", DataType.FLOAT, ["batch", ...inputShape]);
  const x = inputShape.length > 1 ? b.op("Flatten", ["input"], { axis: attr.int(1) }) : "input";
  const w1 = b.namedInitializer("fc1.weight", DataType.FLOAT, [h, d], Float32Array.from(net.w1.flatMap((r) => Array.from(r))));
  const b1 = b.namedInitializer("fc1.bias", DataType.FLOAT, [h], Float32Array.from(net.b1));
  const w2 = b.namedInitializer("fc2.weight", DataType.FLOAT, [k, h], Float32Array.from(net.w2.flatMap((r) => Array.from(r))));
  const b2 = b.namedInitializer("fc2.bias", DataType.FLOAT, [k], Float32Array.from(net.b2));
  const hidden = b.op("Relu", [b.op("Gemm", [x, w1, b1], { transB: attr.int(1) })]);
  b.node("Gemm", [hidden, w2, b2], { transB: attr.int(1) }, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", k]);
  return model;
}
