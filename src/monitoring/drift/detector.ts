/**
 * Offline drift detection for batch pipelines, in the manner of alibi-detect's KSDrift,
 * ChiSquareDrift and MMDDrift and Evidently's per-feature reports: a detector is fitted on
 * reference data seen through the model, then a batch of current data is tested against it.
 *
 * - Tabular rows (rank-1 samples): one test per input feature, KS for continuous features
 *   and chi-square for categorical ones (at most `maxCategories` distinct integer values
 *   in the reference, or named by the user).
 * - Images and other tensors: MMD on the model's own penultimate features (engine's
 *   feature extractor), so no second model is needed.
 * - Always, prediction drift: the predicted-class distribution (chi-square) and the
 *   confidence, the top-class probability (KS).
 *
 * The tests of one check form one family, corrected by Bonferroni (alibi-detect's
 * default): each test runs at α/T, so the chance that a check on undrifted data reports
 * drift is at most α (measured: README, "Drift monitoring").
 */
import { createRng } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import { medianBandwidth, mmdTest, type Samples } from "./mmd.js";
import { chiSquareHomogeneity, ksTwoSample } from "./statistics.js";

export type FeatureType = "continuous" | "categorical";

/** What the detector sees of a batch: the inputs or the model's features, and the model's predictions. */
export interface Observation {
  /** Tabular: the raw rows [n, F]; otherwise the penultimate features [n, D]. */
  values: Samples;
  /** Predicted class per row. */
  predicted: Int32Array;
  /** Top-class probability per row. */
  confidence: Float64Array;
  classes: number;
}

export interface FeatureSpec {
  name: string;
  type: FeatureType;
  /** Categorical: the values seen in the reference, in order. */
  categories?: number[];
}

export interface DriftSettings {
  /** False-alarm rate of a whole check under no drift (default 0.05). */
  alpha: number;
  method: "features" | "mmd";
  /** Tabular only: one entry per input feature. */
  features?: FeatureSpec[];
  /**
   * MMD only: each feature's reference mean and standard deviation (features are
   * standardised before the kernel), the kernel bandwidth and permutations per test.
   */
  mmd?: { mean: number[]; scale: number[]; sigma: number; permutations: number; maxCurrent: number };
}

/** A fitted detector: its settings and the reference it compares against. */
export interface DriftReference extends DriftSettings {
  reference: Observation;
}

export interface FitOptions {
  alpha?: number;
  method: "features" | "mmd";
  /** Tabular: feature names (default feature_0 …). */
  featureNames?: string[];
  /** Tabular: features to treat as categorical, by name or index; default: integer-valued with at most maxCategories values. */
  categorical?: (string | number)[];
  maxCategories?: number;
  /** MMD: reference rows kept (a seeded random subset; default 1,000). */
  referenceSize?: number;
  /** MMD: permutations of the p-value (default 200). */
  permutations?: number;
  /** MMD: current rows tested (a seeded random subset of larger batches; default 1,000). */
  maxCurrent?: number;
  seed?: number;
}

export const DEFAULT_ALPHA = 0.05;
/** An MMD check runs three tests: the kernel test, predicted classes and confidence. */
const MMD_CHECK_TESTS = 3;

export interface DriftTest {
  /** "feature", "embedding", "labels" or "confidence". */
  kind: "feature" | "embedding" | "labels" | "confidence";
  /** The feature name, or what the test is about. */
  name: string;
  test: "ks" | "chi-square" | "mmd";
  statistic: number;
  pValue: number;
  /** α / number of tests: the test reports drift below it. */
  threshold: number;
  drifted: boolean;
  /** Chi-square degrees of freedom, MMD permutations. */
  dof?: number;
  permutations?: number;
  /** Reference and current means (continuous feature, confidence) for the report. */
  referenceMean?: number;
  currentMean?: number;
}

export interface DriftComparison {
  tests: DriftTest[];
  drift: boolean;
  /** MMD: current rows, most drifted first (witness function), with their witness values. */
  mostDrifted?: { row: number; witness: number }[];
}

/** The observation of some rows, in the order given. */
export function selectRows(o: Observation, rows: readonly number[]): Observation {
  const { dim } = o.values;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    data.set(o.values.data.subarray(r * dim, (r + 1) * dim), i * dim);
  });
  return {
    values: { rows: rows.length, dim, data },
    predicted: Int32Array.from(rows, (r) => o.predicted[r]),
    confidence: Float64Array.from(rows, (r) => o.confidence[r]),
    classes: o.classes,
  };
}

