/**
 * Small dense linear algebra in float64, shared by the defences and the attacks: the
 * symmetric eigendecomposition (Mahalanobis's pseudo-inverse, PCA), principal components,
 * k-means (activation clustering, Knockoff's actions) and silhouette scores. Sizes are a
 * layer's width (hundreds), so plain loops are enough.
 */
import type { Rng } from "./data/random.js";

/**
 * A = V Λ Vᵀ for a symmetric d × d matrix (row-major), by the cyclic Jacobi method with
 * Rutishauser's stable rotations. Eigenvalues come sorted from largest to smallest; column
 * k of `vectors` (vectors[i·d + k]) is the unit eigenvector of values[k].
 */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < d; p++) {
      diag += a[p * d + p] ** 2;
      for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        // Rotation that zeroes a[p][q].
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => a[j * d + j] - a[i * d + i]);
  const values = Float64Array.from(order, (i) => a[i * d + i]);
  const vectors = new Float64Array(d * d);
  order.forEach((from, to) => {
    for (let i = 0; i < d; i++) vectors[i * d + to] = v[i * d + from];
  });
  return { values, vectors };
}

/** Rows [n, d] minus their column means, in float64. */
export function centred(rows: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = Float64Array.from(rows as ArrayLike<number>);
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += out[i * d + j];
    mean /= n;
    for (let i = 0; i < n; i++) out[i * d + j] -= mean;
  }
  return out;
}

/**
 * The projections [n, components] of centred rows [n, d] on their top principal
 * components, and the variances along them (the covariance's largest eigenvalues).
 */
export function principalComponents(x: Float64Array, n: number, d: number, components: number): { projections: Float64Array; variances: Float64Array } {
  const covariance = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    const at = i * d;
    for (let p = 0; p < d; p++) {
      const xp = x[at + p];
      if (xp === 0) continue;
      for (let q = p; q < d; q++) covariance[p * d + q] += xp * x[at + q];
    }
  }
  for (let p = 0; p < d; p++)
    for (let q = p; q < d; q++) {
      covariance[p * d + q] /= Math.max(1, n - 1);
      covariance[q * d + p] = covariance[p * d + q];
    }
  const { values, vectors } = symmetricEigen(covariance, d);
  const c = Math.min(components, d);
  const projections = new Float64Array(n * c);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[i * d + j] * vectors[j * d + k];
      projections[i * c + k] = s;
    }
  return { projections, variances: values.slice(0, c) };
}

function squaredDistance(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const diff = a[i * d + k] - b[j * d + k];
    s += diff * diff;
  }
  return s;
}

/**
 * k-means (Lloyd's algorithm) from k-means++ seeds (Arthur & Vassilvitskii 2007), best of
 * `restarts` runs by inertia, each at most `iterations` Lloyd steps: cluster of each row
 * and the centroids.
 */
export function kMeans(
  x: Float64Array,
  n: number,
  d: number,
  k: number,
  rng: Rng,
  { restarts = 10, iterations = 300 }: { restarts?: number; iterations?: number } = {},
): { assignment: Int32Array; centroids: Float64Array } {
  let best: { assignment: Int32Array; centroids: Float64Array; inertia: number } | undefined;
  for (let run = 0; run < restarts; run++) {
    const centroids = new Float64Array(k * d);
    const first = rng.int(n);
    centroids.set(x.subarray(first * d, (first + 1) * d), 0);
    const nearest = Float64Array.from({ length: n }, (_, i) => squaredDistance(x, i, centroids, 0, d));
    for (let c = 1; c < k; c++) {
      const total = nearest.reduce((a, b) => a + b, 0);
      let u = rng.next() * total;
      let pick = n - 1;
      for (let i = 0; i < n; i++) {
        u -= nearest[i];
        if (u <= 0) {
          pick = i;
          break;
        }
      }
      centroids.set(x.subarray(pick * d, (pick + 1) * d), c * d);
      for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i], squaredDistance(x, i, centroids, c, d));
    }
    const assignment = new Int32Array(n);
    let inertia = 0;
    for (let iteration = 0; iteration < iterations; iteration++) {
      let changed = iteration === 0;
      inertia = 0;
      for (let i = 0; i < n; i++) {
        let bestC = 0;
        let bestD = Number.POSITIVE_INFINITY;
        for (let c = 0; c < k; c++) {
          const dist = squaredDistance(x, i, centroids, c, d);
          if (dist < bestD) {
            bestD = dist;
            bestC = c;
          }
        }
        inertia += bestD;
        if (assignment[i] !== bestC) {
          assignment[i] = bestC;
          changed = true;
        }
      }
      if (!changed) break;
      const counts = new Float64Array(k);
      centroids.fill(0);
      for (let i = 0; i < n; i++) {
        counts[assignment[i]]++;
        for (let j = 0; j < d; j++) centroids[assignment[i] * d + j] += x[i * d + j];
      }
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) centroids[c * d + j] /= Math.max(1, counts[c]);
    }
    if (!best || inertia < best.inertia) best = { assignment, centroids, inertia };
  }
  return { assignment: (best as NonNullable<typeof best>).assignment, centroids: (best as NonNullable<typeof best>).centroids };
}

/**
 * Mean silhouette coefficient (Rousseeuw 1987) of a clustering: per row (b − a)/max(a, b)
 * with a its mean distance to its own cluster and b to the nearest other one; in [−1, 1],
 * high when the clusters are compact and far apart. Over at most `limit` rows (an evenly
 * spaced subset), as the exact score is quadratic in the rows.
 */
export function silhouette(x: Float64Array, n: number, d: number, assignment: Int32Array, k: number, limit = 2000): number {
  const step = Math.max(1, Math.ceil(n / limit));
  const rows = Array.from({ length: Math.ceil(n / step) }, (_, i) => i * step);
  let sum = 0;
  let counted = 0;
  for (const i of rows) {
    const totals = new Float64Array(k);
    const counts = new Float64Array(k);
    for (const j of rows) {
      if (j === i) continue;
      totals[assignment[j]] += Math.sqrt(squaredDistance(x, i, x, j, d));
      counts[assignment[j]]++;
    }
    const own = assignment[i];
    if (counts[own] === 0) continue;
    const a = totals[own] / counts[own];
    let b = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) if (c !== own && counts[c] > 0) b = Math.min(b, totals[c] / counts[c]);
    if (!Number.isFinite(b)) continue;
    sum += (b - a) / Math.max(a, b, 1e-300);
    counted++;
  }
  return counted > 0 ? sum / counted : 0;
}
