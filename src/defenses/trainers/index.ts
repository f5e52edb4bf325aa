/** Robust trainers (ART's "trainer" family) and the checkpointed epoch loop `aegis harden` runs them in. */
export { type AdversarialTrainingOptions, adversarialTraining, rampedEps } from "./adversarial-training.js";
export { type DistillationOptions, defensiveDistillation, softLabels, temperatureCrossEntropy } from "./distillation.js";
export {
  cyclicLearningRate,
  type FastAdversarialTrainingOptions,
  fastAdversarialTraining,
  type OverfittingCheckOptions,
  overfittingCheck,
} from "./fast-adversarial-training.js";
export { type GaussianAugmentationOptions, gaussianAugmentation } from "./gaussian-augmentation.js";
export {
  type AfterEpoch,
  CHECKPOINT_FILE,
  evaluateRobustness,
  type HardeningEpoch,
  type HardeningOptions,
  type RobustEvaluation,
  runHardening,
} from "./hardening.js";
export { type TradesOptions, trades } from "./trades.js";