/** A seeded random subset of at most `size` rows (all rows, in order, when there are fewer). */
export function subsample(o: Observation, size: number, seed: number): { observation: Observation; rows: number[] } {
  const all = Array.from({ length: o.values.rows }, (_, i) => i);
  if (o.values.rows <= size) return { observation: o, rows: all };
  const rows = createRng(seed).shuffle(all).slice(0, size);
  return { observation: selectRows(o, rows), rows };
}

function column(o: Observation, f: number): Float64Array {
  const { rows, dim, data } = o.values;
  return Float64Array.from({ length: rows }, (_, i) => data[i * dim + f]);
}

function featureSpecs(reference: Observation, options: FitOptions): FeatureSpec[] {
  const dim = reference.values.dim;
  const names = options.featureNames ?? Array.from({ length: dim }, (_, f) => `feature_${f}`);
  if (names.length !== dim) throw new AegisError("BAD_OPTION", `${names.length} feature names for ${dim} features; give one name per column of x`);
  const forced = new Set<number>();
  for (const c of options.categorical ?? []) {
    const index = typeof c === "number" ? c : names.indexOf(c);
    if (!(index >= 0 && index < dim)) throw new AegisError("BAD_OPTION", `--categorical names "${c}", which is not a feature (features: ${names.join(", ")})`);
    forced.add(index);
  }
  const maxCategories = options.maxCategories ?? 10;
  return names.map((name, f) => {
    const values = [...new Set(column(reference, f))].sort((a, b) => a - b);
    const categorical = forced.has(f) || (values.length <= maxCategories && values.every(Number.isInteger));
    return categorical ? { name, type: "categorical" as const, categories: values } : { name, type: "continuous" as const };
  });
}

/** Fits a detector on a reference observation (the model's view of the reference data). */
export function fitReference(reference: Observation, options: FitOptions): DriftReference {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!(alpha > 0 && alpha < 1)) throw new AegisError("BAD_OPTION", `--alpha must lie between 0 and 1, not ${alpha}`);
  if (reference.values.rows < 10)
    throw new AegisError(
      "BAD_DATA",
      `${reference.values.rows} reference rows are too few to fit a drift detector; give at least 10 (hundreds for a useful test)`,
    );
  const seed = options.seed ?? 0;
  if (options.method === "features") return { alpha, method: "features", features: featureSpecs(reference, options), reference };
  const permutations = options.permutations ?? 200;
  // The smallest p-value a permutation test can give must lie below the corrected level of its test.
  const needed = Math.ceil(MMD_CHECK_TESTS / alpha);
  if (permutations < needed)
    throw new AegisError(
      "BAD_OPTION",
      `--permutations ${permutations} cannot reach p < α/${MMD_CHECK_TESTS} = ${alpha / MMD_CHECK_TESTS}; give at least ${needed}`,
    );
  const kept = subsample(reference, options.referenceSize ?? 1000, seed).observation;
  const { mean, scale } = moments(kept.values);
  const sigma = BANDWIDTH_SCALE * medianBandwidth(standardised(kept.values, mean, scale), createRng(seed + 1));
  return {
    alpha,
    method: "mmd",
    mmd: { mean, scale, sigma, permutations, maxCurrent: options.maxCurrent ?? 1000 },
    // The prediction tests keep the whole reference; only the kernel test needs the subset.
    reference: { ...reference, values: kept.values },
  };
}

/**
 * Half the median distance, chosen on MNIST test digits (5 repeats each): on standardised
 * features it put p at the permutation floor for 15° rotations in 200 digits and σ 0.1 noise
 * in 500 and 1,000, where raw features at the median distance gave p from 0.02 to 0.5 on
 * the noise. σ changes only the power; the permutation test's level does not depend on it.
 */
const BANDWIDTH_SCALE = 0.5;

function moments(x: Samples): { mean: number[]; scale: number[] } {
  const mean = new Array<number>(x.dim).fill(0);
  const scale = new Array<number>(x.dim).fill(0);
  for (let i = 0; i < x.rows; i++) for (let k = 0; k < x.dim; k++) mean[k] += x.data[i * x.dim + k] / x.rows;
  for (let i = 0; i < x.rows; i++) for (let k = 0; k < x.dim; k++) scale[k] += (x.data[i * x.dim + k] - mean[k]) ** 2 / x.rows;
  // A feature constant on the reference (a dead ReLU) keeps its units.
  return { mean, scale: scale.map((v) => Math.sqrt(v) || 1) };
}

function standardised(x: Samples, mean: readonly number[], scale: readonly number[]): Samples {
  return { rows: x.rows, dim: x.dim, data: Float32Array.from(x.data, (v, i) => (v - mean[i % x.dim]) / scale[i % x.dim]) };
}

const sortedAscending = (v: Float64Array) => v.slice().sort();
const mean = (v: Float64Array) => v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);

