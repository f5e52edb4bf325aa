/** Drift monitoring: per-feature KS/chi-square and MMD detectors over a model's view of the data, with prediction drift. */
export {
  compareToReference,
  DEFAULT_ALPHA,
  type DriftComparison,
  type DriftReference,
  type DriftSettings,
  type DriftTest,
  type FeatureSpec,
  type FeatureType,
  type FitOptions,
  fitReference,
  type Observation,
  selectRows,
  subsample,
} from "./detector.js";
export { DRIFT_FORMAT, type DriftDetectorFile, loadDriftDetector, saveDriftDetector } from "./file.js";
export { type MmdResult, medianBandwidth, mmdTest, type Samples } from "./mmd.js";
export { type DriftModel, type DriftModelOptions, modelSha256, observationOf, openDriftModel } from "./model.js";
export { MIN_WINDOW, OnlineDriftMonitor, type OnlineDriftOptions, type WindowCheck, windowDetector } from "./online.js";
export { renderDriftHtml, renderDriftMarkdown, renderDriftSarif } from "./report.js";
export {
  checkDrift,
  type DriftCheckOptions,
  type DriftedExample,
  type DriftFitOptions,
  type DriftReport,
  driftReport,
  type FeatureHistogram,
  fitDrift,
  requireFittedModel,
} from "./run.js";
export { addGaussianNoise, priorShiftRows, rotateImages } from "./shifts.js";
export { chiSquareHomogeneity, chiSquareSurvival, kolmogorovSurvival, ksTwoSample, type TestResult, upperGammaRegularised } from "./statistics.js";
