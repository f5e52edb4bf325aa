/**
 * Maximum mean discrepancy two-sample test (Gretton et al. 2012, "A Kernel Two-Sample
 * Test", JMLR 13), as alibi-detect's MMDDrift runs it: the unbiased estimate of MMD² with
 * a Gaussian kernel k(x, y) = exp(−‖x − y‖² / (2σ²)), and a p-value from permuting the
 * pooled samples, (1 + #{MMD²_perm ≥ MMD²}) / (1 + permutations), which is exact at any
 * sample size for a kernel fixed in advance. σ comes from the median heuristic (Gretton et
 * al. §8) on the reference when the detector is fitted, as alibi-detect sets it, so it does
 * not depend on the data being tested. The witness function (§2.3) ranks current samples by how much closer they
 * sit to the current sample than to the reference: the "most drifted" examples.
 */
import type { Rng } from "../../data/index.js";

/** Row-major samples [n, d]. */
export interface Samples {
  rows: number;
  dim: number;
  data: Float32Array;
}

function squaredDistance(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  const ai = i * dim;
  const bj = j * dim;
  for (let k = 0; k < dim; k++) {
    const d = a[ai + k] - b[bj + k];
    s += d * d;
  }
  return s;
}

/** The median distance between distinct reference rows (at most `pairs` random pairs, for large samples). */
export function medianBandwidth(x: Samples, rng: Rng, pairs = 20_000): number {
  const distances: number[] = [];
  const all = (x.rows * (x.rows - 1)) / 2;
  if (all <= pairs) {
    for (let i = 0; i < x.rows; i++) for (let j = i + 1; j < x.rows; j++) distances.push(squaredDistance(x.data, i, x.data, j, x.dim));
  } else {
    while (distances.length < pairs) {
      const i = rng.int(x.rows);
      const j = rng.int(x.rows);
      if (i !== j) distances.push(squaredDistance(x.data, i, x.data, j, x.dim));
    }
  }
  distances.sort((a, b) => a - b);
  const mid = distances.length >> 1;
  const median = distances.length % 2 ? distances[mid] : (distances[mid - 1] + distances[mid]) / 2;
  // Constant features (every distance 0) would give σ = 0; any positive σ then serves.
  return Math.sqrt(median) || 1;
}

export interface MmdResult {
  /** Unbiased MMD² of reference against current. */
  mmd2: number;
  pValue: number;
  permutations: number;
  /** Per current row: mean kernel to the other current rows minus mean kernel to the reference (high = drifted). */
  witness: Float64Array;
}

/** The pooled Gram matrix [N, N] of reference rows followed by current rows. */
function gram(x: Samples, y: Samples, sigma: number): Float64Array {
  const n = x.rows + y.rows;
  const row = (i: number): [Float32Array, number] => (i < x.rows ? [x.data, i] : [y.data, i - x.rows]);
  const k = new Float64Array(n * n);
  const scale = -1 / (2 * sigma * sigma);
  for (let i = 0; i < n; i++) {
    const [a, ai] = row(i);
    k[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) {
      const [b, bj] = row(j);
      const v = Math.exp(scale * squaredDistance(a, ai, b, bj, x.dim));
      k[i * n + j] = v;
      k[j * n + i] = v;
    }
  }
  return k;
}

/** Unbiased MMD² for the split of the pooled rows where inX[i] marks the reference side. */
function mmd2Of(k: Float64Array, n: number, inX: Uint8Array, nx: number): number {
  const ny = n - nx;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < n; i++) {
    const base = i * n;
    const xi = inX[i];
    for (let j = i + 1; j < n; j++) {
      const v = k[base + j];
      const xj = inX[j];
      if (xi && xj) xx += v;
      else if (!xi && !xj) yy += v;
      else xy += v;
    }
  }
  return (2 * xx) / (nx * (nx - 1)) + (2 * yy) / (ny * (ny - 1)) - (2 * xy) / (nx * ny);
}

export function mmdTest(x: Samples, y: Samples, sigma: number, permutations: number, rng: Rng): MmdResult {
  if (x.rows < 2 || y.rows < 2) return { mmd2: 0, pValue: 1, permutations: 0, witness: new Float64Array(y.rows) };
  const n = x.rows + y.rows;
  const k = gram(x, y, sigma);
  const inX = new Uint8Array(n);
  inX.fill(1, 0, x.rows);
  const observed = mmd2Of(k, n, inX, x.rows);
  const order = Array.from({ length: n }, (_, i) => i);
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    rng.shuffle(order);
    inX.fill(0);
    for (let i = 0; i < x.rows; i++) inX[order[i]] = 1;
    if (mmd2Of(k, n, inX, x.rows) >= observed) atLeast++;
  }
  const witness = new Float64Array(y.rows);
  for (let j = 0; j < y.rows; j++) {
    const base = (x.rows + j) * n;
    let toX = 0;
    let toY = 0;
    for (let i = 0; i < x.rows; i++) toX += k[base + i];
    for (let i = x.rows; i < n; i++) if (i !== x.rows + j) toY += k[base + i];
    witness[j] = toY / (y.rows - 1) - toX / x.rows;
  }
  return { mmd2: observed, pValue: (1 + atLeast) / (1 + permutations), permutations, witness };
}
