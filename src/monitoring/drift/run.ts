/**
 * `aegis drift fit | check` as library calls: fit a detector on reference data through the
 * model, check current data against it, and report each drifted feature, embedding or
 * prediction statistic as one Finding, with per-feature histograms (tabular data) and the
 * most drifted examples (images) for the HTML report.
 */
import { basename } from "node:path";
import type { Dataset } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import type { Finding } from "../../report/finding.js";
import { references } from "../../report/taxonomy.js";
import { AEGIS_VERSION } from "../../version.js";
import { compareToReference, type DriftReference, type DriftTest, type FitOptions, fitReference, type Observation } from "./detector.js";
import type { DriftDetectorFile } from "./file.js";
import { type DriftModelOptions, openDriftModel } from "./model.js";

export interface DriftFitOptions extends Omit<FitOptions, "method">, DriftModelOptions {}

export interface FeatureHistogram {
  feature: string;
  type: "continuous" | "categorical";
  /** Category values (categorical) or the bins' lower edges and, last, the upper edge (continuous). */
  bins: number[];
  /** Share of rows per bin; categorical data has one more bin for values the reference never took. */
  reference: number[];
  current: number[];
}

export interface DriftedExample {
  /** Row of the current data. */
  row: number;
  witness: number;
  predicted: number;
  confidence: number;
}

export interface DriftReport {
  kind: "drift";
  aegis: string;
  model: string;
  reference: { data: string; samples: number };
  current: { data: string; samples: number };
  method: "features" | "mmd";
  alpha: number;
  correction: "bonferroni";
  drift: boolean;
  tests: DriftTest[];
  findings: Finding[];
  histograms?: FeatureHistogram[];
  mostDrifted?: DriftedExample[];
  sampleShape: number[];
}

/** Examples shown in reports. */
const SHOWN_EXAMPLES = 8;
const HISTOGRAM_BINS = 20;

export async function fitDrift(modelPath: string, data: Pick<Dataset, "x" | "name">, options: DriftFitOptions = {}): Promise<DriftDetectorFile> {
  const model = await openDriftModel(modelPath, options);
  try {
    const observation = await model.observe(data.x);
    const detector = fitReference(observation, { ...options, method: model.method });
    return {
      model: { file: modelPath, sha256: model.sha256, ...(model.layer ? { layer: model.layer } : {}) },
      fitted: { data: data.name, samples: data.x.shape[0], sampleShape: [...model.sampleShape] },
      detector,
    };
  } finally {
    await model.release();
  }
}

export interface DriftCheckOptions extends DriftModelOptions {
  /** The model file to run (default: the path stored in the detector). */
  model?: string;
  seed?: number;
}

export async function checkDrift(file: DriftDetectorFile, data: Pick<Dataset, "x" | "name">, options: DriftCheckOptions = {}): Promise<DriftReport> {
  const modelPath = options.model ?? file.model.file;
  const model = await openDriftModel(modelPath, { ...options, layer: options.layer ?? file.model.layer });
  let current: Observation;
  try {
    requireFittedModel(file, modelPath, model.sha256, "give the same model with --model");
    current = await model.observe(data.x);
  } finally {
    await model.release();
  }
  return driftReport(file, modelPath, data.name, current, options.seed ?? 0);
}

/** Refuses a model other than the one the detector was fitted with; `remedy` says how to give the right one. */
export function requireFittedModel(file: DriftDetectorFile, modelPath: string, sha256: string, remedy: string): void {
  if (sha256 === file.model.sha256) return;
  throw new AegisError(
    "BAD_MODEL",
    `the detector was fitted with ${basename(file.model.file)} (SHA-256 ${file.model.sha256.slice(0, 12)}…), not ${basename(modelPath)} (${sha256.slice(0, 12)}…); ${remedy}, or fit a detector for this one with aegis drift fit`,
  );
}

/** The report of one check, from the model's view of the current data. */
export function driftReport(file: DriftDetectorFile, modelPath: string, dataName: string, current: Observation, seed = 0): DriftReport {
  const { detector } = file;
  const comparison = compareToReference(detector, current, seed);
  const report: DriftReport = {
    kind: "drift",
    aegis: AEGIS_VERSION,
    model: modelPath,
    reference: { data: file.fitted.data, samples: file.fitted.samples },
    current: { data: dataName, samples: current.values.rows },
    method: detector.method,
    alpha: detector.alpha,
    correction: "bonferroni",
    drift: comparison.drift,
    tests: comparison.tests,
    findings: comparison.tests.filter((t) => t.drifted).map((t) => findingOf(t, dataName, detector)),
    sampleShape: file.fitted.sampleShape,
  };
  if (detector.method === "features") report.histograms = histograms(detector, current);
  if (comparison.mostDrifted)
    report.mostDrifted = comparison.mostDrifted.slice(0, SHOWN_EXAMPLES).map(({ row, witness }) => ({
      row,
      witness,
      predicted: current.predicted[row],
      confidence: current.confidence[row],
    }));
  return report;
}

