/**
 * The robust outlier test Neural Cleanse uses (Wang et al. 2019, after Hampel 1974): the
 * median absolute deviation scaled by 1.4826 estimates a normal distribution's standard
 * deviation, and a value's anomaly index is its distance below the median in those units.
 * Indices above 2 (Neural Cleanse's cut-off, a > 95% probability of being an outlier)
 * mark the values that are unusually small.
 */
const CONSISTENCY = 1.4826;

export const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** (median − v) / (1.4826·MAD) per value: positive below the median, large for small outliers. */
export function lowAnomalyIndices(values: readonly number[]): Float64Array {
  const m = median(values);
  const mad = CONSISTENCY * median(values.map((v) => Math.abs(v - m)));
  return Float64Array.from(values, (v) => (mad > 0 ? (m - v) / mad : v < m ? Number.POSITIVE_INFINITY : 0));
}
