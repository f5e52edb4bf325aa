/** Public API of aegis-ml/monitoring: watching a deployed model's data and predictions. */
export * from "./drift/index.js";
