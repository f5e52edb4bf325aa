/** Ownership of a model: evidence that a suspect model was derived from it. */
export {
  FINGERPRINT_DEFAULTS,
  FINGERPRINT_PAPERS,
  type Fingerprint,
  type FingerprintParams,
  type FingerprintVerdict,
  type MakeFingerprintOptions,
  makeFingerprint,
  nullThreshold,
  poissonBinomialTail,
  verifyFingerprint,
} from "./fingerprint.js";
export { loadFingerprint, parseFingerprint, saveFingerprint } from "./fingerprint-file.js";
export { fingerprintFindings, renderFingerprintHtml, renderFingerprintMarkdown } from "./fingerprint-report.js";
