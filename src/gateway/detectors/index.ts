/** Run-time query-stream detectors the gateway runs per client: PRADA and stateful k-NN. */
export { squaredDistanceBelow } from "./distance.js";
export { createPradaDetector, PRADA_DEFAULTS, type PradaDetector, type PradaObservation, type PradaOptions, type PradaState } from "./prada.js";
export { normalQuantile, type ShapiroWilkResult, shapiroWilk, shapiroWilkSorted } from "./shapiro-wilk.js";
export {
  type CalibrateOptions,
  calibrate,
  createStatefulKnnDetector,
  type QueryEncoder,
  STATEFUL_KNN_DEFAULTS,
  type StatefulKnnDetector,
  type StatefulKnnObservation,
  type StatefulKnnOptions,
  type StatefulKnnState,
} from "./stateful-knn.js";
