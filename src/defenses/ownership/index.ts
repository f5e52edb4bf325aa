/** Ownership of a model: showing that a suspect model is a copy of it. */

export {
  FINGERPRINT_DEFAULTS,
  FINGERPRINT_PAPERS,
  type Fingerprint,
  type FingerprintParams,
  type FingerprintVerdict,
  fitMistakeLine,
  type IndependentNull,
  independentNull,
  type LabelledData,
  type MakeFingerprintOptions,
  MISTAKE_FINGERPRINT_PAPER,
  type MistakeLine,
  type MistakeSample,
  makeFingerprint,
  poissonBinomialTail,
  predictionMultiplier,
  verifyFingerprint,
} from "./fingerprint.js";
export { loadFingerprint, parseFingerprint, saveFingerprint } from "./fingerprint-file.js";
export { fingerprintFindings, renderFingerprintHtml, renderFingerprintMarkdown } from "./fingerprint-report.js";
export {
  type EmbedOptions,
  embedWatermark,
  logBinomialUpperTail,
  makeTriggerSet,
  type TriggerOptions,
  type TriggerSet,
  verifyWatermark,
  WATERMARK_DEFAULTS,
  type WatermarkVerification,
} from "./watermark.js";
export {
  ADI_2018,
  encodeWatermarkKey,
  keyTriggers,
  readWatermarkKey,
  saveWatermarkKey,
  type WatermarkKey,
  type WatermarkKeyFields,
} from "./watermark-key.js";
export {
  type ExtractionRemovalOptions,
  type FineTuneOptions,
  fineTuneModel,
  lastLayerInitializers,
  pruneByMagnitude,
  RETRAIN_METHODS,
  type RetrainMethod,
  type RobustnessOptions,
  type RobustnessRow,
  retrainModel,
  stealWithCopycat,
  watermarkRobustness,
} from "./watermark-removal.js";
export { pValueText, renderWatermarkHtml, renderWatermarkMarkdown, type WatermarkTarget, watermarkFindings } from "./watermark-report.js";
