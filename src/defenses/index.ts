/** The public API of the defences: trainers, pre- and postprocessors, detectors, certification. */

export {
  abstainRate,
  type Certificate,
  type CertifyOptions,
  certifiedAccuracy,
  certify,
  maximumRadius,
  predictSmoothed,
  SMOOTHING_DEFAULTS,
  type SmoothingOptions,
  sampleUnderNoise,
} from "./certification/randomized-smoothing.js";
export { type DefendedClassifier, type DefendOptions, defend } from "./defended-classifier.js";
export { type CombinedDetector, combinedDetector, conformalPValues, fitCombined } from "./detectors/combined.js";
export {
  type FeatureSqueezingDetector,
  type FeatureSqueezingDetectorOptions,
  featureSqueezingDetector,
  fitFeatureSqueezing,
  MNIST_SQUEEZERS,
  parseSqueezers,
  type Squeezer,
} from "./detectors/feature-squeezing.js";
export {
  type FeatureBank,
  type FeatureSource,
  type FitKnnOodOptions,
  fitKnnOod,
  INPUT_LAYER,
  inputFeatures,
  KNN_OOD_DEFAULTS,
  type KnnOodDetector,
  knnOodDetector,
  kthNearestDistances,
  layerFeatures,
  normalizeRows,
} from "./detectors/knn-ood.js";
export {
  classDistances,
  type FitMahalanobisOptions,
  fitGaussians,
  fitMahalanobis,
  fitMahalanobisEnsemble,
  isMahalanobisEnsemble,
  MAHALANOBIS_ENSEMBLE_DEFAULTS,
  type MahalanobisDetector,
  type MahalanobisDetectorOptions,
  type MahalanobisStatistics,
  mahalanobisDetector,
  pseudoInverseSymmetric,
} from "./detectors/mahalanobis.js";
export {
  type DetectorFile,
  encodeDetector,
  type FittedDetector,
  type LoadedDetector,
  loadDetector,
  loadInputSpaceDetector,
  readDetectorFile,
  saveDetector,
  sha256Of,
} from "./detectors/persistence.js";
export { type FitStripOptions, fitStrip, STRIP_DEFAULTS, type StripDetector, stripDetector, superimpositionEntropy } from "./detectors/strip.js";
export { auroc, flaggedFraction, thresholdAtFpr } from "./detectors/threshold.js";
export { HARDEN_METHODS, type HardenMethod, type HardenResult, type HardenSettings, type HardenWatch, harden } from "./harden.js";
export { ACTIVATION_CLUSTERING_DEFAULTS, type ActivationClusteringOptions, activationClustering } from "./inspection/activation-clustering.js";
export { type InspectionScore, scoreInspection } from "./inspection/evaluate.js";
export { INFLUENCE_DEFAULTS, type InfluenceOptions, influence } from "./inspection/influence.js";
export { DATA_INSPECTIONS, type DataInspectionName, type DataInspectionReport, type InspectDataOptions, inspectData } from "./inspection/inspect-data.js";
export {
  type ClassTrigger,
  flaggedTriggers,
  inspectModel,
  MODEL_INSPECTIONS,
  type ModelInspectionName,
  type ModelInspectionReport,
} from "./inspection/inspect-model.js";
export {
  NEURAL_CLEANSE_DEFAULTS,
  NEURAL_CLEANSE_PAPER,
  type NeuralCleanseOptions,
  type NeuralCleanseResult,
  neuralCleanse,
  type ReversedTrigger,
  smallTriggerOutliers,
} from "./inspection/neural-cleanse.js";
export {
  renderInspectionHtml,
  renderInspectionMarkdown,
  renderInspectionSarif,
  renderModelInspectionHtml,
  renderModelInspectionMarkdown,
  renderModelInspectionSarif,
} from "./inspection/report.js";
export { RONI_DEFAULTS, type RoniOptions, roni } from "./inspection/roni.js";
export { SPECTRAL_SIGNATURES_DEFAULTS, type SpectralSignaturesOptions, spectralSignatures } from "./inspection/spectral-signatures.js";
export type { ClassVerdict, DataInspection } from "./inspection/types.js";
export { type BakeResult, bakePreprocessors, isBakeable } from "./onnx-bake.js";
export * from "./ownership/index.js";
export * from "./postprocessors/index.js";
export * from "./preprocessors/index.js";
export {
  FINE_PRUNING_DEFAULTS,
  FINE_PRUNING_PAPER,
  type FinePruningOptions,
  type FinePruningResult,
  finePruning,
  lastConvolution,
} from "./repairs/fine-pruning.js";
export { REPAIR_METHODS, type RepairMeasure, type RepairMethod, type RepairOptions, type RepairResult, repairBackdoor } from "./repairs/repair.js";
export { RETRAIN_DEFAULTS, RETRAIN_PAPER, type RetrainOptions, type RetrainResult, retrainWithout } from "./repairs/retrain.js";
export { UNLEARNING_DEFAULTS, UNLEARNING_PAPER, type UnlearningOptions, unlearnTriggers } from "./repairs/unlearning.js";
export {
  buildPostprocessors,
  buildPreprocessors,
  type DefenceSidecar,
  type DefenceSpec,
  defenceSpecHelp,
  formatDefenceSpec,
  openDefence,
  parseDefenceSpecs,
  sha256File,
  sidecarPath,
  writeSidecar,
} from "./specs.js";
export * from "./trainers/index.js";
export type { Detector, Postprocessor, Preprocessor } from "./types.js";
