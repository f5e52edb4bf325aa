export { ARCHITECTURES, type Architecture, buildArchitecture } from "./architectures.js";
export * from "./capabilities.js";
export { type EvaluateOptions, type Evaluation, OnnxClassifier, type OnnxClassifierOptions, type Parameter } from "./classifier.js";
export { createFeatureExtractor, type FeatureBatch, type FeatureExtractor, type FeatureExtractorOptions, penultimateValue } from "./features.js";
export { HttpPredictor, type HttpPredictorOptions } from "./http.js";
export { CONTINUOUS_INPUTS, INPUT_KINDS, type InputKind, inputKind, inputKindOfShape, kindText } from "./input-kind.js";
export { describeModel, type InputRole, type ModelDescription, type ModelSummary, summarizeModel } from "./inspect.js";
export { hasOutputGradients, type OutputGradientRequest, type OutputGradientResult, type OutputGradients, outputGradients } from "./jacobian.js";
export { classOutput, crossEntropy, dlrLoss, LOSSES, type Loss, marginLoss } from "./losses.js";
export { adam, type Optimizer, type OptimizerState, sgd, type UpdateGraph } from "./optimizers.js";
export { type PerExampleOptions, type PerExampleResult, perExampleGradients } from "./per-example.js";
export { logSumExp, probabilitiesOf, softmaxRows } from "./probabilities.js";
export { probeShapes } from "./probe.js";
export { type ReinitialiseResult, reinitialise } from "./reinitialise.js";
export { createSession, type Device, type RuntimeOptions, type Session } from "./runtime.js";
export { type EmbeddingSite, findEmbedding, modelAfterEmbedding, openClassifier, TokenClassifier } from "./token-classifier.js";
export {
  type BatchSampler,
  type BatchTransform,
  countCorrect,
  type EpochStats,
  type StepFunction,
  type TrainingData,
  type TrainOptions,
  train,
} from "./trainer.js";
export { type StepBatch, type StepResult, trainingStep } from "./training-step.js";
