export { type ProbabilityNoiseOptions, probabilityNoise } from "./gaussian-noise.js";
export { labelsOnly } from "./labels-only.js";
export { type ReverseSigmoidOptions, reverseSigmoid } from "./reverse-sigmoid.js";
export { rounding } from "./rounding.js";
export { topK } from "./top-k.js";
