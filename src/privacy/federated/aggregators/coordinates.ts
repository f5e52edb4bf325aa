/** Per-coordinate order statistics shared by the median, the trimmed mean and Bulyan. */
import type { Contribution } from "./types.js";

/**
 * For each coordinate, sorts the clients' values and hands them to `reduce`, which returns
 * that coordinate's aggregate. One column buffer is reused across coordinates.
 */
export function reduceCoordinates(contributions: readonly Contribution[], reduce: (sorted: Float64Array) => number): Float32Array {
  const n = contributions.length;
  const d = contributions[0].delta.length;
  const column = new Float64Array(n);
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < n; k++) column[k] = contributions[k].delta[i];
    column.sort();
    out[i] = reduce(column);
  }
  return out;
}

export function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Mean of sorted[from..to). */
export function meanOfRange(sorted: Float64Array, from: number, to: number): number {
  let sum = 0;
  for (let k = from; k < to; k++) sum += sorted[k];
  return sum / (to - from);
}
