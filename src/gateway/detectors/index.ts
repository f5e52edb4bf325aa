/** Run-time query-stream detectors the gateway runs per client: PRADA, stateful k-NN and the rate of out-of-distribution queries. */
export { squaredDistanceBelow } from "./distance.js";
export {
  createOodRateDetector,
  OOD_RATE_DEFAULTS,
  type OodRateDetector,
  type OodRateObservation,
  type OodRateOptions,
  type OodRateState,
  queriesToAlarm,
} from "./ood-rate.js";
export { createPradaDetector, PRADA_DEFAULTS, type PradaDetector, type PradaObservation, type PradaOptions, type PradaState } from "./prada.js";
export { type ShapiroWilkResult, shapiroWilk, shapiroWilkSorted } from "./shapiro-wilk.js";
export {
  type CalibrateOptions,
  calibrate,
  createStatefulKnnDetector,
  type QueryEncoder,
  STATEFUL_KNN_DEFAULTS,
  STATEFUL_KNN_MIN_CALIBRATION,
  type StatefulKnnDetector,
  type StatefulKnnObservation,
  type StatefulKnnOptions,
  type StatefulKnnState,
} from "./stateful-knn.js";
