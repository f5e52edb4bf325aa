import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { chiSquareHomogeneity, chiSquareSurvival, kolmogorovSurvival, ksTwoSample } from "../../src/monitoring/drift/statistics.js";

/** Written by scripts/make_drift_reference_values.py with SciPy 1.10.1. */
const scipy = JSON.parse(readFileSync(new URL("../../fixtures/drift/scipy-values.json", import.meta.url), "utf8"));

function close(actual: number, expected: number, relative: number, what: string) {
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected) + 1e-300, `${what}: ${actual} vs SciPy ${expected}`);
}

test("Kolmogorov's survival function matches scipy.special.kolmogorov on both of its series", () => {
  for (const [x, q] of scipy.kolmogorov as [number, number][]) close(kolmogorovSurvival(x), q, 1e-10, `Q(${x})`);
  assert.equal(kolmogorovSurvival(0), 1);
  assert.equal(kolmogorovSurvival(-1), 1);
});

test("the chi-square survival function matches scipy.stats.chi2.sf from p = 1 down to 1e-17", () => {
  for (const [x, k, p] of scipy.chi2_sf as [number, number, number][]) close(chiSquareSurvival(x, k), p, 1e-9, `chi2.sf(${x}, ${k})`);
});

test("the two-sample KS test matches scipy.stats.ks_2samp's statistic and asymptotic p-value", () => {
  const { a, b, statistic, pvalue } = scipy.ks_two_sample as { a: number[]; b: number[]; statistic: number; pvalue: number };
  const sorted = (v: number[]) => Float64Array.from(v).sort();
  const result = ksTwoSample(sorted(a), sorted(b));
  close(result.statistic, statistic, 1e-12, "D");
  close(result.pValue, pvalue, 1e-9, "p");
  // Ties are stepped over together: identical samples are no evidence at all.
  assert.deepEqual(ksTwoSample([0, 0, 1, 1], [0, 1]), { statistic: 0, pValue: 1 });
  assert.equal(ksTwoSample([0, 0, 0], [1, 1, 1]).statistic, 1);
});

test("the chi-square homogeneity test matches scipy.stats.chi2_contingency without Yates' correction", () => {
  const { reference, current, statistic, dof, pvalue } = scipy.chi2_homogeneity;
  const result = chiSquareHomogeneity(reference, current);
  close(result.statistic, statistic, 1e-12, "chi2");
  assert.equal(result.dof, dof);
  close(result.pValue, pvalue, 1e-9, "p");
  // A category empty on both sides does not count as a degree of freedom.
  assert.equal(chiSquareHomogeneity([50, 0, 30, 15, 5], [30, 0, 40, 20, 10]).dof, 3);
  assert.equal(chiSquareHomogeneity([10], [20]).pValue, 1);
});
