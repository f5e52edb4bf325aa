/** aegis-ml: the public TypeScript API. Subpaths (aegis-ml/engine, /onnx, /autodiff, /data) hold the rest. */
export { fgsm } from "./attacks/index.js";
export * from "./engine/index.js";
export { AegisError, type ErrorCode, EXIT_CODES } from "./errors.js";
export type { DType, Tensor } from "./tensor.js";
export { float32, tensor } from "./tensor.js";