function counts(values: Float64Array | Int32Array, categories: readonly number[]): Float64Array {
  // One extra bin holds values the reference never took.
  const index = new Map(categories.map((c, i) => [c, i]));
  const out = new Float64Array(categories.length + 1);
  for (const v of values) out[index.get(v) ?? categories.length]++;
  return out;
}

/**
 * Categories expected fewer than 5 times in the current batch (from the reference's shares)
 * pooled into one bin, with the values the reference never took: Cochran's rule, since
 * Pearson's statistic over sparse cells is far from chi-square and alarms too often.
 */
function poolRare(reference: Float64Array, current: Float64Array): [Float64Array, Float64Array] {
  const refTotal = reference.reduce((a, b) => a + b, 0);
  const curTotal = current.reduce((a, b) => a + b, 0);
  const ref: number[] = [];
  const cur: number[] = [];
  let rareRef = 0;
  let rareCur = 0;
  for (let c = 0; c < reference.length; c++) {
    if ((reference[c] * curTotal) / refTotal < 5) {
      rareRef += reference[c];
      rareCur += current[c];
    } else {
      ref.push(reference[c]);
      cur.push(current[c]);
    }
  }
  if (rareRef + rareCur > 0) {
    ref.push(rareRef);
    cur.push(rareCur);
  }
  return [Float64Array.from(ref), Float64Array.from(cur)];
}

/** Tests a current observation against the reference; `seed` drives the MMD permutations and subset. */
export function compareToReference(detector: DriftReference, current: Observation, seed = 0): DriftComparison {
  const { reference } = detector;
  if (current.values.dim !== reference.values.dim)
    throw new AegisError(
      "SHAPE_MISMATCH",
      `the current data has ${current.values.dim} features per row, the reference had ${reference.values.dim}; give data of the same layout`,
    );
  if (current.values.rows < 2) throw new AegisError("BAD_DATA", "a drift check needs at least 2 current rows");
  const tests: Omit<DriftTest, "threshold" | "drifted">[] = [];
  let mostDrifted: DriftComparison["mostDrifted"];
  if (detector.method === "features") {
    (detector.features ?? []).forEach((spec, f) => {
      const ref = column(reference, f);
      const cur = column(current, f);
      if (spec.type === "categorical") {
        const r = chiSquareHomogeneity(...poolRare(counts(ref, spec.categories ?? []), counts(cur, spec.categories ?? [])));
        tests.push({
          kind: "feature",
          name: spec.name,
          test: "chi-square",
          statistic: r.statistic,
          pValue: r.pValue,
          dof: r.dof,
          referenceMean: mean(ref),
          currentMean: mean(cur),
        });
      } else {
        const r = ksTwoSample(sortedAscending(ref), sortedAscending(cur));
        tests.push({
          kind: "feature",
          name: spec.name,
          test: "ks",
          statistic: r.statistic,
          pValue: r.pValue,
          referenceMean: mean(ref),
          currentMean: mean(cur),
        });
      }
    });
  } else {
    const mmd = detector.mmd as NonNullable<DriftSettings["mmd"]>;
    const { observation, rows } = subsample(current, mmd.maxCurrent, seed);
    const r = mmdTest(
      standardised(reference.values, mmd.mean, mmd.scale),
      standardised(observation.values, mmd.mean, mmd.scale),
      mmd.sigma,
      mmd.permutations,
      createRng(seed + 2),
    );
    tests.push({ kind: "embedding", name: "penultimate features", test: "mmd", statistic: r.mmd2, pValue: r.pValue, permutations: r.permutations });
    mostDrifted = Array.from(r.witness, (witness, i) => ({ row: rows[i], witness })).sort((a, b) => b.witness - a.witness);
  }
  const classes = Array.from({ length: Math.max(reference.classes, current.classes) }, (_, c) => c);
  const labels = chiSquareHomogeneity(...poolRare(counts(reference.predicted, classes), counts(current.predicted, classes)));
  tests.push({ kind: "labels", name: "predicted classes", test: "chi-square", statistic: labels.statistic, pValue: labels.pValue, dof: labels.dof });
  const confidence = ksTwoSample(sortedAscending(reference.confidence), sortedAscending(current.confidence));
  tests.push({
    kind: "confidence",
    name: "confidence",
    test: "ks",
    statistic: confidence.statistic,
    pValue: confidence.pValue,
    referenceMean: mean(reference.confidence),
    currentMean: mean(current.confidence),
  });
  const threshold = detector.alpha / tests.length;
  const done = tests.map((t) => ({ ...t, threshold, drifted: t.pValue < threshold }));
  return { tests: done, drift: done.some((t) => t.drifted), mostDrifted };
}