const p = (v: number) => (v < 1e-4 ? v.toExponential(1) : v.toPrecision(2));
const RECOMMENDATION =
  "Find out what changed upstream (a new data source, a broken pipeline, an attacker steering inputs); if the new data is legitimate, retrain or fine-tune on it with `aegis train`, re-run `aegis audit`, and fit a new detector with `aegis drift fit`.";

function findingOf(t: DriftTest, data: string, detector: DriftReference): Finding {
  const evidence: Record<string, number> = { statistic: t.statistic, p_value: t.pValue, threshold: t.threshold, alpha: detector.alpha };
  if (t.referenceMean !== undefined) evidence.reference_mean = t.referenceMean;
  if (t.currentMean !== undefined) evidence.current_mean = t.currentMean;
  const base = { capability: "drift" as const, evidence, recommendation: RECOMMENDATION, references: references(["ML08", "AML.M0008"]) };
  const means = t.referenceMean !== undefined ? ` The mean moved from ${t.referenceMean.toPrecision(4)} to ${(t.currentMean ?? 0).toPrecision(4)}.` : "";
  const significance = `p = ${p(t.pValue)} is below ${p(t.threshold)}, the level α = ${detector.alpha} Bonferroni-corrected over the check's tests.`;
  if (t.kind === "feature")
    return {
      ...base,
      rule: "AEGIS-DRIFT-FEATURE",
      severity: "medium",
      title: `Feature "${t.name}" drifted (${t.test === "ks" ? "KS D" : "chi-square"} = ${t.statistic.toPrecision(3)}, p = ${p(t.pValue)})`,
      detail: `The distribution of ${t.test === "ks" ? "the continuous" : "the categorical"} feature "${t.name}" in ${data} differs from the reference: ${significance}${means}`,
      location: { file: data, symbol: t.name },
    };
  if (t.kind === "embedding")
    return {
      ...base,
      rule: "AEGIS-DRIFT-EMBEDDING",
      severity: "high",
      title: `Inputs drifted in the model's feature space (MMD² = ${t.statistic.toPrecision(3)}, p = ${p(t.pValue)})`,
      detail: `The model's penultimate features of ${data} are distributed differently from the reference's (maximum mean discrepancy, ${t.permutations} permutations): ${significance} The report shows the examples that differ most.`,
      location: { file: data, section: "embedding" },
    };
  if (t.kind === "labels")
    return {
      ...base,
      rule: "AEGIS-DRIFT-PREDICTIONS",
      severity: "high",
      title: `The predicted classes drifted (chi-square = ${t.statistic.toPrecision(3)}, p = ${p(t.pValue)})`,
      detail: `The model predicts the classes of ${data} in different proportions than on the reference (prior shift, or inputs it now reads differently): ${significance}`,
      location: { file: data, section: "predictions" },
    };
  return {
    ...base,
    rule: "AEGIS-DRIFT-CONFIDENCE",
    severity: "medium",
    title: `The model's confidence drifted (KS D = ${t.statistic.toPrecision(3)}, p = ${p(t.pValue)})`,
    detail: `The top-class probability on ${data} is distributed differently from the reference: ${significance}${means}`,
    location: { file: data, section: "confidence" },
  };
}

function histograms(detector: DriftReference, current: Observation): FeatureHistogram[] {
  const { reference } = detector;
  const dim = reference.values.dim;
  const columnOf = (o: Observation, f: number) => Array.from({ length: o.values.rows }, (_, i) => o.values.data[i * dim + f]);
  return (detector.features ?? []).map((spec, f) => {
    const ref = columnOf(reference, f);
    const cur = columnOf(current, f);
    if (spec.type === "categorical") {
      const categories = spec.categories ?? [];
      const share = (values: number[]) => {
        const bins = new Array<number>(categories.length + 1).fill(0);
        for (const v of values) {
          const i = categories.indexOf(v);
          bins[i === -1 ? categories.length : i] += 1 / values.length;
        }
        return bins;
      };
      return { feature: spec.name, type: "categorical", bins: categories, reference: share(ref), current: share(cur) };
    }
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of [...ref, ...cur]) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const width = hi > lo ? (hi - lo) / HISTOGRAM_BINS : 1;
    const share = (values: number[]) => {
      const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
      for (const v of values) bins[Math.min(HISTOGRAM_BINS - 1, Math.floor((v - lo) / width))] += 1 / values.length;
      return bins;
    };
    const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => lo + i * width);
    return { feature: spec.name, type: "continuous", bins: edges, reference: share(ref), current: share(cur) };
  });
}
